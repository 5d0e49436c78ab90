"""Server-side sign-in sessions: a random cookie token whose hash keys a row, idle and absolute timeouts, revocation."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app, g, request
from sqlalchemy import delete, or_

from transitions.core import audit
from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.identity.models import WebSession

# The cookie that carries the pre-sign-in CSRF secret (the sign-in form has no session yet).
LOGIN_CSRF_COOKIE = "transitions_signin"


def _digest(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def cookie_name():
    return current_app.config.get("WEB_SESSION_COOKIE") or "transitions_session"


def cookie_secure():
    configured = current_app.config.get("WEB_COOKIE_SECURE")
    if configured is None:
        return not (current_app.debug or current_app.testing)
    return bool(configured)


def idle_timeout():
    return timedelta(seconds=float(current_app.config.get("WEB_IDLE_TIMEOUT_SECONDS", 900)))


def absolute_timeout():
    return timedelta(seconds=float(current_app.config.get("WEB_ABSOLUTE_TIMEOUT_SECONDS", 12 * 3600)))


def start(user):
    """A new session for a user who just proved their password; returns the cookie token (never stored)."""
    now = utcnow()
    # The user's ended sessions go now, so the table holds at most the live ones plus one per user;
    # sign-ins and sign-outs themselves stay in the audit log.
    db.session.execute(
        delete(WebSession)
        .where(WebSession.user_id == user.id, or_(WebSession.revoked_at.is_not(None), WebSession.expires_at <= now))
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    row = WebSession(
        id=_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + absolute_timeout(),
        client_address=audit.client_address(),
        user_agent=(request.user_agent.string or "")[:300] or None,
        notices=[],
    )
    db.session.add(row)
    db.session.flush()
    g.web_session = row
    g.set_session_cookie = token
    return row


def load(touch=True):
    """The request's session as (row, problem): problem is None, 'missing', 'idle', 'expired' or 'revoked'.

    A session past a timeout is revoked here, so a later request with the same cookie finds it revoked.
    touch=False reads it without counting as activity (a page's background refresh is not the user).
    """
    token = request.cookies.get(cookie_name())
    if not token or len(token) > 100:
        return None, "missing"
    row = db.session.get(WebSession, _digest(token))
    if row is None or not hmac.compare_digest(row.id, _digest(token)):
        return None, "missing"
    if row.revoked_at is not None:
        return row, "revoked"
    now = utcnow()
    problem = None
    if not row.user.active:
        problem = "deactivated"
    elif now >= row.expires_at:
        problem = "expired"
    elif now - row.last_seen_at > idle_timeout():
        problem = "idle"
    if problem:
        revoke(row, problem)
        return row, problem
    if touch:
        row.last_seen_at = now
    return row, None


def revoke(row, reason):
    row.revoked_at = utcnow()
    row.revoked_reason = reason[:20]
    g.clear_session_cookie = True


def add_notice(row, text, kind="info"):
    """A message for the next page this session shows (post/redirect/get)."""
    row.notices = list(row.notices or []) + [{"kind": kind, "text": text}]


def pop_notices(row):
    notices = list(row.notices or [])
    if notices:
        row.notices = []
    return notices


def apply_cookies(response):
    """Set or clear the session cookie this request decided on: HttpOnly, SameSite=Lax, Secure unless debugging."""
    token = g.pop("set_session_cookie", None)
    if token:
        response.set_cookie(cookie_name(), token, httponly=True, samesite="Lax", secure=cookie_secure(), path="/")
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/", httponly=True, samesite="Lax", secure=cookie_secure())
    elif g.pop("clear_session_cookie", False):
        response.delete_cookie(cookie_name(), path="/", httponly=True, samesite="Lax", secure=cookie_secure())
    login_secret = g.pop("set_login_csrf_cookie", None)
    if login_secret:
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            login_secret,
            httponly=True,
            samesite="Lax",
            secure=cookie_secure(),
            path="/",
            max_age=3600,
        )
    return response
