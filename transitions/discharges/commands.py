"""Discharge-without-referral use cases, one function each: recorded from an ADT A03 (as the facility's feed), a
readmission from an A01/A04, a case manager's follow-up visit, and adoption by a later referral."""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import bindparam, or_, select, tuple_
from sqlalchemy.exc import IntegrityError

from transitions import policy
from transitions.adt.models import AdtMessage
from transitions.core import audit
from transitions.core.clock import local_today
from transitions.core.db import advisory_xact_lock, db, races_as_conflicts
from transitions.core.errors import Conflict, ValidationFailed
from transitions.discharges.models import (
    Discharge,
    DischargeReadmission,
    DischargeVisit,
    other_patient_key,
    patient_key,
    patient_keys,
    same_name,
)
from transitions.followups import plan as followup_plan
from transitions.notify.events import record_event
from transitions.offers.queries import READMISSION_WINDOW_DAYS, readmission_class

# A referral adopts the same patient's discharges from its organization that lie this close to its discharge date
# (the readjustment window the discharge's checks cover): a referral months later is another episode.
ADOPTION_WINDOW_DAYS = 30


RECORDED, NEW, CORRECTED, OUTDATED = "recorded", "new", "corrected", "outdated"


def record_discharge(
    actor, organization, patient, discharged_on, payer_id, member_id, now, adt_message_id=None, admitted_on=None
):
    """A discharge without referral of a health plan's member, as the facility's ADT feed (actor): (discharge, what
    became of it: NEW, RECORDED before, CORRECTED, or OUTDATED).

    The same facility organization, patient and day is one discharge: a repeat (another control id, a reprocess, the
    given names split otherwise) returns the recorded one and changes nothing. The same stay (its admission day, the
    same coverage) discharged on another day is a correction: the recorded discharge moves to the new day with its
    checks, unless the message arrived before the one that set the recorded day (a retry or a reprocess of an older
    message: OUTDATED, nothing changes). A date after the facility's today is refused (422 on `date`)."""
    if discharged_on > local_today(organization.timezone, now):
        raise ValidationFailed({"discharge_date": ["A discharge (PV1-45) cannot be in the future."]})
    key = patient_key(patient.given_name, patient.family_name, patient.birth_date)
    keys = sorted(patient_keys(patient))
    if admitted_on is not None and admitted_on > discharged_on:
        admitted_on = None  # no stay ends before it begins: the day says nothing of which stay this is
    existing = _recorded(organization.id, keys, discharged_on)
    if existing is not None:
        if existing.admitted_on is None and admitted_on is not None:
            existing.admitted_on = admitted_on  # a later correction of this stay can be told by it
        if existing.other_patient_key is None:
            # The first message may have carried one form only (Lopez^Maria Elena): the repeat's other form is kept.
            existing.other_patient_key = other_patient_key(patient, existing.patient_key)
        return existing, RECORDED
    if admitted_on is not None:
        same_stay = _same_stay(organization.id, keys, admitted_on, payer_id, member_id)
        if same_stay is not None:
            if _arrived_before(adt_message_id, same_stay.adt_message_id):
                return same_stay, OUTDATED
            try:
                with db.session.begin_nested():
                    _correct(actor, same_stay, discharged_on, adt_message_id)
            except IntegrityError:
                # The new day was recorded by a message applied at the same instant: that discharge is the one.
                return _recorded(organization.id, keys, discharged_on), RECORDED
            return same_stay, CORRECTED
    discharge = Discharge(
        organization_id=organization.id,
        adt_message_id=adt_message_id,
        patient_key=key,
        other_patient_key=other_patient_key(patient, key),
        given_name=patient.given_name,
        family_name=patient.family_name,
        birth_date=patient.birth_date,
        patient_class=(patient.patient_class or None),
        payer_id=payer_id,
        member_id=member_id,
        discharge_date=discharged_on,
        admitted_on=admitted_on,
        timezone=organization.timezone,
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(discharge)
            db.session.flush()
    except IntegrityError:
        # Another listener recorded the same discharge at the same instant: theirs is the one.
        return _recorded(organization.id, keys, discharged_on), RECORDED
    followup_plan.plan_discharge(discharge)
    audit.record("discharge.create", "discharge", discharge.id, user=actor)
    return discharge, NEW


def _same_stay(organization_id, keys, admitted_on, payer_id, member_id):
    """The organization's discharge without referral (not adopted) of this patient's stay admitted that day under the
    same coverage, locked: the one a discharge message of the same stay with another date corrects."""
    return db.session.scalar(
        select(Discharge)
        .where(
            Discharge.organization_id == organization_id,
            _of_patient(keys),
            Discharge.admitted_on == admitted_on,
            Discharge.payer_id == payer_id,
            Discharge.member_id.is_not_distinct_from(member_id),
            Discharge.adopted_by_referral_id.is_(None),
        )
        .order_by(Discharge.discharge_date.desc(), Discharge.id)
        .limit(1)
        .with_for_update()
    )


def _arrived_before(message_id, other_message_id):
    """Whether the inbox received message_id strictly before other_message_id (both known; the same instant is not
    before: the message being applied now is taken as the newer)."""
    if message_id is None or other_message_id is None:
        return False
    received = dict(
        db.session.execute(
            select(AdtMessage.id, AdtMessage.received_at).where(AdtMessage.id.in_((message_id, other_message_id)))
        ).all()
    )
    if message_id not in received or other_message_id not in received:
        return False
    return received[message_id] < received[other_message_id]


def _correct(actor, discharge, discharged_on, adt_message_id):
    """The sender corrected the stay's discharge day: the discharge moves (the message is now the one that set its
    day), its checks' windows move with it (a check already judged is judged again by the next sweep, as a referral's
    moved check is), and its readmissions are classified again from the new day (one that now falls before it or past
    the window is kept, as recorded)."""
    discharge.discharge_date = discharged_on
    if adt_message_id is not None:
        discharge.adt_message_id = adt_message_id
    followup_plan.replan_discharge(discharge)
    for readmission in db.session.scalars(
        select(DischargeReadmission).where(DischargeReadmission.discharge_id == discharge.id)
    ):
        days = (readmission.admitted_on - discharged_on).days
        if 0 <= days <= READMISSION_WINDOW_DAYS:
            readmission.classification = readmission_class(days)
    db.session.flush()
    audit.record("discharge.update", "discharge", discharge.id, user=actor)


def _recorded(organization_id, keys, discharged_on):
    # Two discharges of one day can match only if both were recorded before the other form was kept (each under its
    # own first form): the older is the one, as a repeat always found it.
    return db.session.scalar(
        select(Discharge)
        .where(
            Discharge.organization_id == organization_id, _of_patient(keys), Discharge.discharge_date == discharged_on
        )
        .order_by(Discharge.created_at, Discharge.id)
        .limit(1)
    )


def _of_patient(keys):
    """A discharge recorded for one of these patient keys, under its first given name or with its further ones: a
    message's forms of the given name ("Maria" and "Maria Elena" for PID-5 Lopez^Maria^Elena) find a discharge that
    another message recorded with the names split otherwise (Lopez^Maria Elena)."""
    return or_(Discharge.patient_key.in_(keys), Discharge.other_patient_key.in_(keys))


def discharges_of_patient(organization, patient):
    """The organization's discharges without referral (not adopted) of this patient, latest first: recorded for any
    form of the given name the message carries, as the feed matches referrals ("Maria" or "Maria Elena" for PID-5
    Lopez^Maria^Elena)."""
    return db.session.scalars(
        select(Discharge)
        .where(
            Discharge.organization_id == organization.id,
            _of_patient(sorted(patient_keys(patient))),
            Discharge.adopted_by_referral_id.is_(None),
        )
        .order_by(Discharge.discharge_date.desc(), Discharge.id)
    ).all()


@dataclass(frozen=True)
class ReportedAdmission:
    """An admission one organization's ADT feed reports, as it is matched to another organization's discharge of the
    same plan member: the patient (patient keys of each form of the name, with the birth date), the member's
    (payer id, member id) pairs, and the day. The match is made by the feed and checked again by each command under
    its lock (matches)."""

    admitting_organization_id: str
    patient_keys: frozenset
    coverages: frozenset
    admitted_on: date
    # The admitting facility's today: what "in the future" means for its admission, wherever the other record is.
    admitting_today: date
    # Referrals whose discharge a message of the same listener batch reported (its rows are written at its end).
    reported_discharges: frozenset = frozenset()

    @classmethod
    def of(cls, organization, patient, admitted_on, now, reported_discharges=()):
        """From a message's patient (adt.hl7v2.Patient): the coverage pairs the message states, each IN1's insurer
        (IN1-3) with its policy number (IN1-36), or, for an IN1 without one, with PID-3's member ids."""
        keys = patient_keys(patient)
        pairs = set()
        for payer, number in patient.coverages:
            numbers = [number] if number else patient.plan_member_ids
            pairs |= {(payer[:100], member[:100]) for member in numbers if payer and member}
        today = local_today(organization.timezone, now)
        return cls(
            organization.id, frozenset(keys), frozenset(pairs), admitted_on, today, frozenset(reported_discharges)
        )

    @property
    def since(self):
        return self.admitted_on - timedelta(days=READMISSION_WINDOW_DAYS)

    def candidates(self, model):
        """The WHERE clauses selecting the rows of model (Referral, Discharge) that matches could accept: the patient,
        a coverage pair, another organization, the window. A sketch of matches in SQL, for the feed's read."""
        keys = sorted(self.patient_keys)
        # A discharge without referral may also be known by the other form of its given name; a referral, by the one
        # form its planner typed.
        other = getattr(model, "other_patient_key", None)
        return (
            model.patient_key.in_(keys) if other is None else or_(model.patient_key.in_(keys), other.in_(keys)),
            tuple_(model.payer_id, model.member_id).in_(sorted(self.coverages)),
            model.organization_id != self.admitting_organization_id,
            model.discharge_date.between(self.since, self.admitted_on),
        )

    def matches(self, record):
        """Whether a referral or a discharge without referral (as read under its lock) is this member's discharge by
        another organization 0-30 days before the admission."""
        return (
            record.organization_id != self.admitting_organization_id
            and (
                record.patient_key in self.patient_keys
                or getattr(record, "other_patient_key", None) in self.patient_keys
            )
            and (record.payer_id, record.member_id) in self.coverages
            and record.discharge_date is not None
            and 0 <= (self.admitted_on - record.discharge_date).days <= READMISSION_WINDOW_DAYS
        )


def member_discharge_elsewhere(report):
    """The latest discharge without referral (not adopted) that report matches, as (id, discharge_date); None if
    there is none."""
    return db.session.execute(
        select(Discharge.id, Discharge.discharge_date)
        .where(*report.candidates(Discharge), Discharge.adopted_by_referral_id.is_(None))
        .order_by(Discharge.discharge_date.desc(), Discharge.id)
        .limit(1)
    ).first()


def record_reported_admission(feed, discharge_id, report, now):
    """A readmission another organization's ADT feed reports on this discharge without referral (the feed matched
    them; the match is checked again here, the discharge locked; a lost race is a Conflict): (row, days after
    discharge). It names no facility: the admitting organization stays unnamed to the plan and the discharging
    facility's planners."""
    with races_as_conflicts():
        discharge = db.session.scalar(
            select(Discharge)
            .where(Discharge.id == discharge_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if discharge is None or discharge.adopted_by_referral_id is not None or not report.matches(discharge):
            raise Conflict("The discharge no longer matches the reported admission.")
        policy.REPORT_ADMISSION_ON_DISCHARGE.require(feed, discharge)
        return record_readmission(feed, discharge, report.admitted_on, None, now, report.admitting_today)


def record_readmission(actor, discharge, admitted_on, facility, now, today=None):
    """An admission of a discharged member (ADT A01/A04): (row, days after discharge), classified as a referral's
    readmission is (days 0-2 a transfer, 3-30 a 30-day readmission, which fails followup_30). The same day twice is
    one readmission."""
    days = (admitted_on - discharge.discharge_date).days
    if days < 0:
        raise ValidationFailed(
            {"date": ["A readmission cannot be before the discharge date %s." % discharge.discharge_date]}
        )
    if days > READMISSION_WINDOW_DAYS:
        raise ValidationFailed({"date": ["A readmission is counted within %d days." % READMISSION_WINDOW_DAYS]})
    if admitted_on > (today or local_today(discharge.timezone, now)):
        raise ValidationFailed({"date": ["A readmission cannot be in the future."]})
    existing = db.session.scalar(
        select(DischargeReadmission).where(
            DischargeReadmission.discharge_id == discharge.id, DischargeReadmission.admitted_on == admitted_on
        )
    )
    if existing is not None:
        return existing, days
    row = DischargeReadmission(
        discharge_id=discharge.id,
        admitted_on=admitted_on,
        classification=readmission_class(days),
        facility=facility,
        recorded_by=actor.id,
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    audit.record("discharge.readmission", "discharge", discharge.id, user=actor)
    return row, days


def record_visit(actor, discharge_id, data, now):
    """A follow-up visit the member's case manager learned of (claims, a call), on `date`: counts like an attended
    session. Not in the future (the facility's today), not before the discharge; one a day (409 naming it). A visit
    learned after its check was judged missed reopens the check for the next sweep."""
    discharge = policy.get_discharge(actor, discharge_id, "discharge.visit")
    policy.RECORD_VISIT.require(actor, discharge)
    visit_date = data["date"]
    if visit_date > local_today(discharge.timezone, now):
        raise ValidationFailed({"date": ["A visit cannot be in the future."]})
    if visit_date < discharge.discharge_date:
        raise ValidationFailed(
            {"date": ["A follow-up visit cannot be before the discharge date %s." % discharge.discharge_date]}
        )
    existing = _visit_on(discharge.id, visit_date)
    if existing is not None:
        raise _visit_conflict(existing)
    visit = DischargeVisit(discharge_id=discharge.id, visit_date=visit_date, recorded_by=actor.id, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(visit)
            db.session.flush()
    except IntegrityError:
        raise _visit_conflict(_visit_on(discharge.id, visit_date)) from None
    followup_plan.reopen_discharge_checks(discharge, visit_date)
    audit.record("discharge.visit", "discharge", discharge.id, user=actor)
    return discharge, visit


def _visit_on(discharge_id, visit_date):
    return db.session.scalar(
        select(DischargeVisit).where(
            DischargeVisit.discharge_id == discharge_id, DischargeVisit.visit_date == visit_date
        )
    )


def _visit_conflict(existing):
    # The detail names the recorded visit (an extra problem member would need core's ProblemSchema to declare it).
    return Conflict("A follow-up visit on %s is already recorded (%s)." % (existing.visit_date, existing.id))


# A referral's adoptable discharges (built once; the statements' cache keys with them): recorded under the referral's
# patient key, or knowing it as the other form of the given name their messages carried.
_ADOPTABLE = (
    Discharge.organization_id == bindparam("organization_id"),
    or_(Discharge.patient_key == bindparam("patient_key"), Discharge.other_patient_key == bindparam("patient_key")),
    Discharge.adopted_by_referral_id.is_(None),
    Discharge.discharge_date >= bindparam("earliest"),
    Discharge.discharge_date <= bindparam("latest"),
)
_ANY_ADOPTABLE = select(Discharge.id).where(*_ADOPTABLE).limit(1)
_LOCK_ADOPTABLE = (
    select(Discharge).where(*_ADOPTABLE).order_by(Discharge.discharge_date, Discharge.id).with_for_update()
)


def lock_patient(organization_id, family_name, birth_date):
    """Serialize, until the transaction ends, the two use cases that look for each other's row of one organization's
    patient: a discharge message looking for an open referral (else recording a discharge without referral) and a new
    referral looking for discharges to adopt. Without it, each could read before the other commits, and a referral
    would stand beside a discharge nobody adopted (a member called as having no step-down while they have one).

    One lock per organization, family name (case and spacing aside) and birth date, not per patient key: a message
    may carry two forms of the given name and a referral either, and a lock per form would let a listener batch
    holding one form's lock and a discharge's row wait on a referral holding the other's, which waits on that row.
    Two patients of one family and birth date share the lock: a wait, never a wrong match."""
    advisory_xact_lock("patient|%s|%s|%s" % (organization_id, same_name(family_name), birth_date.isoformat()))


def adopt_for_referral(actor, referral, now):
    """A new referral takes over its patient's discharges without referral from the same organization (same names,
    case and spacing aside, and birth date) discharged within ADOPTION_WINDOW_DAYS of its discharge date: each is
    linked to it, leaves the no-step-down list, and its pending checks close (the referral's own checks, which count
    its recorded visits and readmissions, take over). Returns the adopted discharges."""
    window = timedelta(days=ADOPTION_WINDOW_DAYS)
    lock_patient(referral.organization_id, referral.family_name, referral.birth_date)
    params = {
        "organization_id": referral.organization_id,
        "patient_key": referral.patient_key,
        "earliest": referral.discharge_date - window,
        "latest": referral.discharge_date + window,
    }
    # Most referrals have nothing to adopt: a plain look first (along uq_discharges_patient_day and
    # ix_discharges_other_patient_key), the row locks only when there is something. It reads what the locking read
    # would (rows committed before it; a row it finds is locked and read again below), so a discharge committed
    # after it is missed exactly as one after the lock would be.
    if db.session.scalar(_ANY_ADOPTABLE, params) is None:
        return []
    adopted = db.session.scalars(_LOCK_ADOPTABLE, params).all()
    for discharge in adopted:
        discharge.adopted_by_referral_id, discharge.adopted_at = referral.id, now
        followup_plan.close_discharge_pending(discharge, {"reason": "adopted_by_referral", "referral_id": referral.id})
        record_event(
            "discharge.adopted",
            referral=referral,
            subject=discharge,
            actor=actor,
            data={"discharge_id": discharge.id, "referral_id": referral.id},
        )
        audit.record("discharge.adopt", "discharge", discharge.id, user=actor)
    if adopted:
        db.session.flush()
    return adopted
