"""The seat ledger: the referral lock every offer and placement change takes first, and seat counter updates."""

from sqlalchemy import bindparam, select, update

from transitions.core.db import db
from transitions.core.errors import Conflict
from transitions.directory.models import Track
from transitions.referrals.models import Referral


class NoSeat(Conflict):
    """The conditional UPDATE found no open seat on the track."""


def lock_referral(referral_id, skip_locked=False):
    """Lock a referral row until the transaction ends and return it freshly loaded (None if skipped or absent).

    Every offer and placement change takes this lock first, so changes to one referral are
    serialized and track rows are only locked after it. FOR NO KEY UPDATE leaves foreign-key
    checks of concurrent event inserts unblocked. SQLite ignores it: BEGIN IMMEDIATE already
    serializes writers there.
    """
    query = (
        select(Referral)
        .where(Referral.id == referral_id)
        .with_for_update(key_share=True, skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    )
    return db.session.scalars(query).one_or_none()


def lock_referrals(referral_ids):
    """Lock many referrals in id order (the order every batch takes them, so two batches cannot deadlock) and return
    {id: referral}, freshly loaded; ids that do not exist are left out."""
    query = (
        select(Referral)
        .where(Referral.id.in_(sorted(set(referral_ids))))
        .order_by(Referral.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return {referral.id: referral for referral in db.session.scalars(query)}


def lock_tracks(track_ids):
    """Lock tracks in id order (apply_seat_changes' order) and return {id: (capacity, occupied, held)} as committed."""
    rows = db.session.execute(
        select(Track.id, Track.capacity, Track.occupied, Track.held)
        .where(Track.id.in_(sorted(set(track_ids))))
        .order_by(Track.id)
        .with_for_update(key_share=True)
    )
    return {row.id: (row.capacity, row.occupied, row.held) for row in rows}


def add_seat_change(changes, track_id, held=0, occupied=0):
    """Add to the pending {track_id: [held delta, occupied delta]} that apply_seat_changes writes."""
    entry = changes.setdefault(track_id, [0, 0])
    entry[0] += held
    entry[1] += occupied


def apply_seat_changes(changes, hold=None):
    """Apply {track_id: [held delta, occupied delta]} in track-id order; `hold` gains one held seat if it has room.

    Sorted order keeps two transactions that touch the same tracks from deadlocking. The
    hold is one conditional UPDATE, so the database decides the last seat; raises NoSeat.
    """
    track_ids = set(changes)
    if hold is not None:
        track_ids.add(hold)
    for track_id in sorted(track_ids):
        held, occupied = changes.get(track_id, (0, 0))
        statement = update(Track).where(Track.id == track_id)
        if track_id == hold:
            statement = statement.where(Track.occupied + occupied + Track.held + held < Track.capacity)
            held += 1
        elif not held and not occupied:
            continue
        result = db.session.execute(
            statement.values(held=Track.held + held, occupied=Track.occupied + occupied).execution_options(
                synchronize_session=False
            )
        )
        if track_id == hold and result.rowcount != 1:
            raise NoSeat("No open seat on this track.", extra={"track_id": track_id})
    _expire_loaded_tracks()


def add_seats_in_bulk(changes):
    """Apply {track_id: [held delta, occupied delta]} to tracks the caller has locked (lock_tracks) and checked:
    one executemany, sorted like apply_seat_changes; the capacity condition stays as a last guard."""
    rows = [
        {"track": track_id, "held_delta": held, "occupied_delta": occupied}
        for track_id, (held, occupied) in sorted(changes.items())
        if held or occupied
    ]
    if rows:
        statement = (
            update(Track)
            .where(
                Track.id == bindparam("track"),
                Track.occupied + bindparam("occupied_delta") + Track.held + bindparam("held_delta") <= Track.capacity,
            )
            .values(held=Track.held + bindparam("held_delta"), occupied=Track.occupied + bindparam("occupied_delta"))
            .execution_options(synchronize_session=False)
        )
        result = db.session.connection().execute(statement, rows)
        if result.rowcount != len(rows):
            # Cannot happen under the track locks; if it does, nothing of the batch may stand.
            raise NoSeat("No open seat on this track.", extra={"track_id": None})
    _expire_loaded_tracks()


def _expire_loaded_tracks():
    """Counters were changed by SQL UPDATEs; make loaded Track objects re-read them."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Track):
            db.session.expire(obj)
