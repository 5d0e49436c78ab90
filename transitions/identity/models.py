"""Tables of identity: organizations, their users and the users' web sessions."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.types import ID, JSONType, UTCDateTime, new_id

# The kinds an admin may create (SPEC); the platform's own organization, which holds the operators' admins and no
# customer's users, is the one organization of kind "platform", made by create-admin only.
ORG_KINDS = ("hospital", "residential", "health_plan", "iop_provider")
PLATFORM_KIND = "platform"
# The kinds whose ADT feeds (HL7 v2 discharges and admissions) the service accepts.
HL7_FACILITY_KINDS = ("hospital", "residential")
DEFAULT_ORGANIZATION_TIMEZONE = "UTC"
# The acting user of every change an ADT feed makes: one per facility organization, a discharge planner of it (so
# the same policy that lets its planners change a referral lets the feed), never able to sign in (inactive, a token
# nobody holds, no password). Its address is what the timeline shows as the actor.
ADT_FEED_EMAIL = "adt-feed+%s@hl7.invalid"
ROLES = ("discharge_planner", "case_manager", "iop_coordinator", "admin")
# Which organization kinds a role may belong to; admins may sit in any org.
ROLE_ORG_KINDS = {
    "discharge_planner": ("hospital", "residential"),
    "case_manager": ("health_plan",),
    "iop_coordinator": ("iop_provider",),
    "admin": (*ORG_KINDS, PLATFORM_KIND),
}


class Organization(db.Model):
    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    payer_ids: Mapped[list] = mapped_column(JSONType, default=list)
    # The HL7 v2 sending facilities (MSH-4) whose ADT messages speak for this hospital or residential organization;
    # one facility id belongs to one organization (the service checks it on every change).
    hl7_facility_ids: Mapped[list] = mapped_column(JSONType, default=list)
    # The IANA zone every time on its users' pages is shown in (named beside it); UTC until an admin sets one.
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_ORGANIZATION_TIMEZONE)
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


def is_adt_feed(user):
    """The organization's ADT feed user, not a person."""
    return not user.active and user.email == ADT_FEED_EMAIL % user.organization_id
