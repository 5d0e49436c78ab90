"""Tables of follow-up checks and the contacts recorded against them."""

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from transitions.core.clock import utcnow
from transitions.core.db import db, partial_index
from transitions.core.types import ID, JSONType, UTCDateTime, new_id

FOLLOWUP_OUTCOMES = ("met", "missed", "not_applicable")


class FollowUp(db.Model):
    __tablename__ = "followups"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    # A check follows a referral or a discharge without referral, never both (ck_followups_one_subject), so one
    # sweep, one board and one outreach path serve both.
    # No index of its own: uq_followups_referral_check leads with it (one index less to write per check).
    referral_id: Mapped[str | None] = mapped_column(ID, ForeignKey("referrals.id"))
    discharge_id: Mapped[str | None] = mapped_column(ID, ForeignKey("discharges.id"))
    check: Mapped[str] = mapped_column(String(30))
    due_date: Mapped[date] = mapped_column(Date)
    # The end of due_date in the patient's time zone: the sweep's clock, so a session on the
    # evening of the due day still counts.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(20))
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evidence: Mapped[dict | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        partial_index("ix_followups_pending_due", "due_at", where="outcome IS NULL"),
        Index("uq_followups_referral_check", "referral_id", "check", unique=True),
        Index("uq_followups_discharge_check", "discharge_id", "check", unique=True),
        CheckConstraint("(referral_id IS NULL) <> (discharge_id IS NULL)", name="one_subject"),
    )


class FollowUpContact(db.Model):
    __tablename__ = "followup_contacts"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    followup_id: Mapped[str] = mapped_column(ID, ForeignKey("followups.id"), index=True)
    note: Mapped[str] = mapped_column(Text)
    reached: Mapped[bool] = mapped_column(Boolean)
    recorded_by: Mapped[str] = mapped_column(ID, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
