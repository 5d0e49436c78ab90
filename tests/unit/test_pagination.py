"""List cursors: what encode_cursor writes decode_cursor reads back, typed like the list's columns; anything else,
signed or not, is a MalformedCursor (a 400), never a value the database would choke on."""

import base64
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from flask import Flask
from sqlalchemy import Column, Date, MetaData, String, Table

from transitions.core.fields import CURSOR
from transitions.core.pagination import MalformedCursor, decode_cursor, encode_cursor
from transitions.core.types import ID, BigInt, UTCDateTime

TABLE = Table(
    "things",
    MetaData(),
    Column("id", ID, primary_key=True),
    Column("at", UTCDateTime),
    Column("day", Date),
    Column("seq", BigInt),
    Column("code", String(5)),
)
AT_ID = [TABLE.c.at, TABLE.c.id]
AT = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def keyed():
    """A bare Flask app for its SECRET_KEY: the cursor's signature is the service's."""
    flask_app = Flask(__name__)
    flask_app.config["SECRET_KEY"] = "unit-test-key"
    with flask_app.app_context():
        yield flask_app


def unsigned(values):
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def test_a_cursor_round_trips_typed_like_its_columns():
    columns = [TABLE.c.at, TABLE.c.day, TABLE.c.seq, TABLE.c.code, TABLE.c.id]
    cursor = encode_cursor([AT, date(2026, 12, 3), 2**63 - 1, "F33.1", "a-id"])
    assert CURSOR.fullmatch(cursor) and len(cursor) <= 500
    assert decode_cursor(cursor, columns) == [AT, date(2026, 12, 3), 2**63 - 1, "F33.1", "a-id"]


def test_a_time_in_another_zone_comes_back_in_utc():
    chicago = AT.astimezone(timezone(timedelta(hours=-6)))
    (back, _) = decode_cursor(encode_cursor([chicago, "x"]), AT_ID)
    assert back == AT and back.utcoffset() == timedelta(0)


def test_another_key_or_a_changed_byte_is_refused(keyed):
    cursor = encode_cursor([AT, "x"])
    payload, signature = cursor.split(".")
    tampered = unsigned([AT.isoformat(), "y"]) + "." + signature
    for forged in (tampered, payload + "." + signature[:-1] + ("A" if signature[-1] != "A" else "B"), payload):
        with pytest.raises(MalformedCursor):
            decode_cursor(forged, AT_ID)
    keyed.config["SECRET_KEY"] = "another-key"
    with pytest.raises(MalformedCursor):
        decode_cursor(cursor, AT_ID)


@pytest.mark.parametrize(
    "values",
    [
        [],
        [AT.isoformat()],
        [AT.isoformat(), "x", "y"],
        [5, "x"],  # a number where a time belongs
        [AT.isoformat(), 5],  # a number where a text id belongs: an error on PostgreSQL
        [True, "x"],
        [None, "x"],
        [{"a": 1}, "x"],
        [[AT.isoformat()], "x"],
        ["2026-12-01T15:30:00", "x"],  # no zone
        ["9999-12-31T23:59:59-05:00", "x"],  # past year 9999 in UTC
        ["0001-01-01T00:00:00+05:00", "x"],  # before year 1 in UTC
        ["2026-13-01T00:00:00+00:00", "x"],
        [AT.isoformat(), "a\x00b"],
        [AT.isoformat(), "\ud800"],
        [AT.isoformat(), "x" * 37],  # longer than the id column
    ],
)
def test_signed_values_of_the_wrong_kind_are_refused(values):
    with pytest.raises(MalformedCursor):
        decode_cursor(encode_cursor(values), AT_ID)


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**64, 1.5, "5", True])
def test_integers_stay_64_bit_integers(value):
    with pytest.raises(MalformedCursor):
        decode_cursor(encode_cursor([value]), [TABLE.c.seq])
    assert decode_cursor(encode_cursor([-(2**63)]), [TABLE.c.seq]) == [-(2**63)]


@pytest.mark.parametrize("value", ["2026-02-30", "2026-12", 20261201, "2026-12-01T00:00:00+00:00"])
def test_dates_are_iso_dates(value):
    with pytest.raises(MalformedCursor):
        decode_cursor(encode_cursor([value]), [TABLE.c.day])


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        ".",
        "abc",
        "abc.",
        ".abc",
        "a.b.c",
        "A" * 501,
        "A" * 300 + "." + "A" * 250,
        "a b.c",
        "%00.x",
        "\x00.x",
        "\ud800.x",
        unsigned([AT.isoformat(), "x"]),
        unsigned([AT.isoformat(), "x"]) + ".c2lnbmF0dXJl",
    ],
)
def test_text_that_is_no_cursor_is_refused(cursor):
    with pytest.raises(MalformedCursor) as refused:
        decode_cursor(cursor, AT_ID)
    assert refused.value.status == 400 and refused.value.errors == {"cursor": ["Not a cursor this list returned."]}


def test_the_documented_pattern_admits_every_cursor_written():
    longest = encode_cursor(["9999-12-31T23:59:59.999999+00:00", "f" * 36])
    assert CURSOR.fullmatch(longest) and len(longest) < 500
    assert CURSOR.fullmatch("")  # an empty cursor asks for the first page
