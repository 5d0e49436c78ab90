"""Follow-up reads: the checks a user may see, one check's audited lookup, and the outreach notes of checks.

The checks and their rules are in checks.py, each referral's plan in plan.py, the sweep in sweep.py.
"""

from sqlalchemy import select

from transitions.core import audit
from transitions.core.db import db
from transitions.core.errors import NotFound
from transitions.core.nul import looks_like_id
from transitions.followups.facts import chunks
from transitions.followups.models import FollowUp, FollowUpContact
from transitions.policy import referral_visibility
from transitions.referrals.models import Referral


def visible_followups(user):
    return select(FollowUp).join(Referral, Referral.id == FollowUp.referral_id).where(referral_visibility(user))


def list_query(user, filters):
    query = visible_followups(user)
    if "referral_id" in filters:
        query = query.where(FollowUp.referral_id == filters["referral_id"])
    if "due_before" in filters:
        query = query.where(FollowUp.due_date <= filters["due_before"])
    if "due_after" in filters:
        query = query.where(FollowUp.due_date >= filters["due_after"])
    if "check" in filters:
        query = query.where(FollowUp.check == filters["check"])
    outcome = filters.get("outcome")
    if outcome == "pending":
        query = query.where(FollowUp.outcome.is_(None))
    elif outcome:
        query = query.where(FollowUp.outcome == outcome)
    return query


def referral_query(referral):
    return select(FollowUp).where(FollowUp.referral_id == referral.id)


def referrals_of(rows):
    """referral id -> Referral of these checks, in one query."""
    ids = {row.referral_id for row in rows}
    if not ids:
        return {}
    return {r.id: r for r in db.session.scalars(select(Referral).where(Referral.id.in_(ids)))}


def get_followup(user, followup_id, action="followup.read"):
    """A check the user may see (through its referral), else 404 and an audited denial."""
    row = None
    if looks_like_id(followup_id):
        row = db.session.execute(
            select(FollowUp, Referral)
            .join(Referral, Referral.id == FollowUp.referral_id)
            .where(FollowUp.id == followup_id, referral_visibility(user))
        ).first()
    if row is None:
        audit.record(action, "followup", str(followup_id)[:64], outcome="denied", user=user)
        raise NotFound("No follow-up check with this id.")
    audit.record(action, "referral", row.Referral.id, user=user)
    return row.FollowUp, row.Referral


def contacts_for(followup_ids):
    """followup id -> its outreach notes, oldest first."""
    by_followup = {fid: [] for fid in followup_ids}
    for chunk in chunks(followup_ids):
        for contact in db.session.scalars(
            select(FollowUpContact)
            .where(FollowUpContact.followup_id.in_(chunk))
            .order_by(FollowUpContact.created_at, FollowUpContact.id)
        ):
            by_followup[contact.followup_id].append(contact)
    return by_followup
