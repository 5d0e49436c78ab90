"""Keyset pagination behind the {items, next_cursor} list envelope.

A cursor holds the sort values of the last row of a page, signed with the app's SECRET_KEY so that only a cursor
this service wrote is read back; it is still checked value by value against the list's column types (a leaked key
or a list whose columns changed must not reach the database as a wrong-typed or out-of-range value). Anything else
is a 400, as the contract says of a malformed cursor.
"""

import base64
import hashlib
import json
from datetime import UTC, date, datetime

from flask import current_app
from itsdangerous import BadSignature, Signer
from sqlalchemy import and_, or_
from sqlalchemy.types import TypeDecorator

from transitions.core import nul
from transitions.core.db import db
from transitions.core.errors import DomainError
from transitions.core.fields import CURSOR, CURSOR_MAX_LENGTH

SALT = "transitions.pagination.cursor"
# The widest integer either database stores (PostgreSQL BIGINT; SQLite INTEGER is 64-bit too).
INT64 = range(-(2**63), 2**63)


class MalformedCursor(DomainError):
    status, type, title = 400, "malformed-request", "Bad Request"

    def __init__(self):
        super().__init__("The cursor is invalid.", errors={"cursor": ["Not a cursor this list returned."]})


def page_size(args):
    requested = args.get("limit") or current_app.config["PAGE_SIZE_DEFAULT"]
    return min(requested, current_app.config["PAGE_SIZE_MAX"])


def _signer():
    return Signer(current_app.config["SECRET_KEY"], salt=SALT, digest_method=hashlib.sha256)


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def encode_cursor(values):
    """An opaque, signed cursor holding the sort values of the last row of a page."""
    payload = json.dumps([_plain(v) for v in values], separators=(",", ":")).encode()
    return _signer().sign(base64.urlsafe_b64encode(payload).rstrip(b"=")).decode("ascii")


def decode_cursor(cursor, columns):
    """The sort values an encode_cursor cursor holds, typed like the columns; anything else is a MalformedCursor."""
    if not isinstance(cursor, str) or len(cursor) > CURSOR_MAX_LENGTH or CURSOR.fullmatch(cursor) is None:
        raise MalformedCursor()
    try:
        payload = _signer().unsign(cursor.encode("ascii"))
        values = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
    except (BadSignature, ValueError):  # binascii.Error, JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise MalformedCursor() from None
    if not isinstance(values, list) or len(values) != len(columns):
        raise MalformedCursor()
    return [_typed(column, value) for column, value in zip(columns, values, strict=True)]


def _typed(column, value):
    """A cursor value as the column's Python type, or MalformedCursor when it cannot be one the database takes."""
    column_type = column.type
    if isinstance(column_type, TypeDecorator):  # UTCDateTime: the type it stores as
        column_type = column_type.impl_instance
    kind = column_type.python_type  # NotImplementedError for an untyped column: a bug in the list, not bad input
    try:
        if kind is datetime:
            if not isinstance(value, str):
                raise ValueError
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError
            return moment.astimezone(UTC)  # OverflowError past year 9999 or before year 1
        if kind is date:
            if not isinstance(value, str):
                raise ValueError
            return date.fromisoformat(value)
        if kind is str:
            length = getattr(column_type, "length", None)
            if not isinstance(value, str) or nul.text_problem(value) or (length and len(value) > length):
                raise ValueError
            return value
        if kind is int:
            if not isinstance(value, int) or isinstance(value, bool) or value not in INT64:
                raise ValueError
            return value
    except (ValueError, OverflowError):
        raise MalformedCursor() from None
    raise TypeError("no cursor rule for %r columns (%s)" % (kind, column))


def after_cursor(columns, values, descending=False):
    """Rows strictly after the cursor in (c1, c2, ...) order, spelled out so column types bind the values."""
    clauses = []
    for index, column in enumerate(columns):
        equal_before = [columns[i] == values[i] for i in range(index)]
        beyond = column < values[index] if descending else column > values[index]
        clauses.append(and_(*equal_before, beyond))
    return or_(*clauses)


def keyset_page(query, columns, args, descending=False):
    """Run one page of query ordered by columns; returns (rows, next_cursor)."""
    limit = page_size(args)
    if args.get("cursor"):
        query = query.where(after_cursor(columns, decode_cursor(args["cursor"], columns), descending))
    query = query.order_by(*[c.desc() if descending else c.asc() for c in columns]).limit(limit + 1)
    rows = db.session.scalars(query).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, c.key) for c in columns])
    return rows, next_cursor
