"""Bearer-token authentication: token minting, hashing, and the current user of a request."""
import hashlib
import hmac
import secrets
from functools import wraps

from flask import g, request

from transitions.core.db import db
from transitions.core.errors import Forbidden, Unauthorized
from transitions.identity.models import User

TOKEN_PREFIX = "trn_"


def generate_token():
    """A 256-bit random bearer token; only its hash is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token_from_header():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def load_user_from_request():
    """Resolve the Authorization header to an active user, or None."""
    token = _token_from_header()
    if token is None or len(token) > 200:
        return None
    digest = hash_token(token)
    user = db.session.scalar(db.select(User).where(User.token_hash == digest))
    if user is None or not user.active or not hmac.compare_digest(user.token_hash, digest):
        return None
    return user


def current_user():
    """The authenticated user; raises 401 if the request carries no valid token."""
    if "user" not in g:
        g.user = load_user_from_request()
    if g.user is None:
        raise Unauthorized("A valid bearer token is required.")
    return g.user


def require_roles(*roles):
    """Deny by default: only the named roles reach the view."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user.role not in roles:
                raise Forbidden("This action needs one of the roles: %s." % ", ".join(roles))
            return view(*args, **kwargs)

        return wrapper

    return decorator


def permits(policy):
    """Deny by default: only the roles the policy names reach the view (403 before the body is read)."""
    return require_roles(*policy.roles)


def authenticated(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        current_user()
        return view(*args, **kwargs)

    return wrapper


def require_authentication():
    """Blueprint before_request hook: every API call but the probes needs a valid token, checked first."""
    current_user()
