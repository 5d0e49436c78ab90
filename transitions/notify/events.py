"""The event log: every state change and workflow event, written in the same transaction as the change."""

from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.notify.models import Event


def record_event(event_type, *, referral=None, subject=None, actor=None, from_status=None, to_status=None, data=None):
    """Append an event; the caller's transaction commits it together with the change it describes."""
    event = Event(
        type=event_type,
        referral_id=referral.id if referral is not None else None,
        subject_type=subject.__tablename__.rstrip("s") if subject is not None else None,
        subject_id=subject.id if subject is not None else None,
        actor_user_id=actor.id if actor is not None else None,
        actor_org_id=actor.organization_id if actor is not None else None,
        from_status=from_status,
        to_status=to_status,
        data=data or {},
        created_at=utcnow(),
    )
    db.session.add(event)
    return event
