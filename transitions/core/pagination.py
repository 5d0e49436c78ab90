"""Keyset pagination behind the {items, next_cursor} list envelope."""

import base64
import json
from datetime import date, datetime

from flask import current_app
from sqlalchemy import Date, String, and_, or_

from transitions.core import nul
from transitions.core.db import db
from transitions.core.errors import ValidationFailed
from transitions.core.types import UTCDateTime


def page_size(args):
    requested = args.get("limit") or current_app.config["PAGE_SIZE_DEFAULT"]
    return min(requested, current_app.config["PAGE_SIZE_MAX"])


def encode_cursor(values):
    """An opaque cursor holding the sort values of the last row of a page."""
    plain = [v.isoformat() if isinstance(v, date) else v for v in values]  # datetime is a date too
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor, columns):
    """The sort values an encode_cursor cursor holds, typed like the columns; a forged or stale one is a 422."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError
        decoded = []
        for column, value in zip(columns, values, strict=True):
            if isinstance(column.type, UTCDateTime):
                value = datetime.fromisoformat(value)
                if value.tzinfo is None:
                    raise ValueError
            elif isinstance(column.type, Date):
                value = date.fromisoformat(value)
            elif isinstance(column.type, String) and not isinstance(value, str):
                # A number compared with a text column is an error on PostgreSQL (a 500), not a page.
                raise ValueError
            elif not isinstance(value, (str, int)) or isinstance(value, bool) or nul.has_nul(value):
                raise ValueError  # a NUL in a text value could only reach PostgreSQL as an error
            decoded.append(value)
        return decoded
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ValidationFailed({"cursor": ["Not a cursor this list returned."]}, "The cursor is invalid.") from None


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
