"""Sign-in throttling, counted from the audit log's failed sign-ins per email and per client address.

The audit log is the store on purpose: every sign-in attempt must be audited anyway (HIPAA log-in
monitoring), its rows are written even when the request's transaction rolls back, and being in the
database the count holds across gunicorn workers and restarts, which an in-memory limiter does not.
"""

import hashlib
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from transitions.core import audit
from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.models import AuditRecord

ACTION = "web.sign_in"
OBJECT_TYPE = "sign_in"


def email_key(email):
    """What the audit row names: a digest, so the log does not collect the emails people mistype."""
    return hashlib.sha256(email.strip().casefold().encode("utf-8")).hexdigest()


def _window_start():
    return utcnow() - timedelta(seconds=float(current_app.config.get("WEB_LOGIN_WINDOW_SECONDS", 900)))


def _failures(*conditions):
    return (
        db.session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(
                AuditRecord.action == ACTION,
                AuditRecord.object_type == OBJECT_TYPE,
                AuditRecord.outcome == "denied",
                *conditions,
            )
        )
        or 0
    )


def blocked(email):
    """True when this email or this client address has failed too often within the window."""
    since = _window_start()
    key = email_key(email)
    # A successful sign-in clears the email's count; the address's count only ages out.
    last_success = db.session.scalar(
        select(func.max(AuditRecord.at)).where(
            AuditRecord.action == ACTION,
            AuditRecord.object_type == OBJECT_TYPE,
            AuditRecord.object_id == key,
            AuditRecord.outcome == "allowed",
        )
    )
    email_since = max(since, last_success) if last_success is not None else since
    per_email = int(current_app.config.get("WEB_LOGIN_MAX_FAILURES_PER_EMAIL", 5))
    per_address = int(current_app.config.get("WEB_LOGIN_MAX_FAILURES_PER_ADDRESS", 20))
    if _failures(AuditRecord.object_id == key, AuditRecord.at > email_since) >= per_email:
        return True
    address = audit.client_address()
    return bool(address) and _failures(AuditRecord.client_address == address, AuditRecord.at > since) >= per_address


def record(email, user, succeeded):
    """Audit one checked attempt; denied rows are what blocked() counts."""
    audit.record(ACTION, OBJECT_TYPE, email_key(email), outcome="allowed" if succeeded else "denied", user=user)


def record_throttled(email):
    """A refused attempt is audited under its own action, so hammering does not extend the lockout forever."""
    audit.record("web.sign_in_throttled", OBJECT_TYPE, email_key(email), outcome="denied", user=None)
