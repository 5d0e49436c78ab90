"""Discharge-without-referral reads: the audited list and lookup, and each discharge's checks, visits and
readmissions in bulk."""

from sqlalchemy import select

from transitions import policy
from transitions.core import audit
from transitions.core.db import db
from transitions.core.pagination import keyset_page
from transitions.discharges.models import Discharge, DischargeReadmission, DischargeVisit
from transitions.followups.models import FollowUp

# Newest recorded first (a timestamp leads the key, as in every other list: a cursor holds an instant, then an id).
ORDER = [Discharge.created_at, Discharge.id]


def list_query(user, filters):
    query = select(Discharge).where(policy.discharge_visibility(user))
    status = filters.get("status")
    if status == "no_step_down":
        query = query.where(Discharge.adopted_by_referral_id.is_(None))
    elif status == "adopted":
        query = query.where(Discharge.adopted_by_referral_id.is_not(None))
    if "discharge_from" in filters:
        query = query.where(Discharge.discharge_date >= filters["discharge_from"])
    if "discharge_to" in filters:
        query = query.where(Discharge.discharge_date <= filters["discharge_to"])
    if "payer_id" in filters:
        query = query.where(Discharge.payer_id == filters["payer_id"])
    if "organization_id" in filters:
        query = query.where(Discharge.organization_id == filters["organization_id"])
    return query


def list_discharges(user, filters):
    """One keyset page of the discharges this user may see, newest first: (discharges, details by id, next cursor).
    Each listed discharge's disclosure is audited (discharge.list), as a referral list's are."""
    rows, cursor = keyset_page(list_query(user, filters), ORDER, filters, descending=True)
    for row in rows:
        audit.record("discharge.list", "discharge", row.id, user=user)
    return rows, details_of([row.id for row in rows]), cursor


def get_discharge(user, discharge_id):
    """One discharge the user may see (else an audited 404), with its details: (discharge, details)."""
    discharge = policy.get_discharge(user, discharge_id)
    return discharge, details_of([discharge.id])[discharge.id]


def details_of(discharge_ids):
    """discharge id -> {checks, visits, readmissions}, each in date order, in three queries."""
    details = {did: {"checks": [], "visits": [], "readmissions": []} for did in discharge_ids}
    if not details:
        return details
    ids = list(details)
    for row in db.session.scalars(
        select(FollowUp).where(FollowUp.discharge_id.in_(ids)).order_by(FollowUp.due_at, FollowUp.id)
    ):
        details[row.discharge_id]["checks"].append(row)
    for row in db.session.scalars(
        select(DischargeVisit)
        .where(DischargeVisit.discharge_id.in_(ids))
        .order_by(DischargeVisit.visit_date, DischargeVisit.id)
    ):
        details[row.discharge_id]["visits"].append(row)
    for row in db.session.scalars(
        select(DischargeReadmission)
        .where(DischargeReadmission.discharge_id.in_(ids))
        .order_by(DischargeReadmission.admitted_on, DischargeReadmission.id)
    ):
        details[row.discharge_id]["readmissions"].append(row)
    return details


def adopted_by(referral_id):
    """The discharges a referral adopted, oldest first."""
    return db.session.scalars(
        select(Discharge).where(Discharge.adopted_by_referral_id == referral_id).order_by(Discharge.discharge_date)
    ).all()
