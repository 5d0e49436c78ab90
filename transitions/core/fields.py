"""Shared marshmallow building blocks: strict schemas, field builders, checks, problems and pages."""

import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from transitions.core import codes, nul
from transitions.core.clock import rfc3339

HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")
PAYER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
PHONE = re.compile(r"^[0-9+().\- x]{7,40}$")
MAX_LIST = 50


class Timestamp(fields.DateTime):
    """RFC 3339 in UTC with a Z, as the API contract fixes."""

    def _serialize(self, value, attr, obj, **kwargs):
        return rfc3339(value)


class StrictSchema(Schema):
    """Unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = RAISE


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


def unique(values, field_name):
    if values is not None and len(set(values)) != len(values):
        raise ValidationError("Duplicate values are not allowed.", field_name)


def check_state(value):
    if value not in codes.us_states():
        raise ValidationError("Not a US state or territory code.")


def check_language(value):
    if value not in codes.iso639_1_codes():
        raise ValidationError("Not an ISO 639-1 language code.")


def check_timezone(value):
    if value not in codes.iana_timezones():
        raise ValidationError("Not an IANA time zone name.")


def check_zip(value):
    if not re.fullmatch(r"\d{5}", value or ""):
        raise ValidationError("A ZIP code is 5 digits.")
    if codes.zip_location(value) is None:
        raise ValidationError("Unknown ZIP code.")


def check_payer(value):
    if not PAYER_ID.match(value):
        raise ValidationError("Payer ids are 1-100 letters, digits, '.', '_', ':' or '-'.")


def check_phone(value):
    if not PHONE.match(value):
        raise ValidationError("Not a phone number.")


# ---------------------------------------------------------------- problems and pages


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.Raw())


class PageQuerySchema(StrictSchema):
    limit = fields.Integer(
        validate=validate.Range(min=1), metadata={"description": "1-500, default 50; larger values are capped."}
    )
    cursor = fields.String(validate=validate.Length(max=500))


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
