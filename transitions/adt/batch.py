"""Group commit for the MLLP listener: the frames that arrived together, on any number of connections, stored in one
commit (store_batch), then applied in one transaction and answered after its commit (apply_batch); the listener runs
the two steps in two threads, so one batch is stored while the one before is applied.

The guarantees are the single message's (service.receive): every message is stored and committed before anything is
applied or answered; a repeat of (facility, control id) is the stored row, answered the same, changing nothing; the
stored rows are locked while they are applied (in id order, so two listeners claiming overlapping batches cannot
deadlock on them). A batch is applied first without savepoints; if any message raises, that transaction is rolled
back (nothing of it answered) and the batch applied again with one savepoint a message. Isolation between the
messages of a batch:

- a message the domain refuses (AE/AR) is rolled back to its savepoint and answered as alone;
- a message failing any other way inside its savepoint is rolled back to it and left `received` (no ACK: its
  sender retries, and the retry applies it, as after a crash); the others go on;
- when the batch as a whole fails (the store, the final commit, a lost race that rolled back the transaction, the
  connection), nothing of it is answered from it: every message is run again alone, in its own transactions, through
  the single-message path, so one bad message cannot take the others' answers with it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from transitions.adt import feed, hl7v2, service
from transitions.adt.models import AdtMessage, message_key
from transitions.core.db import db, dialect_name
from transitions.core.types import new_id

log = logging.getLogger(__name__)

CHANNEL = "mllp"


@dataclass
class Item:
    """One frame of a batch: what was read of it, its stored row, and, once done, its ACK (None: no answer)."""

    raw: bytes
    now: datetime
    message: object = None
    header: object = None
    row_id: str | None = None
    key: str | None = None
    ack: str | None = None
    done: bool = False


def store_batch(frames):
    """The first step, committed: every frame stored ([(raw bytes, arrival time)] -> [Item]). What cannot be read is
    finished and answered already (done); the rest waits for apply_batch. If the batch cannot be stored, each frame
    is stored and applied alone instead (done, answered or not)."""
    items = [Item(bytes(raw), now) for raw, now in frames]
    try:
        _store(items)
        db.session.commit()
    except Exception:
        log.exception("ADT batch of %d not stored; storing and applying each alone", len(items))
        _rollback()
        for item in items:
            item.ack, item.done = _alone(item), True
    return items


def apply_batch(items):
    """The second step, committed: the stored items not yet done (of one or several store_batch calls) applied,
    their states written, their ACKs set. First all in one transaction without savepoints (the common case: every
    message applies); if any message raises, that is rolled back and the batch applied again, each message in its
    own savepoint. If the transaction fails, each is applied alone."""
    waiting = [item for item in items if not item.done]
    try:
        try:
            _apply_all(waiting, savepoints=False)
        except _Raised:
            _rollback()
            _apply_all(waiting, savepoints=True)
        db.session.commit()
    except Exception:
        log.exception("ADT batch of %d not applied; applying each alone", len(waiting))
        _rollback()
        for item in waiting:
            item.ack = _alone_stored(item)
    for item in waiting:
        item.done = True


def _rollback():
    try:
        db.session.rollback()
    except Exception:  # the connection is gone; the next use starts afresh
        log.warning("rollback after a failed ADT batch failed", exc_info=True)


# ---------------------------------------------------------------- storing


def _store(items):
    """Every message inserted (ids known, repeats found by key); the unreadable ones finished at once (AR/AE)."""
    plain, keyed = [], []
    for item in items:
        values = {
            "id": new_id(),
            "raw": item.raw,
            "size": len(item.raw),
            "channel": CHANNEL,
            "received_at": item.now,
            "state": "received",
            "attempts": 0,
            "sender_organization_id": None,
            "facility_id": None,
            "control_id": None,
            "message_type": None,
            "trigger": None,
            "version": None,
            "message_key": None,
        }
        try:
            _, item.message, item.header = hl7v2.parse(item.raw)
        except hl7v2.NotHl7 as error:
            refusal = hl7v2.Refusal("AR", None, hl7v2.APPLICATION_ERROR, str(error))
            values.update(_finished(feed.Outcome("rejected", "AR", str(error), None, refusal.error), item.now))
            item.ack, item.done = hl7v2.ack(None, "AR", None, item.now, refusal), True
        except hl7v2.Refusal as refusal:  # bytes we cannot even decode: answered without echoing a thing
            values.update(_finished(service._refused(refusal), item.now))
            item.ack, item.done = hl7v2.ack(None, refusal.ack_code, None, item.now, refusal), True
        else:
            header = item.header
            values.update(
                facility_id=header.facility_id,
                control_id=header.control_id,
                message_type=header.message_type,
                trigger=header.trigger,
                version=header.version,
            )
            if header.facility_id is not None and header.control_id is not None:
                item.key = values["message_key"] = message_key(header.facility_id, header.control_id)
        if item.key is None:
            item.row_id = None if item.done else values["id"]
            plain.append(values)
        else:
            keyed.append(values)
    if plain:
        db.session.execute(insert(AdtMessage.__table__), plain)
    if keyed:
        # A repeat (a retry, the same message to another listener, or twice in this batch) inserts nothing: the
        # stored row is the message. Sorted by key, so two listeners inserting the same keys wait, never deadlock.
        upsert = sqlite_insert if dialect_name() == "sqlite" else postgresql_insert
        statement = upsert(AdtMessage.__table__).on_conflict_do_nothing(index_elements=["message_key"])
        db.session.execute(statement, sorted(keyed, key=lambda values: values["message_key"]))
        keys = sorted({item.key for item in items if item.key is not None})
        stored = dict(
            db.session.execute(
                select(AdtMessage.message_key, AdtMessage.id).where(AdtMessage.message_key.in_(keys))
            ).all()
        )
        for item in items:
            if item.key is not None:
                item.row_id = stored[item.key]


def _finished(outcome, now):
    """The columns service._finish writes, for a message finished as it is stored (no facility to look up)."""
    return {
        "state": outcome.state,
        "ack_code": outcome.ack_code,
        "reason": outcome.reason[:2000] if outcome.reason else None,
        "error_field": outcome.field,
        "error_code": outcome.error[0] if outcome.error else None,
        "processed_at": now,
    }


# ---------------------------------------------------------------- applying


class _Raised(Exception):
    """A message raised while its batch was applied without savepoints: the batch is to be applied again with them."""


# The batch's stored rows, locked in id order; built once, as every batch runs it.
_CLAIM = (
    select(AdtMessage)
    .where(AdtMessage.id.in_(bindparam("ids", expanding=True)))
    .order_by(AdtMessage.id)
    .with_for_update()
    .execution_options(populate_existing=True)
)


def _apply_all(items, savepoints=True):
    """Claim the stored rows (locked, in id order), apply each runnable one once (in its own savepoint, or raising
    _Raised at the first message that raises when savepoints is False), write every message's state in one flush,
    and remember the ACK each is answered with once the transaction commits."""
    if not items:
        return
    for item in items:
        item.ack = None  # set again below once this transaction has applied it
    ids = sorted({item.row_id for item in items})
    rows = {row.id: row for row in db.session.scalars(_CLAIM, {"ids": ids})}
    session = db.session()
    transaction = session.get_transaction()
    applied = {}  # row id -> (the first item of the row, its Outcome, or None when it failed)
    session.info[feed.MEMO] = {}
    try:
        for item in items:
            row = rows[item.row_id]
            if row.state == "received" and row.id not in applied:
                applied[row.id] = (item, _apply_one(item, row) if savepoints else _apply_bare(item, row))
                if session.get_transaction() is not transaction or not transaction.is_active:
                    raise RuntimeError("an ADT message's handling ended the batch's transaction")
        for row_id, (item, outcome) in applied.items():
            if outcome is not None:
                row = rows[row_id]
                row.attempts = (row.attempts or 0) + 1
                service._finish(row, outcome, item.now, flush=False)
    finally:
        session.info.pop(feed.MEMO, None)
    db.session.flush()
    for item in items:
        if item.row_id in applied and applied[item.row_id][1] is None:
            continue  # failed: no ACK, its sender retries (the row stays received)
        item.ack = service.stored_ack(rows[item.row_id], item.message, item.header, item.now)


def _apply_one(item, row):
    """Apply one message in its savepoint: its Outcome, or None when it failed unexpectedly (rolled back)."""
    try:
        return service.applied_in_savepoint(item.message, item.header, item.now, row.id)
    except Exception:
        log.exception("ADT message %s not applied; left received, unanswered (its retry applies it)", row.id)
        return None


def _apply_bare(item, row):
    """Apply one message with no savepoint of its own: its Outcome; _Raised if it raises anything (refused too)."""
    try:
        return service._apply(item.message, item.header, item.now, None, row.id)
    except Exception as error:
        raise _Raised() from error


# ---------------------------------------------------------------- one at a time, after a batch failed


def _alone(item):
    try:
        answer = service.receive(item.raw, CHANNEL, item.now)
        return answer.ack
    except Exception:
        log.exception("ADT message not stored or not applied; closing its connection unanswered")
        _rollback()
        return None


def _alone_stored(item):
    """A stored message of a failed batch applied alone (its row exists; a repeat is answered as stored)."""
    try:
        answer = service._apply_stored(item.row_id, item.message, item.header, item.now)
        return answer.ack
    except Exception:
        log.exception("ADT message %s not applied; closing its connection unanswered", item.row_id)
        _rollback()
        return None
