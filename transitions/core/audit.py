"""Append-only audit trail of every read and write of patient records, written with the request's outcome."""

import re
import uuid

from flask import current_app, g, has_request_context, request
from sqlalchemy import insert

from transitions.core import nul
from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.models import AuditRecord
from transitions.core.types import new_id

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id():
    """The caller's X-Request-ID when it is sane, else one of ours; echoed on the response."""
    if "request_id" not in g:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    return g.request_id


def client_address():
    hops = int(current_app.config.get("TRUSTED_PROXIES") or 0)
    if hops > 0:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops][:64]
    return (request.remote_addr or "")[:64]


def record(action, object_type, object_id, outcome="allowed", user=None):
    """Queue an audit row; the request's unit of work writes it whether the request succeeds or not.

    In a request the row is a plain dict, and every row of the request is written by one multi-row INSERT at its
    end (write_pending): an ORM object per row cost a read a tenth of its work. Outside a request (a job, the
    command line) the row joins the session like any other.
    """
    if user is None:
        user = g.get("user")
    row = {
        "id": new_id(),
        "at": utcnow(),
        "user_id": user.id if user else None,
        "organization_id": user.organization_id if user else None,
        "action": action,
        "object_type": object_type,
        # PostgreSQL text cannot hold NUL, and a probe may put one in a path: keep the rest of what was asked.
        "object_id": nul.without_nul(object_id),
        "outcome": outcome,
    }
    if has_request_context():
        row["request_id"] = request_id()
        row["client_address"] = client_address()
        row["method"] = request.method
        row["path"] = nul.without_nul(request.path)[:300]
        g.setdefault("audit_rows", []).append(row)
    else:
        db.session.add(AuditRecord(**row))
    return row


def pending_rows():
    return g.get("audit_rows", [])


def write_pending():
    """Insert the request's queued rows, all in one statement, in the session's transaction."""
    rows = pending_rows()
    if rows:
        db.session.execute(_INSERT, rows)


_INSERT = insert(AuditRecord.__table__)  # built once, its cache key with it


def mark_failed(status_code):
    """A write that was rolled back is recorded as failed, not as allowed."""
    for row in pending_rows():
        if row["outcome"] == "allowed":
            row["outcome"] = "denied" if status_code in (401, 403, 404) else "failed"
