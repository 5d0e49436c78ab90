"""CSRF tokens for every web form: the session's secret once signed in, a signed double-submit cookie before."""

import hashlib
import hmac
import secrets

from flask import current_app, g, request

from transitions.web.sessions import LOGIN_CSRF_COOKIE

FIELD = "csrf_token"


class CsrfFailure(Exception):
    """The form did not carry this session's token: refused before the view runs, nothing changes."""


def _login_token(secret):
    key = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(key, b"sign-in:" + secret.encode("utf-8"), hashlib.sha256).hexdigest()


def token():
    """The token to put in a form on this page."""
    row = g.get("web_session")
    if row is not None and row.revoked_at is None:
        return row.csrf_token
    # Before sign-in: a random secret in a cookie, and its HMAC in the form. A cross-site page can
    # neither read the cookie nor compute the HMAC, so it cannot forge a sign-in (login CSRF).
    secret = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not secret or len(secret) > 100:
        secret = g.get("set_login_csrf_cookie") or secrets.token_urlsafe(32)
        g.set_login_csrf_cookie = secret
    return _login_token(secret)


def verify(session_row):
    """Check a POST's token against the session (or, with no session, the sign-in cookie); raise CsrfFailure."""
    sent = request.form.get(FIELD, "")
    if not sent or len(sent) > 200:
        raise CsrfFailure("The form has no security token.")
    if session_row is not None:
        expected = session_row.csrf_token
    else:
        secret = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not secret or len(secret) > 100:
            raise CsrfFailure("The sign-in form's security cookie is missing.")
        expected = _login_token(secret)
    if not hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8")):
        raise CsrfFailure("The form's security token does not match this session.")
