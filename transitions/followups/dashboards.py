"""Case managers' views: the step-down board (members in transition) and the follow-up metrics of a cohort."""

import statistics
from datetime import timedelta

from sqlalchemy import and_, case, func, literal, select, union_all

from transitions.core import audit
from transitions.core.clock import end_of_day, local_today
from transitions.core.db import db
from transitions.core.errors import ValidationFailed
from transitions.core.pagination import after_cursor, decode_cursor, encode_cursor, page_size
from transitions.discharges.models import DISCHARGE_CHECKS, Discharge, DischargeVisit
from transitions.followups.checks import RATE_MEASURES, evaluate
from transitions.followups.facts import DISCHARGE_NEED, Subject, chunks, load_discharge_facts, load_facts
from transitions.followups.models import FollowUp, FollowUpContact
from transitions.followups.sweep import evaluation_cutoff
from transitions.offers.models import DECLINE_REASONS, Attendance, Offer, Placement
from transitions.offers.queries import READMISSION_WINDOW_DAYS, TRANSFER_DAYS
from transitions.policy import discharge_visibility, referral_visibility
from transitions.referrals.models import Referral

# RATE_MEASURES (from the check registry): each rate uses a fixed window (a "7-day rate" is 7 days
# whatever the plan's due days) and its check's rule, so the board and the rates never disagree
# about what counts.
COHORT_CHUNK = 1000
DEFAULT_COHORT_DAYS = 90
# The board's status of a discharge without referral: the member nobody arranged a step-down for.
NO_STEP_DOWN = "no_step_down"


# ---------------------------------------------------------------- the board


def _scope(query, user, filters):
    query = query.where(referral_visibility(user), Referral.status != "cancelled")
    if "payer_id" in filters:
        query = query.where(Referral.payer_id == filters["payer_id"])
    if "organization_id" in filters:
        query = query.where(Referral.organization_id == filters["organization_id"])
    return query


def _discharge_scope(query, user, filters):
    """The discharges without referral (not adopted) this user may see, under the board's filters."""
    query = query.where(discharge_visibility(user), Discharge.adopted_by_referral_id.is_(None))
    for key, column in (("payer_id", Discharge.payer_id), ("organization_id", Discharge.organization_id)):
        if key in filters:
            query = query.where(column == filters[key])
    return query


def _aggregates(cutoff):
    pending = FollowUp.outcome.is_(None)
    return (
        func.min(case((pending, FollowUp.due_at))).label("next_due_at"),
        func.count(case((pending, 1))).label("pending"),
        func.count(case((FollowUp.outcome == "missed", 1))).label("missed"),
        func.count(case((and_(pending, FollowUp.due_at <= cutoff), 1))).label("overdue"),
    )


def _referral_side(user, filters, cutoff):
    # Aggregate only the user's referrals' checks: a plan's members, not the whole table.
    inner = _scope(
        select(FollowUp.referral_id.label("subject_id"), literal("referral").label("kind"), *_aggregates(cutoff)).join(
            Referral, Referral.id == FollowUp.referral_id
        ),
        user,
        filters,
    )
    for key, column in (("status", Referral.status), ("need", Referral.need)):
        if key in filters:
            inner = inner.where(column == filters[key])
    if "discharge_from" in filters:
        inner = inner.where(Referral.discharge_date >= filters["discharge_from"])
    if "discharge_to" in filters:
        inner = inner.where(Referral.discharge_date <= filters["discharge_to"])
    return inner.group_by(FollowUp.referral_id)


def _discharge_side(user, filters, cutoff):
    inner = _discharge_scope(
        select(
            FollowUp.discharge_id.label("subject_id"), literal("discharge").label("kind"), *_aggregates(cutoff)
        ).join(Discharge, Discharge.id == FollowUp.discharge_id),
        user,
        filters,
    )
    if "discharge_from" in filters:
        inner = inner.where(Discharge.discharge_date >= filters["discharge_from"])
    if "discharge_to" in filters:
        inner = inner.where(Discharge.discharge_date <= filters["discharge_to"])
    return inner.group_by(FollowUp.discharge_id)


def stepdowns(user, filters, now):
    """One row per member in transition, most urgent first: each referral (not cancelled) and each discharge without
    referral (not adopted: nobody arranged a step-down) with some check still to come.

    Returns (subjects, details by id, next cursor): each subject a Referral or a Discharge; each listed one's
    disclosure is audited.
    """
    cutoff = evaluation_cutoff(now)
    status = filters.get("status")
    sides = []
    if status != NO_STEP_DOWN:
        sides.append(_referral_side(user, filters, cutoff))
    # A discharge has no need: a need filter, or a referral status, leaves discharges out.
    if (status is None or status == NO_STEP_DOWN) and "need" not in filters:
        sides.append(_discharge_side(user, filters, cutoff))
    if not sides:  # no_step_down with a need: discharges have none, and no referral has that status
        return [], {}, None
    agg = (union_all(*sides) if len(sides) > 1 else sides[0]).subquery()
    query = select(agg.c.subject_id, agg.c.kind, agg.c.next_due_at).where(agg.c.pending > 0)
    for key in ("overdue", "missed"):
        if key in filters:
            column = getattr(agg.c, key)
            query = query.where(column > 0 if filters[key] else column == 0)
    order = [agg.c.next_due_at, agg.c.subject_id]
    if filters.get("cursor"):
        query = query.where(after_cursor(order, decode_cursor(filters["cursor"], order)))
    limit = page_size(filters)
    rows = db.session.execute(query.order_by(*order).limit(limit + 1)).all()
    cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        cursor = encode_cursor([rows[-1].next_due_at, rows[-1].subject_id])
    referral_ids = [row.subject_id for row in rows if row.kind == "referral"]
    discharge_ids = [row.subject_id for row in rows if row.kind == "discharge"]
    loaded = {}
    if referral_ids:
        loaded.update({r.id: r for r in db.session.scalars(select(Referral).where(Referral.id.in_(referral_ids)))})
    if discharge_ids:
        loaded.update({d.id: d for d in db.session.scalars(select(Discharge).where(Discharge.id.in_(discharge_ids)))})
    subjects = [loaded[row.subject_id] for row in rows]
    for subject in subjects:
        audit.record("stepdown.list", subject.__tablename__.rstrip("s"), subject.id, user=user)
    details = _board_details([s for s in subjects if isinstance(s, Referral)], now, cutoff)
    details.update(_discharge_board_details([s for s in subjects if isinstance(s, Discharge)], now, cutoff))
    return subjects, details, cursor


def _board_details(referrals, now, cutoff):
    """Per referral on the page: its checks, placement, last session and last outreach, in four queries."""
    ids = [r.id for r in referrals]
    details = {rid: {"checks": [], "placement": None, "last_attended_on": None, "last_contact_at": None} for rid in ids}
    if not ids:
        return details
    for row in db.session.scalars(
        select(FollowUp).where(FollowUp.referral_id.in_(ids)).order_by(FollowUp.due_at, FollowUp.id)
    ):
        details[row.referral_id]["checks"].append(row)
    for row in db.session.scalars(
        select(Placement).where(Placement.referral_id.in_(ids)).order_by(Placement.created_at, Placement.id)
    ):
        details[row.referral_id]["placement"] = row
    for referral_id, last in db.session.execute(
        select(Placement.referral_id, func.max(Attendance.session_date))
        .join(Placement, Placement.id == Attendance.placement_id)
        .where(Placement.referral_id.in_(ids), Attendance.status == "attended")
        .group_by(Placement.referral_id)
    ):
        details[referral_id]["last_attended_on"] = last
    for referral_id, last in db.session.execute(
        select(FollowUp.referral_id, func.max(FollowUpContact.created_at))
        .join(FollowUp, FollowUp.id == FollowUpContact.followup_id)
        .where(FollowUp.referral_id.in_(ids))
        .group_by(FollowUp.referral_id)
    ):
        details[referral_id]["last_contact_at"] = last
    for referral in referrals:
        _summarize(details[referral.id], local_today(referral.timezone, now) - referral.discharge_date, cutoff)
    return details


def _discharge_board_details(discharges, now, cutoff):
    """Per discharge without referral on the page: its checks, last recorded visit and last outreach."""
    ids = [d.id for d in discharges]
    details = {did: {"checks": [], "placement": None, "last_attended_on": None, "last_contact_at": None} for did in ids}
    if not ids:
        return details
    for row in db.session.scalars(
        select(FollowUp).where(FollowUp.discharge_id.in_(ids)).order_by(FollowUp.due_at, FollowUp.id)
    ):
        details[row.discharge_id]["checks"].append(row)
    for discharge_id, last in db.session.execute(
        select(DischargeVisit.discharge_id, func.max(DischargeVisit.visit_date))
        .where(DischargeVisit.discharge_id.in_(ids))
        .group_by(DischargeVisit.discharge_id)
    ):
        details[discharge_id]["last_attended_on"] = last
    for discharge_id, last in db.session.execute(
        select(FollowUp.discharge_id, func.max(FollowUpContact.created_at))
        .join(FollowUp, FollowUp.id == FollowUpContact.followup_id)
        .where(FollowUp.discharge_id.in_(ids))
        .group_by(FollowUp.discharge_id)
    ):
        details[discharge_id]["last_contact_at"] = last
    for discharge in discharges:
        _summarize(details[discharge.id], local_today(discharge.timezone, now) - discharge.discharge_date, cutoff)
    return details


def _summarize(item, since_discharge, cutoff):
    checks = item["checks"]
    upcoming = [c for c in checks if c.outcome is None]
    item["next_check"] = {"check": upcoming[0].check, "due_date": upcoming[0].due_date} if upcoming else None
    item["overdue_checks"] = [c.check for c in upcoming if c.due_at <= cutoff]
    item["missed_checks"] = [c.check for c in checks if c.outcome == "missed"]
    item["days_since_discharge"] = since_discharge.days


# ---------------------------------------------------------------- metrics


def _rate(numerator, denominator, pending=0):
    return {
        "numerator": numerator,
        "denominator": denominator,
        "rate": round(numerator / denominator, 4) if denominator else None,
        "pending": pending,
    }


def cohort_bounds(filters, today):
    to = filters.get("to") or today
    start = filters.get("from_") or to - timedelta(days=DEFAULT_COHORT_DAYS - 1)
    if start > to:
        raise ValidationFailed({"from": ["from must not be after to."]})
    return start, to


def metrics(user, filters, now):
    """Rates over the referrals discharged between from and to (inclusive) that the user may see.

    Everything is recomputed from recorded facts with the check rules; a referral counts in a
    rate's denominator once that measure's window has closed, and as `pending` before.
    """
    cutoff = evaluation_cutoff(now)
    start, to = cohort_bounds(filters, now.date())
    query = _scope(
        select(Referral.id, Referral.status, Referral.need, Referral.discharge_date, Referral.timezone), user, filters
    ).where(Referral.discharge_date >= start, Referral.discharge_date <= to)
    subjects = [Subject(r.id, r.status, r.need, r.discharge_date, r.timezone) for r in db.session.execute(query)]
    tallies = {measure.name: [0, 0, 0] for measure in RATE_MEASURES}
    readmission = {"numerator": 0, "denominator": 0, "pending": 0, "transfers": 0}
    first_session_days = []
    offers = {"accepted": 0, "declined": 0, "expired": 0, "pending": 0}
    reasons = {reason: 0 for reason in DECLINE_REASONS}
    for chunk in chunks(subjects, COHORT_CHUNK):
        facts = load_facts([s.id for s in chunk])
        for subject in chunk:
            _tally_subject(subject, facts[subject.id], cutoff, tallies, readmission, first_session_days)
        # A pending offer past its expires_at is expired, whether or not a sweep has written it down yet.
        status_now = case((and_(Offer.status == "pending", Offer.expires_at <= now), "expired"), else_=Offer.status)
        for status, reason, count in db.session.execute(
            select(status_now, Offer.decline_reason, func.count())
            .where(Offer.referral_id.in_([s.id for s in chunk]))
            .group_by(status_now, Offer.decline_reason)
        ):
            if status in offers:
                offers[status] += count
            if status == "declined" and reason:
                reasons[reason] = reasons.get(reason, 0) + count
    decided = offers["accepted"] + offers["declined"] + offers["expired"]
    adt_count, adt_tallies = _discharge_tallies(user, filters, start, to, cutoff)
    rates = {}
    for measure in RATE_MEASURES:
        rates[measure.name] = _rate(*tallies[measure.name])
        if measure.check in DISCHARGE_CHECKS:
            # Beside the referral-only figure, the HEDIS one: every discharge the ADT feeds told of.
            both = zip(tallies[measure.name], adt_tallies[measure.name], strict=True)
            with_adt = _rate(*(a + b for a, b in both))
            rates[measure.name].update(
                numerator_with_adt=with_adt["numerator"],
                denominator_with_adt=with_adt["denominator"],
                rate_with_adt=with_adt["rate"],
                pending_with_adt=with_adt["pending"],
            )
    return {
        "from_": start,
        "to": to,
        "as_of": now,
        "referrals": len(subjects),
        "discharges_without_referral": adt_count,
        **rates,
        "median_days_to_first_session": {
            "value": float(statistics.median(first_session_days)) if first_session_days else None,
            "count": len(first_session_days),
        },
        "offer_acceptance": _rate(offers["accepted"], decided, offers["pending"]),
        "decline_reasons": reasons,
        "readmission_30": dict(
            _rate(readmission["numerator"], readmission["denominator"], readmission["pending"]),
            transfers=readmission["transfers"],
        ),
    }


def _discharge_tallies(user, filters, start, to, cutoff):
    """(count, {measure: [met, judged, pending]}) of the discharges without referral the user may see discharged
    start..to, by the same rules; an adopted one counts through its referral, never twice."""
    query = _discharge_scope(select(Discharge.id, Discharge.discharge_date, Discharge.timezone), user, filters).where(
        Discharge.discharge_date >= start, Discharge.discharge_date <= to
    )
    subjects = [
        Subject(d.id, NO_STEP_DOWN, DISCHARGE_NEED, d.discharge_date, d.timezone) for d in db.session.execute(query)
    ]
    tallies = {measure.name: [0, 0, 0] for measure in RATE_MEASURES}
    for chunk in chunks(subjects, COHORT_CHUNK):
        facts = load_discharge_facts([s.id for s in chunk])
        for subject in chunk:
            for measure in RATE_MEASURES:
                if measure.check in DISCHARGE_CHECKS:
                    _tally_measure(measure, subject, facts[subject.id], cutoff, tallies[measure.name])
    return len(subjects), tallies


def _tally_measure(measure, subject, facts, cutoff, tally):
    due_date = subject.discharge_date + timedelta(days=measure.days)
    due_at = end_of_day(due_date, subject.timezone)
    if due_at > cutoff:
        tally[2] += 1
        return
    outcome, _ = evaluate(measure.check, subject, due_date, due_at, facts)
    if outcome == "met":
        tally[0] += 1
        tally[1] += 1
    elif outcome == "missed":
        tally[1] += 1


def _tally_subject(subject, facts, cutoff, tallies, readmission, first_session_days):
    for measure in RATE_MEASURES:
        if measure.applies_to(subject.need):
            _tally_measure(measure, subject, facts, cutoff, tallies[measure.name])
    days = [(r.date - subject.discharge_date).days for r in facts.readmissions]
    if any(0 <= d <= TRANSFER_DAYS for d in days):
        readmission["transfers"] += 1
    if end_of_day(subject.discharge_date + timedelta(days=READMISSION_WINDOW_DAYS), subject.timezone) > cutoff:
        readmission["pending"] += 1
    else:
        readmission["denominator"] += 1
        if any(TRANSFER_DAYS < d <= READMISSION_WINDOW_DAYS for d in days):
            readmission["numerator"] += 1
    after = [s.date for s in facts.attended if s.date >= subject.discharge_date]
    if after:
        first_session_days.append((min(after) - subject.discharge_date).days)
