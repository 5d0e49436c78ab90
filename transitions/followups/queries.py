"""Follow-up reads: the audited lists of checks (a user's, a referral's), one check's audited lookup, the outreach
notes of checks, and the audited metrics read.

The checks and their rules are in checks.py, each referral's plan in plan.py, the sweep in sweep.py, the board and
the metrics' arithmetic in dashboards.py.
"""

from sqlalchemy import and_, or_, select

from transitions import policy
from transitions.core import audit
from transitions.core.db import db
from transitions.core.errors import NotFound
from transitions.core.nul import looks_like_id
from transitions.core.pagination import keyset_page
from transitions.discharges.models import Discharge
from transitions.followups import dashboards
from transitions.followups.facts import chunks
from transitions.followups.models import FollowUp, FollowUpContact
from transitions.referrals.models import Referral

# Every list of checks comes in due order.
DUE_ORDER = [FollowUp.due_at, FollowUp.id]


def visible_followups(user):
    """The checks this user may see: a referral's through the referral's scoping, a discharge without referral's
    through the discharge's (a case manager's worklist holds the members nobody referred too)."""
    return (
        select(FollowUp)
        .outerjoin(Referral, Referral.id == FollowUp.referral_id)
        .outerjoin(Discharge, Discharge.id == FollowUp.discharge_id)
        .where(
            or_(
                and_(FollowUp.referral_id.is_not(None), policy.referral_visibility(user)),
                and_(FollowUp.discharge_id.is_not(None), policy.discharge_visibility(user)),
            )
        )
    )


def list_query(user, filters):
    query = visible_followups(user)
    if "referral_id" in filters:
        query = query.where(FollowUp.referral_id == filters["referral_id"])
    if "discharge_id" in filters:
        query = query.where(FollowUp.discharge_id == filters["discharge_id"])
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


def list_followups(user, filters):
    """One keyset page of the checks of every referral and discharge without referral this user may see, in due
    order: (checks, their referrals by id, next cursor). Each referral or discharge whose checks are listed is audited
    once (followup.list)."""
    rows, cursor = keyset_page(list_query(user, filters), DUE_ORDER, filters)
    referrals = referrals_of(rows)
    for referral_id in referrals:
        audit.record("followup.list", "referral", referral_id, user=user)
    for discharge_id in sorted({row.discharge_id for row in rows if row.discharge_id is not None}):
        audit.record("followup.list", "discharge", discharge_id, user=user)
    return rows, referrals, cursor


def referral_followups(user, referral_id, filters):
    """One keyset page of one referral's checks, in due order: (checks, {its id: the referral}, next cursor). Reading
    them is audited (followup.list); a referral the user may not see is an audited 404."""
    referral = policy.get_referral(user, referral_id, "followup.list")
    rows, cursor = keyset_page(referral_query(referral), DUE_ORDER, filters)
    return rows, {referral.id: referral}, cursor


def referrals_of(rows):
    """referral id -> Referral of these checks, in one query."""
    ids = {row.referral_id for row in rows if row.referral_id is not None}
    if not ids:
        return {}
    return {r.id: r for r in db.session.scalars(select(Referral).where(Referral.id.in_(ids)))}


def get_followup(user, followup_id, action="followup.read"):
    """A check the user may see (through its referral, or its discharge without referral), else 404 and an audited
    denial: (check, its Referral or None for a discharge's check)."""
    row = None
    if looks_like_id(followup_id):
        row = db.session.execute(
            visible_followups(user).add_columns(Referral).where(FollowUp.id == followup_id)
        ).first()
    if row is None:
        audit.record(action, "followup", str(followup_id)[:64], outcome="denied", user=user)
        raise NotFound("No follow-up check with this id.")
    if row.Referral is None:
        audit.record(action, "discharge", row.FollowUp.discharge_id, user=user)
    else:
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


def metrics(user, filters, now, cohorts=()):
    """The follow-up metrics of the referrals this user may see discharged from..to (GET /metrics' filters), and
    of each (first, last, label) cohort: (metrics, [{label, from, to, metrics}]). Audited as one metrics read."""
    overall = dashboards.metrics(user, filters, now)
    series = [
        {
            "label": label,
            "from": first,
            "to": last,
            "metrics": dashboards.metrics(user, dict(filters, from_=first, to=last), now),
        }
        for first, last, label in cohorts
    ]
    audit.record("metrics.read", "metrics", None, user=user)
    return overall, series
