"""Bearer-token authentication of API requests, and the decorators that admit only the roles a policy names."""

from functools import wraps

from flask import g, request

from transitions.core.errors import Forbidden, Unauthorized
from transitions.identity import tokens


def _token_from_header():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def load_user_from_request():
    """Resolve the Authorization header to an active user, or None."""
    return tokens.active_user(_token_from_header())


def current_user():
    """The authenticated user; raises 401 if the request carries no valid token."""
    if "user" not in g:
        g.user = load_user_from_request()
    if g.user is None:
        raise Unauthorized("A valid bearer token is required.")
    return g.user


def permits(policy):
    """Deny by default: only the roles the policy names reach the view (403 before the body is read)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not policy.allows(current_user()):
                raise Forbidden("This action needs one of the roles: %s." % ", ".join(policy.roles))
            return view(*args, **kwargs)

        return wrapper

    return decorator


def require_authentication():
    """Blueprint before_request hook: every API call but the probes needs a valid token, checked first."""
    current_user()
