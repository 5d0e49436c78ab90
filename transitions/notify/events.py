"""The event log: every state change and workflow event, written in the same transaction as the change."""

from sqlalchemy import insert

from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.types import new_id
from transitions.notify.models import Event


def event_values(
    event_type,
    *,
    referral_id=None,
    subject_type=None,
    subject_id=None,
    actor=None,
    from_status=None,
    to_status=None,
    data=None,
    created_at=None,
):
    """An events row's columns, filled the one way every writer fills them: record_event, and the jobs that insert
    many events in one statement (offers.batch, followups.sweep)."""
    return {
        "id": new_id(),
        "type": event_type,
        "referral_id": referral_id,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "actor_user_id": actor.id if actor is not None else None,
        "actor_org_id": actor.organization_id if actor is not None else None,
        "from_status": from_status,
        "to_status": to_status,
        "data": data or {},
        "created_at": created_at if created_at is not None else utcnow(),
    }


def record_event(
    event_type,
    *,
    referral=None,
    subject=None,
    actor=None,
    from_status=None,
    to_status=None,
    data=None,
    rows_written=False,
):
    """Append an event; the caller's transaction commits it together with the change it describes.

    Without rows_written the event joins the session and is returned: it may name objects not flushed yet, and the
    next flush writes them first. With it (the rows the event names exist in the database already; changes to them
    may still be pending) the event is one Core INSERT now and None is returned: the unit of work's flush of that
    single object was a tenth of a new referral's work. The INSERT autoflushes the session first, so an event still
    pending from earlier in the transaction keeps the lower seq the timeline and the outbox order by
    (tests/api/test_event_log.py)."""
    values = event_values(
        event_type,
        referral_id=referral.id if referral is not None else None,
        subject_type=subject.__tablename__.rstrip("s") if subject is not None else None,
        subject_id=subject.id if subject is not None else None,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        data=data,
    )
    if rows_written:
        # A list, so an executemany: no RETURNING of the key, which nothing reads.
        db.session.execute(_INSERT, [values])
        return None
    event = Event(**values)
    db.session.add(event)
    return event


_INSERT = insert(Event.__table__)  # built once, its cache key with it
