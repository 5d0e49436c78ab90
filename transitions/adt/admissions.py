"""An admission (ADT^A01/A04) as a readmission: on this organization's referral or discharge without referral of
the patient discharged in the 30 days before, else, from the feed itself, on another organization's."""

import logging

from sqlalchemy import or_, select

from transitions.adt import hl7v2
from transitions.adt.feed import DISCHARGED, MEMO, Outcome, feed_actor, referrals_of, why
from transitions.core.clock import local_today
from transitions.core.db import db
from transitions.core.errors import DomainError
from transitions.discharges import commands as discharges
from transitions.offers import commands as offers
from transitions.offers.queries import LEFT_THE_HOSPITAL, READMISSION_WINDOW_DAYS, READMITTABLE, discharge_happened
from transitions.referrals.models import Referral

log = logging.getLogger(__name__)

# Patient classes (HL7 table 0004) of visits, never admissions: emergency and outpatient.
VISIT_CLASSES = ("E", "O")
# What an admission matched to no discharge is stored with. Its ACK, an AA with no text, is the same whatever another
# organization's records hold; the inbox (administrators only) says more when one was matched.
NO_DISCHARGE = "No discharge of this patient from this facility in the 30 days before."


def apply_admission(message, organization, now, from_feed=True):
    """An A01/A04: a readmission on this organization's referral or discharge without referral of the patient
    discharged 0-30 days before; failing those, when the message came from the feed itself (MLLP, or an admin over
    HTTP; not a planner), on another organization's (_readmission_elsewhere)."""
    patient = hl7v2.patient(message)
    admitted_on = hl7v2.hl7_date(hl7v2.field(message, "PV1", 44), "PV1-44", zone_name=organization.timezone)
    if patient.patient_class in VISIT_CLASSES or (organization.kind == "hospital" and patient.patient_class != "I"):
        # An A04 registers emergency and outpatient visits too: such a visit is not a readmission, and recording one
        # would end the patient's placement. A hospital's admission counts as its discharge does, inpatients only.
        return Outcome(
            "ignored",
            "AA",
            "Patient class %r: only inpatient admissions are readmissions, not emergency or outpatient visits."
            % (patient.patient_class or ""),
        )
    if admitted_on > local_today(organization.timezone, now):
        # Refused before anything is matched (the command refuses it too): a sender gets the same answer whether or
        # not this facility has a referral or a discharge of that name and birth date, so it cannot probe for one.
        raise hl7v2.Refusal(
            "AE", "PV1-44", hl7v2.APPLICATION_ERROR, "Not applied: A readmission cannot be in the future."
        )
    # The patient's lock, as a discharge message and a new referral take it: a listener batch that records this
    # readmission on a discharge and later meets the patient's discharge message would otherwise hold that row while
    # waiting on a referral that holds the lock and waits on the row.
    discharges.lock_patient(organization.id, patient.family_name, patient.birth_date)
    candidates = [
        referral
        for referral in referrals_of(organization, patient, READMITTABLE)
        if 0 <= (admitted_on - referral.discharge_date).days <= READMISSION_WINDOW_DAYS
    ]
    if not candidates:
        return _readmission_after_discharge(patient, organization, admitted_on, now, from_feed)
    referral = max(candidates, key=lambda row: (row.discharge_date, row.created_at))
    _, days = offers.record_readmission(feed_actor(organization), referral.id, admitted_on, organization.name, now)
    return Outcome(
        "processed", "AA", "A readmission %d days after the discharge was recorded." % days, None, None, referral.id
    )


def _readmission_after_discharge(patient, organization, admitted_on, now, from_feed=True):
    """An admission within 30 days of a discharge without referral of the same patient: a readmission on it."""
    candidates = [
        discharge
        for discharge in discharges.discharges_of_patient(organization, patient)
        if 0 <= (admitted_on - discharge.discharge_date).days <= READMISSION_WINDOW_DAYS
    ]
    if not candidates:
        if from_feed:
            return _readmission_elsewhere(patient, organization, admitted_on, now)
        return Outcome("ignored", "AA", NO_DISCHARGE)
    discharge = candidates[0]  # the latest discharge (discharges_of_patient's order)
    _, days = discharges.record_readmission(feed_actor(organization), discharge, admitted_on, organization.name, now)
    return Outcome(
        "processed",
        "AA",
        "A readmission %d days after the discharge without referral %s was recorded." % (days, discharge.id),
    )


def _readmission_elsewhere(patient, organization, admitted_on, now):
    """An admission of a plan member whom another organization discharged 0-30 days before: a readmission on that
    organization's referral, else on its discharge without referral (the later discharge of the two). Across
    organizations the patient (name forms and birth date) and a (payer id, member id) pair of the message's coverage
    must both agree; the command checks the match again under its lock. The ACK is the one for no match (AA, no
    text), recorded or refused by the command alike; only the inbox's state and reason, which administrators alone
    read, differ. The readmission names no facility and no actor, so neither organization learns of the other's
    records."""
    memo = db.session.info.get(MEMO) or {}
    report = discharges.ReportedAdmission.of(organization, patient, admitted_on, now, memo.get(DISCHARGED, ()))
    if not report.coverages:
        return Outcome("ignored", "AA", NO_DISCHARGE)
    referral = db.session.execute(
        select(Referral.id, Referral.discharge_date)
        .where(
            *report.candidates(Referral),
            Referral.status.in_(READMITTABLE),
            # A discharge that happened: a planned date says nothing of where the patient was on it.
            or_(
                Referral.status.in_(LEFT_THE_HOSPITAL),
                Referral.id.in_(sorted(report.reported_discharges)),
                discharge_happened(Referral.id),
            ),
        )
        .order_by(Referral.discharge_date.desc(), Referral.created_at.desc())
        .limit(1)
    ).first()
    discharge = discharges.member_discharge_elsewhere(report)
    if referral is None and discharge is None:
        return Outcome("ignored", "AA", NO_DISCHARGE)
    feed = feed_actor(organization)
    try:
        with db.session.begin_nested():
            if referral is not None and (discharge is None or referral.discharge_date >= discharge.discharge_date):
                _, days = offers.record_reported_admission(feed, referral.id, report, now)
            else:
                _, days = discharges.record_reported_admission(feed, discharge.id, report, now)
    except DomainError as error:
        # Answered as no match; the inbox (administrators only) keeps why, so a lost race can be reprocessed.
        log.info("ADT admission elsewhere not recorded: %s", why(error))
        return Outcome("ignored", "AA", "%s (Another organization's: not recorded, %s)" % (NO_DISCHARGE, why(error)))
    # The inbox (administrators only) says what was done; the ACK is AA with no text, as for no match.
    return Outcome("processed", "AA", "A readmission %d days after another organization's discharge." % days)
