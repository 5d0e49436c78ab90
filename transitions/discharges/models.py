"""Tables of discharges without referral, the follow-up visits case managers record on them, and their readmissions."""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.types import ID, UTCDateTime, new_id

# no_step_down: nobody arranged care after it (the members to call); adopted: a later referral took it over.
DISCHARGE_STATUSES = ("no_step_down", "adopted")
# The checks a discharge without referral is followed by (the HEDIS FUH pair), when the follow-up plan has them.
DISCHARGE_CHECKS = ("followup_7", "followup_30")


def same_name(name):
    """A name as the same-person rule compares it: case and spacing aside."""
    return " ".join(name.split()).casefold()


def patient_key(given_name, family_name, birth_date):
    """Same person (the duplicate-referral rule and the ADT's matching rule): names compared as same_name does, and
    the birth date."""
    return "|".join((same_name(given_name), same_name(family_name), birth_date.isoformat()))


def patient_keys(patient):
    """The patient keys of each form of a message's patient's given name (adt.hl7v2.Patient.given_names)."""
    return {patient_key(given, patient.family_name, patient.birth_date) for given in patient.given_names}


def other_patient_key(patient, recorded_key):
    """The patient key of the form of the message's given name that recorded_key is not, when it carried two; else
    None. (PID-5 Lopez^Maria^Elena gives "Maria" and "Maria Elena"; a FHIR name the same two the other way round.)"""
    others = sorted(patient_keys(patient) - {recorded_key})
    return others[0] if others else None


class Discharge(db.Model):
    __tablename__ = "discharges"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    # The facility's organization (hospital or residential): its planners see the discharge.
    organization_id: Mapped[str] = mapped_column(ID, ForeignKey("organizations.id"))
    # The ADT message that set its discharge day: the one that recorded it, or the last that corrected it.
    adt_message_id: Mapped[str | None] = mapped_column(ID, ForeignKey("adt_messages.id"))
    patient_key: Mapped[str] = mapped_column(String(320))
    # The patient key of the other form of the given name its messages carried ("maria elena|lopez|1990-04-12" beside
    # "maria|lopez|1990-04-12" for PID-5 Lopez^Maria^Elena): a referral made for either form adopts the discharge, and
    # an admission under either finds it. The same-day rule (uq_discharges_patient_day) stays on patient_key.
    other_patient_key: Mapped[str | None] = mapped_column(String(320))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    patient_class: Mapped[str | None] = mapped_column(String(10))
    # IN1-3 of the coverage a health plan follows (its case managers see the discharge), and the member id.
    payer_id: Mapped[str] = mapped_column(String(100), index=True)
    member_id: Mapped[str | None] = mapped_column(String(100))
    discharge_date: Mapped[date] = mapped_column(Date, index=True)
    # The stay's admission day (PV1-44, Encounter.period.start) when the message carried one: a later discharge
    # message of the same stay with another date is a correction of this discharge, not a second one.
    admitted_on: Mapped[date | None] = mapped_column(Date)
    # The facility organization's time zone when recorded: the day a check's window closes (no patient address here).
    timezone: Mapped[str] = mapped_column(String(64))
    adopted_by_referral_id: Mapped[str | None] = mapped_column(ID, ForeignKey("referrals.id"), index=True)
    adopted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # One discharge per facility organization, patient and day: a message sent twice, or reprocessed, adds none.
        Index("uq_discharges_patient_day", "organization_id", "patient_key", "discharge_date", unique=True),
        # An admission another organization's ADT feed reports finds the member's discharges by patient key.
        Index("ix_discharges_patient_key", "patient_key"),
        Index("ix_discharges_other_patient_key", "other_patient_key"),
    )

    @property
    def status(self):
        return "adopted" if self.adopted_by_referral_id else "no_step_down"


class DischargeVisit(db.Model):
    """A follow-up visit a case manager learned of (claims, a call): counts like an attended session."""

    __tablename__ = "discharge_visits"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    discharge_id: Mapped[str] = mapped_column(ID, ForeignKey("discharges.id"))
    visit_date: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(ID, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("uq_discharge_visits_day", "discharge_id", "visit_date", unique=True),)


class DischargeReadmission(db.Model):
    """An admission (ADT A01/A04) of the member within 30 days of a discharge without referral."""

    __tablename__ = "discharge_readmissions"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    discharge_id: Mapped[str] = mapped_column(ID, ForeignKey("discharges.id"))
    admitted_on: Mapped[date] = mapped_column(Date)
    # transfer (days 0-2) or readmission_30 (days 3-30), as POST /referrals/{id}/readmission classifies.
    classification: Mapped[str] = mapped_column(String(20))
    facility: Mapped[str | None] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(ID, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("uq_discharge_readmissions_day", "discharge_id", "admitted_on", unique=True),)
