"""Database tables of the service: directory, referrals, offers and placements, follow-ups, events, audit."""
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from transitions.clock import utcnow
from transitions.extensions import db
from transitions.types import JSONType, UTCDateTime, new_id

ID = String(36)
# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigInt = Integer().with_variant(BigInteger(), "postgresql")

ORG_KINDS = ("hospital", "residential", "health_plan", "iop_provider")
ROLES = ("discharge_planner", "case_manager", "iop_coordinator", "admin")
# Which organization kinds a role may belong to; admins may sit in any org.
ROLE_ORG_KINDS = {
    "discharge_planner": ("hospital", "residential"),
    "case_manager": ("health_plan",),
    "iop_coordinator": ("iop_provider",),
    "admin": ORG_KINDS,
}
SERVICES = ("mental_health", "substance_use", "co_occurring")
ORIGINS = ("inpatient_psych", "residential")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REFERRAL_STATUSES = (
    "submitted", "offered", "placed", "attending",
    "completed", "dropped_out", "readmitted", "cancelled", "no_match",
)
# A referral in one of these states blocks a second referral for the same patient.
OPEN_REFERRAL_STATUSES = ("submitted", "offered", "placed", "attending", "no_match")
OFFER_STATUSES = ("pending", "accepted", "declined", "withdrawn", "expired")
DECLINE_REASONS = ("at_capacity", "clinical_fit", "payer", "schedule", "patient_declined", "other")
DISCHARGE_OUTCOMES = ("completed", "dropped_out", "readmitted", "transferred")
ATTENDANCE_STATUSES = ("attended", "missed", "excused")
FOLLOWUP_OUTCOMES = ("met", "missed", "not_applicable")


def _open_statuses_sql():
    return "status IN (%s)" % ", ".join("'%s'" % s for s in OPEN_REFERRAL_STATUSES)


class Organization(db.Model):
    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    payer_ids: Mapped[list] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(db.Model):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    organization_id: Mapped[str] = mapped_column(ID, ForeignKey("organizations.id"), index=True)
    role: Mapped[str] = mapped_column(String(30))
    # SHA-256 of a 256-bit random token: a slow hash adds nothing for tokens this long.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization] = relationship(lazy="joined")


class Program(db.Model):
    __tablename__ = "programs"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ID, ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    zip: Mapped[str] = mapped_column(String(5))
    state: Mapped[str] = mapped_column(String(2), index=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(40))
    services: Mapped[list] = mapped_column(JSONType)
    min_age: Mapped[int] = mapped_column(Integer)
    max_age: Mapped[int] = mapped_column(Integer)
    gender: Mapped[str] = mapped_column(String(10))
    languages: Mapped[list] = mapped_column(JSONType)
    interpreter_services: Mapped[bool] = mapped_column(Boolean, default=False)
    payers: Mapped[list] = mapped_column(JSONType)
    self_pay: Mapped[bool] = mapped_column(Boolean, default=False)
    mat: Mapped[bool] = mapped_column(Boolean, default=False)
    accepts_from: Mapped[list] = mapped_column(JSONType)
    telehealth_states: Mapped[list] = mapped_column(JSONType)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tracks: Mapped[list["Track"]] = relationship(back_populates="program", order_by="Track.created_at")

    __table_args__ = (
        Index("ix_programs_lat_lon", "latitude", "longitude"),
        # Telehealth reach is "licensed in the patient's state": JSONB containment, answered by this index.
        # SQLite has no such index type; its directories are small enough to scan.
        Index("ix_programs_telehealth_states", "telehealth_states", postgresql_using="gin",
              postgresql_ops={"telehealth_states": "jsonb_path_ops"}).ddl_if(dialect="postgresql"),
        CheckConstraint("min_age <= max_age", name="age_range"),
    )


class Track(db.Model):
    __tablename__ = "tracks"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    program_id: Mapped[str] = mapped_column(ID, ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Indexed so matching counts the tracks of each modality from the index alone.
    modality: Mapped[str] = mapped_column(String(20), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    sessions: Mapped[list] = mapped_column(JSONType)
    hours_per_week: Mapped[float] = mapped_column(Float)
    intake_days: Mapped[list] = mapped_column(JSONType)
    capacity: Mapped[int] = mapped_column(Integer)
    # Seat counters live on the track row so one row lock (or one conditional
    # UPDATE) decides every seat; the check constraint is the backstop.
    occupied: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    program: Mapped[Program] = relationship(back_populates="tracks")

    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("occupied >= 0 AND held >= 0", name="counters_non_negative"),
        CheckConstraint("occupied + held <= capacity", name="seats_within_capacity"),
    )

    @property
    def open_seats(self):
        return self.capacity - self.occupied - self.held


class Referral(db.Model):
    __tablename__ = "referrals"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ID, ForeignKey("organizations.id"), index=True)
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
    payer_id: Mapped[str | None] = mapped_column(String(100), index=True)
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
        Index(
            "uq_referrals_open_patient", "organization_id", "patient_key", unique=True,
            sqlite_where=text(_open_statuses_sql()), postgresql_where=text(_open_statuses_sql()),
        ),
    )

    @property
    def is_substance_use(self):
        return self.need in ("substance_use", "co_occurring")

    @property
    def patient(self):
        return {
            "given_name": self.given_name, "family_name": self.family_name, "birth_date": self.birth_date,
            "gender": self.gender, "language": self.language, "zip": self.zip, "phone": self.phone,
        }

    @property
    def coverage(self):
        return {"payer_id": self.payer_id, "member_id": self.member_id, "self_pay": self.self_pay}

    @property
    def part2_consent(self):
        if self.consent_signed_on is None:
            return None
        return {
            "signed_on": self.consent_signed_on, "expires_on": self.consent_expires_on,
            "revoked_at": self.consent_revoked_at, "current": self.consent_current_on(utcnow().date()),
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


class Offer(db.Model):
    __tablename__ = "offers"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    referral_id: Mapped[str] = mapped_column(ID, ForeignKey("referrals.id"), index=True)
    track_id: Mapped[str] = mapped_column(ID, ForeignKey("tracks.id"), index=True)
    program_id: Mapped[str] = mapped_column(ID, ForeignKey("programs.id"), index=True)
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
        Index("uq_offers_one_accepted", "referral_id", unique=True,
              sqlite_where=text("status = 'accepted'"), postgresql_where=text("status = 'accepted'")),
        Index("uq_offers_pending_program", "referral_id", "program_id", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
        # Seat reads subtract a track's pending offers past expiry; old offers must not be scanned for that.
        Index("ix_offers_pending_track", "track_id", "expires_at",
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
    )


class Placement(db.Model):
    __tablename__ = "placements"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    referral_id: Mapped[str] = mapped_column(ID, ForeignKey("referrals.id"), index=True)
    offer_id: Mapped[str] = mapped_column(ID, ForeignKey("offers.id"), unique=True)
    track_id: Mapped[str] = mapped_column(ID, ForeignKey("tracks.id"), index=True)
    program_id: Mapped[str] = mapped_column(ID, ForeignKey("programs.id"), index=True)
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


class FollowUp(db.Model):
    __tablename__ = "followups"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    # No index of its own: uq_followups_referral_check leads with it (one index less to write per check).
    referral_id: Mapped[str] = mapped_column(ID, ForeignKey("referrals.id"))
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
        Index("ix_followups_pending_due", "due_at", postgresql_where=text("outcome IS NULL"),
              sqlite_where=text("outcome IS NULL")),
        Index("uq_followups_referral_check", "referral_id", "check", unique=True),
    )


class FollowUpContact(db.Model):
    __tablename__ = "followup_contacts"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    followup_id: Mapped[str] = mapped_column(ID, ForeignKey("followups.id"), index=True)
    note: Mapped[str] = mapped_column(Text)
    reached: Mapped[bool] = mapped_column(Boolean)
    recorded_by: Mapped[str] = mapped_column(ID, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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

    __table_args__ = (
        Index("ix_events_undispatched", "seq", postgresql_where=text("dispatched_at IS NULL"),
              sqlite_where=text("dispatched_at IS NULL")),
    )


class Webhook(db.Model):
    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ID, ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSONType)
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
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
        Index("ix_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
    )


class DeliveryAttempt(db.Model):
    __tablename__ = "delivery_attempts"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    delivery_id: Mapped[str] = mapped_column(ID, ForeignKey("webhook_deliveries.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class AuditRecord(db.Model):
    """Who did what to which object, when and from where: append-only (triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_log"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[str | None] = mapped_column(ID)
    organization_id: Mapped[str | None] = mapped_column(ID)
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[str | None] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(10))
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str | None] = mapped_column(String(10))
    path: Mapped[str | None] = mapped_column(String(300))


class IdempotencyRecord(db.Model):
    __tablename__ = "idempotency_keys"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ID)
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_location: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (Index("uq_idempotency_org_key", "organization_id", "key", unique=True),)


class WebSession(db.Model):
    """A signed-in browser: the cookie holds a random token, this row its SHA-256; sign-out revokes the row."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), index=True)
    # The per-session CSRF secret every form of this session carries back.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The absolute timeout: no activity extends a session past this.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # sign_out, idle, expired, password_changed, deactivated
    revoked_reason: Mapped[str | None] = mapped_column(String(20))
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    # One-shot messages for the next page (post/redirect/get), kept server-side with the session.
    notices: Mapped[list | None] = mapped_column(JSONType)

    user: Mapped[User] = relationship(lazy="joined")
