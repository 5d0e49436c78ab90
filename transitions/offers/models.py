"""Tables of offers and placements: offers, placements, attendance and readmissions."""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from transitions.core.clock import utcnow
from transitions.core.db import db, partial_index
from transitions.core.types import ID, UTCDateTime, new_id

OFFER_STATUSES = ("pending", "accepted", "declined", "withdrawn", "expired")
DECLINE_REASONS = ("at_capacity", "clinical_fit", "payer", "schedule", "patient_declined", "other")
DISCHARGE_OUTCOMES = ("completed", "dropped_out", "readmitted", "transferred")
ATTENDANCE_STATUSES = ("attended", "missed", "excused")


class ReferralInTrack:
    """The keys of a row that ties a referral to one track of one program: an offer, and the placement an accepted
    offer becomes (it copies them)."""

    referral_id: Mapped[str] = mapped_column(ID, ForeignKey("referrals.id"), index=True)
    track_id: Mapped[str] = mapped_column(ID, ForeignKey("tracks.id"), index=True)
    program_id: Mapped[str] = mapped_column(ID, ForeignKey("programs.id"), index=True)


class Offer(ReferralInTrack, db.Model):
    __tablename__ = "offers"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_by: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id"))
    decided_by: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decline_reason: Mapped[str | None] = mapped_column(String(30))
    decline_note: Mapped[str | None] = mapped_column(Text)
    intake_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        partial_index("uq_offers_one_accepted", "referral_id", where="status = 'accepted'", unique=True),
        partial_index(
            "uq_offers_pending_program", "referral_id", "program_id", where="status = 'pending'", unique=True
        ),
        # Seat reads subtract a track's pending offers past expiry; old offers must not be scanned for that.
        partial_index("ix_offers_pending_track", "track_id", "expires_at", where="status = 'pending'"),
    )


class Placement(ReferralInTrack, db.Model):
    __tablename__ = "placements"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    offer_id: Mapped[str] = mapped_column(ID, ForeignKey("offers.id"), unique=True)
    intake_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="active")
    outcome: Mapped[str | None] = mapped_column(String(20))
    discharged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attendance(db.Model):
    __tablename__ = "attendance"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    placement_id: Mapped[str] = mapped_column(ID, ForeignKey("placements.id"))
    session_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    recorded_by: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("uq_attendance_placement_date", "placement_id", "session_date", unique=True),)


class Readmission(db.Model):
    __tablename__ = "readmissions"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    referral_id: Mapped[str] = mapped_column(ID, ForeignKey("referrals.id"), index=True)
    admitted_on: Mapped[date] = mapped_column(Date)
    facility: Mapped[str | None] = mapped_column(String(200))
    # transfer (days 0-2), readmission_30 (days 3-30) or later.
    classification: Mapped[str] = mapped_column(String(20))
    recorded_by: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
