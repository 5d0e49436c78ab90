"""Tables of the event outbox, webhook subscriptions, deliveries and attempts, and mail deliveries and preferences."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from transitions.core.clock import utcnow
from transitions.core.db import db, partial_index
from transitions.core.types import ID, BigInt, JSONType, UTCDateTime, new_id


class Event(db.Model):
    """One thing that happened: the referral timeline and the webhook outbox in one append-only table."""

    __tablename__ = "events"
    # A monotonic key gives a total order within one timestamp and a cursor for delivery;
    # the opaque id is what leaves the service.
    seq: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID, unique=True, default=new_id)
    type: Mapped[str] = mapped_column(String(40), index=True)
    referral_id: Mapped[str | None] = mapped_column(ID, ForeignKey("referrals.id"), index=True)
    subject_type: Mapped[str | None] = mapped_column(String(30))
    subject_id: Mapped[str | None] = mapped_column(ID)
    actor_user_id: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id"))
    actor_org_id: Mapped[str | None] = mapped_column(ID)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    # Ids and codes only, never PHI: this is what webhooks carry.
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Outbox bookkeeping, the one column ever updated: set once the event's webhook deliveries are queued.
    # A flag rather than a "last seq" cursor, because sequence values commit out of order.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The same for mail: set once the event's mail deliveries are queued (or passed over while mail is off).
    mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        partial_index("ix_events_undispatched", "seq", where="dispatched_at IS NULL"),
        partial_index("ix_events_unmailed", "seq", where="mailed_at IS NULL"),
    )


class Webhook(db.Model):
    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ID, ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSONType)
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why it is off, as a code (contract.DISABLED_CAUSES; None while active) and in words for the organization.
    # A deleted webhook stays, switched off with cause "deleted", so admins can still read what was sent to it.
    disabled_cause: Mapped[str | None] = mapped_column(String(20))
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    webhook_id: Mapped[str] = mapped_column(ID, ForeignKey("webhooks.id"), index=True)
    event_id: Mapped[str] = mapped_column(ID, ForeignKey("events.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("uq_deliveries_webhook_event", "webhook_id", "event_id", unique=True),
        partial_index("ix_deliveries_due", "next_attempt_at", where="status = 'pending'"),
    )


class DeliveryAttempt(db.Model):
    __tablename__ = "delivery_attempts"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    delivery_id: Mapped[str] = mapped_column(ID, ForeignKey("webhook_deliveries.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class MailDelivery(db.Model):
    """One mail to one person about one event; (event, user) is unique, so nobody is ever queued twice for it."""

    __tablename__ = "mail_deliveries"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    event_id: Mapped[str] = mapped_column(ID, ForeignKey("events.id"))
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), index=True)
    # pending (due at next_attempt_at, or leased until then), sent, failed (gave up), skipped (nobody to send to).
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # Held for the recipient's daily digest rather than sent on its own.
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("uq_mail_deliveries_event_user", "event_id", "user_id", unique=True),
        partial_index("ix_mail_deliveries_due", "next_attempt_at", where="status = 'pending'"),
    )


class NotificationPreference(db.Model):
    """A user's choice of mail; no row means the default: email on, every event that concerns them, no digest."""

    __tablename__ = "notification_preferences"
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean, default=True)
    # The event names wanted; None = every event that concerns the user's role.
    events: Mapped[list | None] = mapped_column(JSONType)
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
