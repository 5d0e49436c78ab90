"""Web passwords: policy, hashing (werkzeug's scrypt) and setting one, which signs the user out everywhere."""

from flask import current_app
from sqlalchemy import update
from werkzeug.security import check_password_hash, generate_password_hash

from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.errors import ValidationFailed
from transitions.identity.models import WebSession

MAX_LENGTH = 1024
# Verified when the email is unknown, so a wrong email costs as long as a wrong password
# and response times do not tell which emails have accounts (one per hash method).
_DUMMY_HASHES = {}


def password_problems(password, email=None):
    """Why a password is not acceptable (NIST SP 800-63B: length over composition rules), or []."""
    minimum = int(current_app.config.get("WEB_PASSWORD_MIN_LENGTH", 12))
    problems = []
    if len(password) < minimum:
        problems.append("Use at least %d characters." % minimum)
    if len(password) > MAX_LENGTH:
        problems.append("Use at most %d characters." % MAX_LENGTH)
    if password.strip() != password or not password.strip():
        problems.append("A password cannot start or end with spaces.")
    if email and password.casefold() == email.casefold():
        problems.append("A password cannot be the email address.")
    return problems


def hash_password(password):
    return generate_password_hash(password, method=current_app.config.get("WEB_PASSWORD_HASH_METHOD") or "scrypt")


def verify_password(user, password):
    """True when the user has this password; always spends one hash, user or not."""
    if len(password) > MAX_LENGTH:
        return False
    if user is None or not user.password_hash:
        method = current_app.config.get("WEB_PASSWORD_HASH_METHOD") or "scrypt"
        if method not in _DUMMY_HASHES:
            _DUMMY_HASHES[method] = generate_password_hash("not a password anyone has", method=method)
        check_password_hash(_DUMMY_HASHES[method], password)
        return False
    return check_password_hash(user.password_hash, password)


def set_password(user, password):
    """Give a user a new password and revoke their open web sessions (the caller commits)."""
    problems = password_problems(password, user.email)
    if problems:
        raise ValidationFailed({"password": problems}, "The password is not acceptable.")
    user.password_hash = hash_password(password)
    revoke_sessions(user, "password_changed")
    db.session.flush()


def revoke_sessions(user, reason):
    db.session.execute(
        update(WebSession)
        .where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
