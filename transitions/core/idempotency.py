"""Idempotency-Key on POST creates: a replay returns the first response, a changed body is a 409."""

import hashlib
import json
from datetime import timedelta
from functools import wraps

from flask import current_app, g, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.errors import Conflict, DomainError, ValidationFailed
from transitions.core.models import IdempotencyRecord

HEADER = "Idempotency-Key"


def _request_fingerprint():
    """Method, path and body; JSON bodies are compared by meaning, not by whitespace or key order."""
    body = request.get_data(cache=True)
    try:
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        pass
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


def _find(organization_id, key):
    return db.session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.organization_id == organization_id, IdempotencyRecord.key == key
        )
    )


def _replay(record, fingerprint):
    if record.request_hash != fingerprint:
        raise Conflict("This Idempotency-Key was already used with a different request.")
    if record.response_status is None:
        raise Conflict("A request with this Idempotency-Key is still being processed; retry shortly.") from None
    response = current_app.response_class(
        record.response_body, status=record.response_status, mimetype="application/json"
    )
    if record.response_location:
        response.headers["Location"] = record.response_location
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(view):
    """Wrap a create view; the key row is inserted first, so a concurrent twin waits on it and then replays."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not key.strip():
            # A script whose key generator printed nothing (no uuidgen) must hear so, not create without protection.
            raise DomainError(
                "The Idempotency-Key header is empty; send a unique key or leave the header out.",
                errors={HEADER: ["An Idempotency-Key is 1-255 printable characters, not blank."]},
            )
        if not 1 <= len(key) <= 255 or not key.isprintable():
            raise ValidationFailed(
                {HEADER: ["An Idempotency-Key is 1-255 printable characters."]},
                "The Idempotency-Key header is invalid.",
            )
        user = g.user  # the entry point authenticated the request before any view decorator ran
        fingerprint = _request_fingerprint()
        ttl = timedelta(hours=current_app.config["IDEMPOTENCY_TTL_HOURS"])
        existing = _find(user.organization_id, key)
        if existing is not None and existing.created_at < utcnow() - ttl:
            db.session.delete(existing)
            db.session.flush()
            existing = None
        if existing is not None:
            return _replay(existing, fingerprint)
        record = IdempotencyRecord(
            organization_id=user.organization_id, key=key, request_hash=fingerprint, created_at=utcnow()
        )
        try:
            with db.session.begin_nested():
                db.session.add(record)
                db.session.flush()
        except IntegrityError:
            db.session.rollback()
            existing = _find(user.organization_id, key)
            if existing is None:
                raise Conflict("A request with this Idempotency-Key is still being processed; retry shortly.") from None
            return _replay(existing, fingerprint)
        g.idempotency_record = record
        return view(*args, **kwargs)

    return wrapper


def store_instead(body):
    """A view whose response holds a secret names the body to keep for replays instead."""
    g.idempotency_body = json.dumps(body).encode()


def remember_response(response):
    """Called by the unit of work before commit: the stored response commits with the created rows."""
    record = g.pop("idempotency_record", None)
    if record is None:
        return
    record.response_status = response.status_code
    record.response_body = g.pop("idempotency_body", None) or response.get_data()
    record.response_location = response.headers.get("Location")


def purge_expired(now=None):
    cutoff = (now or utcnow()) - timedelta(hours=current_app.config["IDEMPOTENCY_TTL_HOURS"])
    result = db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return result.rowcount
