"""Bearer tokens: minted at random, stored only as their SHA-256, resolved back to an active user.

Resolving a token costs a query, which was a sixth of a referral read's work. Each process therefore remembers a
resolved token for TOKEN_CACHE_SECONDS (default 5): a token that is revoked, rotated or whose user is deactivated
stops working at once in the process that made the change, and within TOKEN_CACHE_SECONDS in every other process
(another gunicorn worker, another machine). Any change to a user or an organization that this process commits
clears its cache; refused tokens are never remembered, so a new token works at once everywhere.
"""

import hashlib
import hmac
import secrets
import threading
import time
import weakref

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, make_transient_to_detached

from transitions.core.db import db
from transitions.identity.models import Organization, User

TOKEN_PREFIX = "trn_"
# Longer than any token generate_token makes: a longer one is refused without a lookup.
MAX_LENGTH = 200
CACHE_EXTENSION = "transitions.token_cache"
# Enough for every user of a large installation; when full, expired entries go first, then everything.
CACHE_MAX_ENTRIES = 10_000


def generate_token():
    """A 256-bit random bearer token; only its hash is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenCache:
    """Token hash -> a detached copy of its active user (and organization), each until its expiry (monotonic)."""

    def __init__(self, seconds, monotonic=time.monotonic):
        self.seconds = seconds
        self.monotonic = monotonic
        self.entries = {}
        self.lock = threading.Lock()
        _CACHES.add(self)

    def get(self, digest):
        entry = self.entries.get(digest)
        if entry is None:
            return None
        expires_at, template = entry
        if self.monotonic() >= expires_at:
            self.entries.pop(digest, None)
            return None
        return template

    def put(self, digest, template):
        if self.seconds <= 0:
            return
        with self.lock:
            if len(self.entries) >= CACHE_MAX_ENTRIES:
                now = self.monotonic()
                self.entries = {key: entry for key, entry in self.entries.items() if entry[0] > now}
                if len(self.entries) >= CACHE_MAX_ENTRIES:
                    self.entries = {}
            self.entries[digest] = (self.monotonic() + self.seconds, template)

    def clear(self):
        with self.lock:
            self.entries = {}


# Every cache of this process (one per app), so a change made through any app's session clears them all.
_CACHES = weakref.WeakSet()


def token_cache():
    cache = current_app.extensions.get(CACHE_EXTENSION)
    if cache is None:
        cache = current_app.extensions.setdefault(
            CACHE_EXTENSION, TokenCache(float(current_app.config["TOKEN_CACHE_SECONDS"]))
        )
    return cache


def clear_caches():
    for cache in list(_CACHES):
        cache.clear()


def _detached_copy(user):
    """A copy of the user and its organization that belongs to no session, to be merged into each request's."""
    organization = Organization(
        **{
            attribute.key: getattr(user.organization, attribute.key)
            for attribute in Organization.__mapper__.column_attrs
        }
    )
    copy = User(**{attribute.key: getattr(user, attribute.key) for attribute in User.__mapper__.column_attrs})
    copy.organization = organization
    make_transient_to_detached(organization)
    make_transient_to_detached(copy)
    return copy


def active_user(token):
    """The active user this token belongs to, or None."""
    if token is None or len(token) > MAX_LENGTH:
        return None
    digest = hash_token(token)
    cache = token_cache()
    template = cache.get(digest)
    if template is not None:
        # A copy in this request's session, as if loaded (load=False: no query); the cached one stays untouched.
        return db.session.merge(template, load=False)
    user = db.session.scalar(db.select(User).where(User.token_hash == digest))
    if user is None or not user.active or not hmac.compare_digest(user.token_hash, digest):
        return None
    cache.put(digest, _detached_copy(user))
    return user


def _changes_identity(session):
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, (User, Organization)) and session.is_modified(obj):
            return True
    return any(isinstance(obj, User) for obj in session.deleted)


@event.listens_for(Session, "after_flush")
def _forget_changed_users(session, flush_context):
    # Cleared at the flush (this process's next requests already see the change) and again at the commit, in case a
    # concurrent request re-cached the row as it was before this transaction committed.
    if _changes_identity(session):
        session.info["identity_changed"] = True
        clear_caches()


@event.listens_for(Session, "after_commit")
def _forget_committed_changes(session):
    if session.info.pop("identity_changed", False):
        clear_caches()
