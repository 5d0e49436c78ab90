"""Follow-up checks of the readjustment period: each referral's plan, evaluation from recorded facts, the sweep.

A check is a row in `followups`, due at the end of its due day in the patient's time zone. The
scheduler's sweep claims due rows in batches (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's
BEGIN IMMEDIATE serializes writers), judges each from the facts recorded by then, stores the outcome
and evidence, and writes `followup.missed` for a miss, all in the batch's one transaction: a
crash rolls the batch back whole, and a second scheduler never sees a claimed row.
"""
import json
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import String, any_, bindparam, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from transitions.core import audit
from transitions.core.clock import utcnow
from transitions.core.db import db, dialect_name
from transitions.core.errors import NotFound
from transitions.core.types import UTCDateTime, new_id
from transitions.directory.models import SERVICES
from transitions.followups.models import FollowUp, FollowUpContact
from transitions.notify.events import record_event
from transitions.notify.models import Event
from transitions.offers.models import Attendance, Offer, Placement, Readmission
from transitions.policy import referral_visibility
from transitions.referrals.models import Referral

CHECKS = ("intake_scheduled", "followup_7", "initiation_14", "followup_30", "engagement_34", "outcome_90",
          "outcome_180")
OUTCOMES = ("met", "missed", "not_applicable")
SUD_NEEDS = ("substance_use", "co_occurring")
# CMS psychiatric readmission measure: back in hospital on days 0-2 is a transfer, not a readmission.
TRANSFER_LAST_DAY = 2
# HEDIS IET: engagement needs initiation within 14 days, whatever the plan's day for initiation_14.
INITIATION_DAYS = 14
# Some IN () lists go to SQLite, whose default bound-parameter limit was 999 before 3.32.
CHUNK = 900


class PlanError(ValueError):
    """FOLLOWUP_PLAN is not a plan this code can run."""


@dataclass(frozen=True)
class PlannedCheck:
    check: str
    due_days: int
    needs: tuple | None

    def applies_to(self, need):
        return self.needs is None or need in self.needs


def plan_config(config=None):
    """The configured plan, validated, in due order."""
    return _parse_plan(_freeze((config or current_app.config)["FOLLOWUP_PLAN"]))


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted(((str(key), _freeze(item)) for key, item in value.items()), key=lambda kv: kv[0]))
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


@lru_cache(maxsize=16)
def _parse_plan(frozen):
    if not isinstance(frozen, tuple) or not frozen:
        raise PlanError("FOLLOWUP_PLAN must be a non-empty mapping of check name to {due_days, needs?}.")
    planned = []
    for name, spec in frozen:
        if name not in CHECKS:
            raise PlanError("FOLLOWUP_PLAN: unknown check %r (known: %s)." % (name, ", ".join(CHECKS)))
        try:
            spec = dict(spec) if isinstance(spec, tuple) else {"due_days": spec}
        except (TypeError, ValueError):
            raise PlanError("FOLLOWUP_PLAN: %s must be {due_days, needs?} or a number of days." % name) from None
        due_days, needs = spec.get("due_days"), spec.get("needs")
        if isinstance(due_days, bool) or not isinstance(due_days, int) or not 0 <= due_days <= 730:
            raise PlanError("FOLLOWUP_PLAN: %s needs due_days, a whole number of days from 0 to 730." % name)
        if needs is not None and (not needs or any(need not in SERVICES for need in needs)):
            raise PlanError("FOLLOWUP_PLAN: %s has needs outside %s." % (name, ", ".join(SERVICES)))
        unknown = set(spec) - {"due_days", "needs"}
        if unknown:
            raise PlanError("FOLLOWUP_PLAN: %s has unknown keys %s." % (name, ", ".join(sorted(unknown))))
        planned.append(PlannedCheck(name, due_days, tuple(needs) if needs is not None else None))
    return tuple(sorted(planned, key=lambda p: (p.due_days, CHECKS.index(p.check))))


def _zone(name):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


@lru_cache(maxsize=8192)
def end_of_day(day, zone_name):
    """The instant a local day ends (next local midnight), in UTC: when a check's window closes."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=_zone(zone_name)).astimezone(timezone.utc)


def evaluation_cutoff(now):
    """Checks whose window closed at or before this instant are due for evaluation."""
    return now - timedelta(hours=current_app.config["FOLLOWUP_GRACE_HOURS"])


def target_plan(referral):
    """check -> due date for this referral under the configured plan."""
    return {p.check: referral.discharge_date + timedelta(days=p.due_days)
            for p in plan_config() if p.applies_to(referral.need)}


# ---------------------------------------------------------------- writing and moving plans


def plan_referral(referral):
    """Write the plan of a newly submitted referral, in the submitting transaction."""
    now = utcnow()
    rows = [FollowUp(referral_id=referral.id, check=check, due_date=due_date,
                     due_at=end_of_day(due_date, referral.timezone), created_at=now)
            for check, due_date in target_plan(referral).items()]
    db.session.add_all(rows)
    return rows


def write_plans(referrals):
    """Write the plans of many referrals at once (imports, backfills, the benchmark), by plan_referral's rules.

    One INSERT per call. On PostgreSQL the columns travel as four delimited strings unnested by the
    server, and the ids come from gen_random_uuid(): per-row Python and parameter adaptation would
    cost more than the insert itself. The referrals need only id, need, discharge_date and
    timezone. Does not commit.
    """
    plan, now = plan_config(), utcnow()
    planned = [(referral, p.check, referral.discharge_date + timedelta(days=p.due_days))
               for referral in referrals for p in plan if p.applies_to(referral.need)]
    if not planned:
        return 0
    if dialect_name() != "postgresql":
        db.session.execute(insert(FollowUp), [
            {"id": new_id(), "referral_id": referral.id, "check": check, "due_date": due_date,
             "due_at": end_of_day(due_date, referral.timezone), "created_at": now}
            for referral, check, due_date in planned])
        return len(planned)
    db.session.execute(text(
        'INSERT INTO followups (id, referral_id, "check", due_date, due_at, created_at) '
        'SELECT gen_random_uuid()::text, u.referral_id, u."check", u.due_date, u.due_at, :now FROM unnest('
        "string_to_array(:referrals, ','), string_to_array(:checks, ','), "
        "CAST(string_to_array(:dates, ',') AS date[]), CAST(string_to_array(:dues, ',') AS timestamp[])) "
        'AS u(referral_id, "check", due_date, due_at)'
    ).bindparams(bindparam("now", type_=UTCDateTime())), {
        "referrals": ",".join(referral.id for referral, _, _ in planned),
        "checks": ",".join(check for _, check, _ in planned),
        "dates": ",".join(due_date.isoformat() for _, _, due_date in planned),
        # UTCDateTime columns hold naive UTC.
        "dues": ",".join(end_of_day(due_date, referral.timezone).replace(tzinfo=None).isoformat(" ")
                         for referral, _, due_date in planned),
        "now": now})
    return len(planned)


def replan_referral(referral):
    """Move the plan after an edit (discharge date, time zone or need); a moved check is judged afresh."""
    if referral.status == "cancelled":
        return 0
    target = target_plan(referral)
    # Lock the plan so a sweep evaluating one of these rows right now finishes first.
    existing = {row.check: row for row in db.session.scalars(
        select(FollowUp).where(FollowUp.referral_id == referral.id).with_for_update())}
    now, changed = utcnow(), 0
    for check, row in existing.items():
        if check not in target and row.outcome is None:
            # Kept, not deleted: outreach notes may hang off it.
            _close(row, now, {"reason": "not_in_plan"})
            changed += 1
    for check, due_date in target.items():
        due_at = end_of_day(due_date, referral.timezone)
        row = existing.get(check)
        if row is None:
            db.session.add(FollowUp(referral_id=referral.id, check=check, due_date=due_date, due_at=due_at,
                                    created_at=now))
            changed += 1
        elif row.due_date != due_date or row.due_at != due_at or (
                row.outcome == "not_applicable" and (row.evidence or {}).get("reason") == "not_in_plan"):
            row.due_date, row.due_at = due_date, due_at
            row.outcome = row.evaluated_at = row.evidence = None
            changed += 1
    return changed


def _close(row, now, evidence):
    row.outcome, row.evaluated_at, row.evidence = "not_applicable", now, evidence


def close_pending(referral, reason="referral_cancelled"):
    """A cancelled referral's pending checks become not_applicable (the evaluated ones keep their outcome)."""
    result = db.session.execute(
        update(FollowUp)
        .where(FollowUp.referral_id == referral.id, FollowUp.outcome.is_(None))
        .values(outcome="not_applicable", evaluated_at=utcnow(), evidence={"reason": reason})
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


# ---------------------------------------------------------------- facts and rules


AcceptedOffer = namedtuple("AcceptedOffer", "id intake_date accepted_at")
PlacementFact = namedtuple("PlacementFact", "id intake_date status outcome discharged_at")
Session = namedtuple("Session", "id date")
ReadmissionFact = namedtuple("ReadmissionFact", "id date")
Subject = namedtuple("Subject", "id status need discharge_date timezone")


@dataclass
class Facts:
    """What was recorded about one referral: the inputs of every rule, loaded in bulk."""

    accepted_offers: list = field(default_factory=list)
    placements: list = field(default_factory=list)
    attended: list = field(default_factory=list)
    readmissions: list = field(default_factory=list)


def _chunks(values, size=CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _among(column, values):
    """column IN values; on PostgreSQL one array parameter (= ANY), so the statement text stays short and cached."""
    if dialect_name() == "postgresql":
        return column == any_(literal(list(values), ARRAY(String)))
    return column.in_(list(values))


def load_facts(referral_ids):
    """Accepted offers, placements, attended sessions and readmissions of these referrals: four queries a chunk."""
    facts = {rid: Facts() for rid in referral_ids}
    for chunk in _chunks(facts):
        for row in db.session.execute(
                select(Offer.referral_id, Offer.id, Offer.intake_date, Offer.decided_at, Offer.created_at)
                .where(_among(Offer.referral_id, chunk), Offer.status == "accepted")):
            facts[row.referral_id].accepted_offers.append(
                AcceptedOffer(row.id, row.intake_date, row.decided_at or row.created_at))
        for row in db.session.execute(
                select(Placement.referral_id, Placement.id, Placement.intake_date, Placement.status,
                       Placement.outcome, Placement.discharged_at).where(_among(Placement.referral_id, chunk))):
            facts[row.referral_id].placements.append(
                PlacementFact(row.id, row.intake_date, row.status, row.outcome, row.discharged_at))
        for row in db.session.execute(
                select(Placement.referral_id, Attendance.id, Attendance.session_date)
                .join(Placement, Placement.id == Attendance.placement_id)
                .where(_among(Placement.referral_id, chunk), Attendance.status == "attended")):
            facts[row.referral_id].attended.append(Session(row.id, row.session_date))
        for row in db.session.execute(
                select(Readmission.referral_id, Readmission.id, Readmission.admitted_on)
                .where(_among(Readmission.referral_id, chunk))):
            facts[row.referral_id].readmissions.append(ReadmissionFact(row.id, row.admitted_on))
    for item in facts.values():
        item.attended.sort(key=lambda s: (s.date, s.id))
        item.readmissions.sort(key=lambda r: (r.date, r.id))
        item.accepted_offers.sort(key=lambda o: (o.accepted_at, o.id))
    return facts


def _iso(value):
    return value.isoformat() if value is not None else None


def _session(subject, session):
    return {"attendance_id": session.id, "date": session.date.isoformat(),
            "day": (session.date - subject.discharge_date).days}


def _readmission(subject, readmission):
    return {"readmission_id": readmission.id, "date": readmission.date.isoformat(),
            "day": (readmission.date - subject.discharge_date).days}


def _sessions_between(subject, facts, first_day, last_day):
    return [s for s in facts.attended if first_day <= (s.date - subject.discharge_date).days <= last_day]


def _readmissions_between(subject, facts, first_day, last_day):
    return [r for r in facts.readmissions if first_day <= (r.date - subject.discharge_date).days <= last_day]


def evaluate(check, subject, due_date, due_at, facts, active_days=30):
    """Judge one check from the facts: (outcome, evidence). Pure, so metrics reuse it unchanged.

    Day 0 is the discharge day; like HEDIS FUH, it never counts as follow-up. The window of a
    check runs from day 1 to its due date; facts dated after the window are ignored, and an offer
    counts only if it was accepted before the window closed.
    """
    last_day = (due_date - subject.discharge_date).days
    window = {"from": _iso(subject.discharge_date + timedelta(days=1)), "to": _iso(due_date)}
    if subject.status == "cancelled":
        return "not_applicable", {"reason": "referral_cancelled"}
    if check in ("initiation_14", "engagement_34") and subject.need not in SUD_NEEDS:
        return "not_applicable", {"reason": "not_applicable_to_need"}

    if check == "intake_scheduled":
        for offer in facts.accepted_offers:
            if offer.intake_date is not None and offer.accepted_at < due_at:
                return "met", {"reason": "intake_scheduled", "offer_id": offer.id,
                               "intake_date": _iso(offer.intake_date),
                               "accepted_at": offer.accepted_at.astimezone(timezone.utc).isoformat()}
        return "missed", {"reason": "no_accepted_offer_with_intake_date", "window": window}

    if check in ("followup_7", "initiation_14"):
        sessions = _sessions_between(subject, facts, 1, last_day)
        if sessions:
            return "met", {"reason": "attended", "window": window, "session": _session(subject, sessions[0])}
        return "missed", {"reason": "no_attended_session", "window": window}

    if check == "followup_30":
        readmitted = _readmissions_between(subject, facts, TRANSFER_LAST_DAY + 1, last_day)
        if readmitted:
            return "missed", {"reason": "readmitted", "window": window,
                              "readmission": _readmission(subject, readmitted[0])}
        sessions = _sessions_between(subject, facts, 1, last_day)
        if sessions:
            return "met", {"reason": "attended", "window": window, "session": _session(subject, sessions[0])}
        return "missed", {"reason": "no_attended_session", "window": window}

    if check == "engagement_34":
        initiation = _sessions_between(subject, facts, 1, min(INITIATION_DAYS, last_day))
        if not initiation:
            return "missed", {"reason": "not_initiated", "window": window}
        first = initiation[0]
        more = [s for s in _sessions_between(subject, facts, 1, last_day) if s.date > first.date]
        if len(more) >= 2:
            return "met", {"reason": "engaged", "window": window,
                           "sessions": [_session(subject, s) for s in (first, *more[:2])]}
        return "missed", {"reason": "fewer_than_two_more_sessions", "window": window,
                          "sessions": [_session(subject, s) for s in (first, *more)]}

    if check in ("outcome_90", "outcome_180"):
        readmitted = _readmissions_between(subject, facts, TRANSFER_LAST_DAY + 1, last_day)
        if readmitted:
            return "missed", {"reason": "readmitted", "window": window,
                              "readmission": _readmission(subject, readmitted[0])}
        if not facts.placements:
            return "missed", {"reason": "never_placed", "window": window}
        reason, evidence = "missed", None
        for placement in sorted(facts.placements, key=lambda p: (p.intake_date, p.id)):
            outcome, found = _placement_state(subject, placement, facts, due_date, due_at, active_days)
            if outcome == "met":
                return "met", dict(found, window=window)
            evidence = found
        return reason, dict(evidence, window=window)

    raise PlanError("No rule for check %r." % check)


def _placement_state(subject, placement, facts, due_date, due_at, active_days):
    base = {"placement_id": placement.id}
    if placement.discharged_at is not None and placement.discharged_at < due_at:
        # Transferred from the IOP to another level of care is still care.
        if placement.outcome in ("completed", "transferred"):
            return "met", dict(base, reason="discharged_" + placement.outcome)
        return "missed", dict(base, reason="discharged_" + (placement.outcome or "unknown"))
    recent_from = (due_date - timedelta(days=active_days - 1) - subject.discharge_date).days
    recent = _sessions_between(subject, facts, max(0, recent_from), (due_date - subject.discharge_date).days)
    if recent:
        return "met", dict(base, reason="attending", session=_session(subject, recent[-1]))
    return "missed", dict(base, reason="no_recent_attendance", active_days=active_days)


# ---------------------------------------------------------------- the sweep


@dataclass
class SweepCounts:
    evaluated: int = 0
    met: int = 0
    missed: int = 0
    not_applicable: int = 0
    batches: int = 0

    def add(self, outcome):
        self.evaluated += 1
        setattr(self, outcome, getattr(self, outcome) + 1)

    def __str__(self):
        return "evaluated %d checks (met %d, missed %d, not_applicable %d) in %d batches" % (
            self.evaluated, self.met, self.missed, self.not_applicable, self.batches)


def claim_due(now, limit):
    """Lock up to `limit` due, unevaluated checks; rows another sweep holds are skipped, not waited on."""
    query = (select(FollowUp.id, FollowUp.referral_id, FollowUp.check, FollowUp.due_date, FollowUp.due_at)
             .where(FollowUp.outcome.is_(None), FollowUp.due_at <= evaluation_cutoff(now))
             .order_by(FollowUp.due_at, FollowUp.id)
             .limit(limit))
    if dialect_name() == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return db.session.execute(query).all()


def sweep_batch(now, limit, counts):
    """Claim and evaluate one batch in the caller's transaction; returns how many rows it claimed.

    Rows, not ORM objects, and one statement each for the outcomes and the events: a sweep judges
    thousands of checks, and per-object flushes would cost more than the judging.
    """
    rows = claim_due(now, limit)
    if not rows:
        return 0
    referral_ids = {row.referral_id for row in rows}
    subjects = {}
    for chunk in _chunks(referral_ids):
        for r in db.session.execute(select(Referral.id, Referral.status, Referral.need, Referral.discharge_date,
                                           Referral.timezone).where(_among(Referral.id, chunk))):
            subjects[r.id] = Subject(r.id, r.status, r.need, r.discharge_date, r.timezone)
    facts = load_facts(referral_ids)
    active_days = current_app.config["FOLLOWUP_ACTIVE_DAYS"]
    judged, events = [], []
    for row in rows:
        outcome, evidence = evaluate(row.check, subjects[row.referral_id], row.due_date, row.due_at,
                                     facts[row.referral_id], active_days)
        judged.append((row.id, outcome, evidence))
        counts.add(outcome)
        if outcome == "missed":
            events.append(missed_event(row, now))
    _store_outcomes(judged, now)
    if events:
        db.session.execute(insert(Event), events)
    counts.batches += 1
    return len(rows)


def missed_event(row, now):
    """The `followup.missed` event, as record_event would write it (the sweep inserts them in bulk)."""
    return {"id": new_id(), "type": "followup.missed", "referral_id": row.referral_id, "subject_type": "followup",
            "subject_id": row.id, "actor_user_id": None, "actor_org_id": None, "from_status": None,
            "to_status": None, "created_at": now,
            "data": {"followup_id": row.id, "referral_id": row.referral_id, "check": row.check}}


def _store_outcomes(judged, now):
    """Write the batch's outcomes; a row someone else judged meanwhile would make the count short, and fail it."""
    if dialect_name() == "postgresql":
        statement = text(
            "UPDATE followups AS f SET outcome = u.outcome, evidence = u.evidence, evaluated_at = :now "
            "FROM unnest(CAST(:ids AS varchar[]), CAST(:outcomes AS varchar[]), CAST(:evidence AS jsonb[])) "
            "AS u(id, outcome, evidence) WHERE f.id = u.id AND f.outcome IS NULL"
        ).bindparams(bindparam("now", type_=UTCDateTime()))
        result = db.session.execute(statement, {
            "now": now, "ids": [j[0] for j in judged], "outcomes": [j[1] for j in judged],
            "evidence": [json.dumps(j[2]) for j in judged]})
    else:
        table = FollowUp.__table__
        statement = (table.update()
                     .where(table.c.id == bindparam("f_id"), table.c.outcome.is_(None))
                     .values(outcome=bindparam("f_outcome"), evidence=bindparam("f_evidence"), evaluated_at=now))
        result = db.session.execute(statement, [{"f_id": j[0], "f_outcome": j[1], "f_evidence": j[2]}
                                                for j in judged])
    if result.rowcount != len(judged):
        raise RuntimeError("%d of %d claimed checks were judged by someone else; the batch is rolled back" % (
            len(judged) - result.rowcount, len(judged)))


# ---------------------------------------------------------------- reading and outreach


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


def get_followup(user, followup_id, action="followup.read"):
    """A check the user may see (through its referral), else 404 and an audited denial."""
    row = None
    if isinstance(followup_id, str) and 0 < len(followup_id) <= 36 and "\x00" not in followup_id:
        row = db.session.execute(
            select(FollowUp, Referral).join(Referral, Referral.id == FollowUp.referral_id)
            .where(FollowUp.id == followup_id, referral_visibility(user))).first()
    if row is None:
        audit.record(action, "followup", str(followup_id)[:64], outcome="denied", user=user)
        raise NotFound("No follow-up check with this id.")
    audit.record(action, "referral", row.Referral.id, user=user)
    return row.FollowUp, row.Referral


def add_contact(user, followup, referral, data):
    """Record a case manager's outreach on a check; the note stays out of the event log (it may hold PHI)."""
    contact = FollowUpContact(followup_id=followup.id, note=data["note"], reached=data["reached"],
                              recorded_by=user.id, created_at=utcnow())
    db.session.add(contact)
    db.session.flush()
    record_event("followup.contacted", referral=referral, subject=followup, actor=user,
                 data={"followup_id": followup.id, "check": followup.check, "contact_id": contact.id,
                       "reached": bool(data["reached"])})
    return contact


def contacts_for(followup_ids):
    by_followup = {fid: [] for fid in followup_ids}
    for chunk in _chunks(followup_ids):
        for contact in db.session.scalars(
                select(FollowUpContact).where(FollowUpContact.followup_id.in_(chunk))
                .order_by(FollowUpContact.created_at, FollowUpContact.id)):
            by_followup[contact.followup_id].append(contact)
    return by_followup
