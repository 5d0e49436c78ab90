"""The referral table: a patient's discharge, needs, availability, coverage and consent."""

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from transitions.core.clock import utcnow
from transitions.core.db import db, partial_index
from transitions.core.types import ID, JSONType, UTCDateTime, new_id

REFERRAL_STATUSES = (
    "submitted",
    "offered",
    "placed",
    "attending",
    "completed",
    "dropped_out",
    "readmitted",
    "cancelled",
    "no_match",
)
# A referral in one of these states blocks a second referral for the same patient.
OPEN_REFERRAL_STATUSES = ("submitted", "offered", "placed", "attending", "no_match")


def _open_statuses_sql():
    return "status IN (%s)" % ", ".join("'%s'" % s for s in OPEN_REFERRAL_STATUSES)


class Referral(db.Model):
    __tablename__ = "referrals"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ID, ForeignKey("organizations.id"))
    created_by: Mapped[str] = mapped_column(ID, ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(20), default="submitted", index=True)
    # Case-folded "given|family|birth_date": the duplicate-referral rule keys on it.
    patient_key: Mapped[str] = mapped_column(String(320))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8))
    zip: Mapped[str] = mapped_column(String(5))
    patient_state: Mapped[str] = mapped_column(String(2))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(40))
    payer_id: Mapped[str | None] = mapped_column(String(100))
    member_id: Mapped[str | None] = mapped_column(String(100))
    self_pay: Mapped[bool] = mapped_column(Boolean, default=False)
    origin: Mapped[str] = mapped_column(String(20))
    need: Mapped[str] = mapped_column(String(20))
    diagnoses: Mapped[list] = mapped_column(JSONType)
    needs_mat: Mapped[bool] = mapped_column(Boolean, default=False)
    discharge_date: Mapped[date] = mapped_column(Date, index=True)
    availability: Mapped[list | None] = mapped_column(JSONType)
    timezone: Mapped[str] = mapped_column(String(64))
    modality: Mapped[str] = mapped_column(String(20))
    max_travel_miles: Mapped[float | None] = mapped_column(Float)
    consent_signed_on: Mapped[date | None] = mapped_column(Date)
    consent_expires_on: Mapped[date | None] = mapped_column(Date)
    consent_revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str | None] = mapped_column(Text)
    share_notes: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_cascade: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        # The database, not a read-then-insert, guarantees one open referral per patient per org.
        partial_index(
            "uq_referrals_open_patient", "organization_id", "patient_key", where=_open_statuses_sql(), unique=True
        ),
        # The lists' orders, so a page of an organization's (a planner's) or a payer's (a case manager's) newest
        # referrals reads that page, not every referral of the organization (tests/slow/test_query_plans.py).
        Index("ix_referrals_organization_created", "organization_id", "created_at", "id"),
        Index("ix_referrals_payer_created", "payer_id", "created_at", "id"),
        # An admission another organization's ADT feed reports finds the member's referrals by patient key.
        Index("ix_referrals_patient_key", "patient_key"),
    )

    @property
    def is_substance_use(self):
        return self.need in ("substance_use", "co_occurring")

    @property
    def patient(self):
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "birth_date": self.birth_date,
            "gender": self.gender,
            "language": self.language,
            "zip": self.zip,
            "phone": self.phone,
        }

    @property
    def coverage(self):
        return {"payer_id": self.payer_id, "member_id": self.member_id, "self_pay": self.self_pay}

    @property
    def part2_consent(self):
        if self.consent_signed_on is None:
            return None
        return {
            "signed_on": self.consent_signed_on,
            "expires_on": self.consent_expires_on,
            "revoked_at": self.consent_revoked_at,
            "current": self.consent_current_on(utcnow().date()),
        }

    def consent_current_on(self, day):
        """Signed, not yet expired and not revoked: what 42 CFR Part 2 needs before an offer."""
        return (
            self.consent_signed_on is not None
            and self.consent_signed_on <= day
            and self.consent_revoked_at is None
            and (self.consent_expires_on is None or self.consent_expires_on >= day)
        )

    @property
    def shared_notes(self):
        return self.notes if self.share_notes else None
