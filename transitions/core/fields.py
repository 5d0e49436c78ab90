"""Shared marshmallow building blocks: strict schemas, field builders, checks, problems and pages."""

import re
from datetime import date

from flask import g, has_request_context
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from transitions.core import codes, nul
from transitions.core.clock import rfc3339

# Patterns are written for both Python and the OpenAPI document (ECMA-262): ASCII classes, since Python's \d also
# matches other scripts' digits; and where a pattern is used with re.match (marshmallow's Regexp), the end of the
# text is (?![\s\S]), because Python's $ also matches before a final newline and would let "18:00\n" through.
HHMM = re.compile(r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)(?![\s\S])")
PAYER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
PHONE = re.compile(r"^[0-9+().\- x]{7,40}$")
ZIP = re.compile(r"^[0-9]{5}$")
US_STATE = re.compile(r"^[A-Z]{2}$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
TIME_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]{0,40}(?:/[A-Za-z0-9_+-]{1,40}){0,3}$")
# What encode_cursor writes: URL-safe base64 of the values, a dot, URL-safe base64 of their signature; or nothing
# (an empty cursor asks for the first page, as no cursor does).
CURSOR = re.compile(r"^(?:[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{1,100})?$")
CURSOR_MAX_LENGTH = 500
MAX_LIST = 50
# The days a referral, a consent or a cohort can fall on. Year 1 and year 9999 are valid dates, but date arithmetic
# on them (a follow-up 180 days after discharge, a cohort 89 days before its end) overflows: they are refused here.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2199, 12, 31)


class Timestamp(fields.DateTime):
    """RFC 3339 in UTC with a Z, as the API contract fixes."""

    def _serialize(self, value, attr, obj, **kwargs):
        return rfc3339(value)


class StrictSchema(Schema):
    """Unknown fields are an error, never silently dropped; in a JSON body, booleans and numbers must be JSON's."""

    class Meta:
        unknown = RAISE

    @pre_load
    def json_types(self, data, **kwargs):
        """marshmallow reads 1 and "yes" as true and "5" as 5, which the web forms rely on; a JSON body (the API says
        so in g.json_body) means its own types, as the OpenAPI document states them. Nested schemas check their own
        objects; query strings are not dicts and keep marshmallow's readings."""
        if not (isinstance(data, dict) and has_request_context() and g.get("json_body")):
            return data
        errors = {}
        for key, field in _json_typed_fields(self):
            if key in data and (error := _json_type_error(field, data[key])):
                errors[key] = error
        if errors:
            raise ValidationError(errors)
        return data


def _json_typed_fields(schema):
    """(key, field) of the schema's fields whose JSON type _json_type_error checks, found once per schema instance."""
    typed = schema.__dict__.get("_json_typed_fields")
    if typed is None:
        typed = schema._json_typed_fields = tuple(
            (field.data_key or name, field)
            for name, field in schema.load_fields.items()
            if isinstance(field, fields.Boolean | fields.Number | fields.List)
        )
    return typed


def _json_type_error(field, value):
    if value is None:
        return None  # allow_none is for the field to judge
    if isinstance(field, fields.Boolean) and not isinstance(value, bool):
        return ["Not a valid boolean."]
    if isinstance(field, fields.Number) and (isinstance(value, bool) or not isinstance(value, int | float)):
        return ["Not a valid number."]
    if isinstance(field, fields.List) and isinstance(value, list):
        errors = {index: error for index, item in enumerate(value) if (error := _json_type_error(field.inner, item))}
        return errors or None
    return None


def Text(max_length, **kwargs):
    """A trimmed string with a length limit; blank is not a value."""
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


def StringList(inner_validate=None, max_items=MAX_LIST, min_items=0, **kwargs):
    return fields.List(
        fields.String(validate=inner_validate), validate=validate.Length(min=min_items, max=max_items), **kwargs
    )


def no_nul(value):
    """A field check: NUL in a text value is a 422 here rather than a database error later."""
    if nul.has_nul(value):
        raise ValidationError(nul.MESSAGE)


def Id(**kwargs):
    """An object id in a request: 1-36 characters, no NUL."""
    return fields.String(validate=[validate.Length(min=1, max=36), no_nul], **kwargs)


class DayCheck:
    """A field check for dates: between EARLIEST_DAY and LATEST_DAY. Its `regex` (the same years) is for the OpenAPI
    document, where apispec renders it as the field's pattern; the check itself compares dates."""

    regex = re.compile(r"^(?:19[0-9]{2}|2[01][0-9]{2})-[0-9]{2}-[0-9]{2}$")

    def __call__(self, value):
        if not EARLIEST_DAY <= value <= LATEST_DAY:
            raise ValidationError("Dates run from %s to %s." % (EARLIEST_DAY.isoformat(), LATEST_DAY.isoformat()))
        return True


check_day = DayCheck()


def Day(validate=None, **kwargs):
    """A date (YYYY-MM-DD) in request input, from EARLIEST_DAY to LATEST_DAY; `validate` adds checks."""
    checks = validate if isinstance(validate, list | tuple) else [validate] if validate else []
    return fields.Date(validate=[check_day, *checks], **kwargs)


def unique(values, field_name):
    if values is not None and len(set(values)) != len(values):
        raise ValidationError("Duplicate values are not allowed.", field_name)


class PatternCheck:
    """A field check whose shape the OpenAPI document shows: apispec renders a validator's `regex` as the field's
    `pattern`, so clients (and fuzzers) see the shape; `known` is the rest of the check (a ZIP that exists, a real
    zone), which no pattern can say."""

    def __init__(self, regex, message, known=None, unknown_message=None):
        self.regex = regex
        self.message = message
        self.known = known
        self.unknown_message = unknown_message or message

    def __call__(self, value):
        # fullmatch: the whole text must have the shape, a final newline included.
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self.message)
        if self.known is not None and not self.known(value):
            raise ValidationError(self.unknown_message)
        return True


check_state = PatternCheck(US_STATE, "Not a US state or territory code.", lambda value: value in codes.us_states())
check_language = PatternCheck(
    LANGUAGE, "Not an ISO 639-1 language code.", lambda value: value in codes.iso639_1_codes()
)
check_timezone = PatternCheck(TIME_ZONE, "Not an IANA time zone name.", lambda value: value in codes.iana_timezones())
check_zip = PatternCheck(
    ZIP, "A ZIP code is 5 digits.", lambda value: codes.zip_location(value) is not None, "Unknown ZIP code."
)
check_payer = PatternCheck(PAYER_ID, "Payer ids are 1-100 letters, digits, '.', '_', ':' or '-'.")
check_phone = PatternCheck(PHONE, "Not a phone number.")


# ---------------------------------------------------------------- problems and pages


class ProblemSchema(Schema):
    """An RFC 9457 problem: the standard members, `errors` on a validation failure, and every extension member a
    domain error carries (grep `extra`): declared one by one, so the document allows exactly what the server sends."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "On a validation failure: the messages per field (nested for nested fields)."},
    )
    current_status = fields.String(metadata={"description": "The referral's status when the request conflicted."})
    rule = fields.String(metadata={"description": "The rule that refused the request, e.g. part2_consent."})
    existing_referral_id = fields.String(metadata={"description": "The open referral this one would duplicate."})
    existing_status = fields.String(metadata={"description": "That referral's status."})
    offer_status = fields.String(metadata={"description": "The offer's status when the request conflicted."})
    offer_id = fields.String(metadata={"description": "The pending offer to the same program."})
    pending_offers = fields.List(fields.String(), metadata={"description": "The referral's pending offers."})
    track_id = fields.String(metadata={"description": "The track without an open seat."})
    failed = fields.List(fields.String(), metadata={"description": "The matching rules an offered track fails."})
    placement_status = fields.String(metadata={"description": "The placement's status when the request conflicted."})
    outcome = fields.String(allow_none=True, metadata={"description": "The ended placement's outcome."})
    attendance_id = fields.String(metadata={"description": "The attendance already recorded for that day."})
    attendance_status = fields.String(metadata={"description": "Its status."})
    occupied = fields.Integer(metadata={"description": "Seats taken, when a capacity would fall below them."})
    held = fields.Integer(metadata={"description": "Seats held by pending offers, likewise."})
    program_id = fields.String(metadata={"description": "The program concerned (unconfirmed, or already claimed)."})
    organization_id = fields.String(metadata={"description": "The organization that already holds the program."})
    hl7_facility_id = fields.String(metadata={"description": "The HL7 facility id another organization registered."})


class PageQuerySchema(StrictSchema):
    limit = fields.Integer(
        validate=validate.Range(min=1), metadata={"description": "1-500, default 50; larger values are capped."}
    )
    # The pattern and length are documented, not checked here: a malformed cursor is a 400 (decode_cursor says
    # so), where a failure of this schema would be a 422.
    cursor = fields.String(
        metadata={
            "description": "The next_cursor of the previous page, as returned; empty or absent: the first page.",
            "pattern": CURSOR.pattern,
            "maxLength": CURSOR_MAX_LENGTH,
        }
    )


def page_of(item_schema, name):
    """A {items, next_cursor} envelope schema, named for the OpenAPI document."""
    return type(
        name,
        (Schema,),
        {"items": fields.List(fields.Nested(item_schema)), "next_cursor": fields.String(allow_none=True)},
    )


class AuditSchema(Schema):
    id = fields.String()
    at = Timestamp()
    user_id = fields.String(allow_none=True)
    organization_id = fields.String(allow_none=True)
    action = fields.String()
    object_type = fields.String()
    object_id = fields.String(allow_none=True)
    outcome = fields.String()
    request_id = fields.String(allow_none=True)
    client_address = fields.String(allow_none=True)
    method = fields.String(allow_none=True)
    path = fields.String(allow_none=True)


class AuditQuerySchema(PageQuerySchema):
    object_type = fields.String(validate=validate.Length(max=30))
    object_id = fields.String(validate=validate.Length(max=64))
    user_id = fields.String(validate=validate.Length(max=36))
    outcome = fields.String(validate=validate.OneOf(("allowed", "denied", "failed")))
