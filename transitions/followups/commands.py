"""Follow-up use cases, one function each, called alike by the API and the pages."""

from transitions import policy
from transitions.core.db import db
from transitions.followups import queries
from transitions.followups.models import FollowUpContact
from transitions.notify.events import record_event


def record_contact(actor, followup_id, data, now):
    """Record outreach {note, reached} on a check the actor may see (else an audited 404): (followup, contact)."""
    followup, referral = queries.get_followup(actor, followup_id, "followup.contact")
    policy.CONTACT_FOLLOWUP.require(actor, followup)
    contact = add_contact(actor, followup, referral, data, now)
    return followup, contact


def add_contact(user, followup, referral, data, now):
    """Record a case manager's outreach on a check (of a referral, or of a discharge without referral: `referral`
    None); the note stays out of the event log (it may hold PHI)."""
    contact = FollowUpContact(
        followup_id=followup.id, note=data["note"], reached=data["reached"], recorded_by=user.id, created_at=now
    )
    db.session.add(contact)
    db.session.flush()
    record_event(
        "followup.contacted",
        referral=referral,
        subject=followup,
        actor=user,
        data={
            "followup_id": followup.id,
            "check": followup.check,
            "contact_id": contact.id,
            "reached": bool(data["reached"]),
            **({"discharge_id": followup.discharge_id} if followup.discharge_id else {}),
        },
    )
    return contact
