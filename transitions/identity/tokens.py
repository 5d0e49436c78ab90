"""Bearer tokens: minted at random, stored only as their SHA-256, resolved back to an active user."""

import hashlib
import hmac
import secrets

from transitions.core.db import db
from transitions.identity.models import User

TOKEN_PREFIX = "trn_"
# Longer than any token generate_token makes: a longer one is refused without a lookup.
MAX_LENGTH = 200


def generate_token():
    """A 256-bit random bearer token; only its hash is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def active_user(token):
    """The active user this token belongs to, or None."""
    if token is None or len(token) > MAX_LENGTH:
        return None
    digest = hash_token(token)
    user = db.session.scalar(db.select(User).where(User.token_hash == digest))
    if user is None or not user.active or not hmac.compare_digest(user.token_hash, digest):
        return None
    return user
