"""Schemas of programs, tracks and seat availability: what the API takes and what it shows."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from transitions.core.clock import minutes_of_day as minutes
from transitions.core.fields import (
    HHMM,
    Id,
    PageQuerySchema,
    StrictSchema,
    StringList,
    Text,
    Timestamp,
    check_language,
    check_payer,
    check_phone,
    check_state,
    check_timezone,
    check_zip,
    unique,
)
from transitions.directory.models import ORIGINS, SERVICES, SOURCES, WEEKDAYS

# ---------------------------------------------------------------- programs and tracks


class ProgramInSchema(StrictSchema):
    """A program to publish; PROGRAM_CHANGES is its PATCH form (every field optional, no defaults, no owner)."""

    name = Text(200, required=True)
    zip = fields.String(required=True, validate=check_zip)
    state = fields.String(required=True, validate=check_state)
    phone = fields.String(validate=check_phone, allow_none=True)
    services = StringList(validate.OneOf(SERVICES), min_items=1, max_items=3, required=True)
    min_age = fields.Integer(validate=validate.Range(min=0, max=120), load_default=18)
    max_age = fields.Integer(validate=validate.Range(min=0, max=120), load_default=120)
    gender = fields.String(validate=validate.OneOf(("any", "female", "male")), load_default="any")
    languages = StringList(check_language, min_items=1, load_default=lambda: ["en"])
    interpreter_services = fields.Boolean(load_default=False)
    payers = StringList(check_payer, max_items=200, load_default=list)
    self_pay = fields.Boolean(load_default=False)
    mat = fields.Boolean(load_default=False)
    accepts_from = StringList(validate.OneOf(ORIGINS), min_items=1, max_items=2, load_default=lambda: list(ORIGINS))
    telehealth_states = StringList(check_state, max_items=60, load_default=list)
    active = fields.Boolean(load_default=True)
    organization_id = Id(metadata={"description": "Admins only: the provider org that owns it."})

    @validates_schema
    def consistent(self, data, **kwargs):
        # On PATCH only the fields sent are checked here; the service checks the ages merged with the stored ones.
        for name in ("services", "languages", "payers", "accepts_from", "telehealth_states"):
            unique(data.get(name), name)
        if "min_age" in data and "max_age" in data and data["min_age"] > data["max_age"]:
            raise ValidationError("max_age must be at least min_age.", "max_age")


# PATCH /programs/{id}: a program's owner never changes, so organization_id is an unknown field there.
PROGRAM_CHANGES = ProgramInSchema(partial=True, exclude=("organization_id",))


class TrackSummarySchema(Schema):
    id = fields.String()
    name = fields.String()
    modality = fields.String()
    hours_per_week = fields.Float()
    capacity = fields.Integer()


class ProgramSchema(Schema):
    id = fields.String()
    organization_id = fields.String()
    name = fields.String()
    zip = fields.String()
    state = fields.String()
    latitude = fields.Float()
    longitude = fields.Float()
    phone = fields.String(allow_none=True)
    services = fields.List(fields.String())
    min_age = fields.Integer()
    max_age = fields.Integer()
    gender = fields.String()
    languages = fields.List(fields.String())
    interpreter_services = fields.Boolean()
    payers = fields.List(fields.String())
    self_pay = fields.Boolean()
    mat = fields.Boolean()
    accepts_from = fields.List(fields.String())
    telehealth_states = fields.List(fields.String())
    active = fields.Boolean()
    source = fields.String(metadata={"description": "samhsa (imported from the national directory) or provider"})
    unconfirmed = fields.Boolean(
        metadata={"description": "Imported and not yet claimed with a published track: listed, never offered."}
    )
    street = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    claimed_at = Timestamp(allow_none=True)
    tracks = fields.List(fields.Nested(TrackSummarySchema))
    created_at = Timestamp()
    updated_at = Timestamp()


class ClaimInSchema(StrictSchema):
    """POST /programs/{id}/claim: the iop_provider organization that runs an imported program."""

    organization_id = Id(required=True)


class ProgramListQuerySchema(PageQuerySchema):
    state = fields.String(validate=check_state)
    service = fields.String(validate=validate.OneOf(SERVICES))
    active = fields.Boolean()
    unconfirmed = fields.Boolean()
    source = fields.String(validate=validate.OneOf(SOURCES))
    organization_id = fields.String(validate=validate.Length(max=36))


class WeeklyWindowSchema(StrictSchema):
    day = fields.String(required=True, validate=validate.OneOf(WEEKDAYS))
    start = fields.String(required=True, validate=validate.Regexp(HHMM, error="Use HH:MM, 24-hour."))
    end = fields.String(required=True, validate=validate.Regexp(HHMM, error="Use HH:MM, 24-hour (24:00 ends a day)."))

    @validates_schema
    def end_after_start(self, data, **kwargs):
        if "start" in data and "end" in data and HHMM.match(data["start"]) and HHMM.match(data["end"]):
            if data["start"] == "24:00":
                raise ValidationError("A window cannot start at 24:00.", "start")
            if minutes(data["end"]) <= minutes(data["start"]):
                raise ValidationError("end must be after start; split a window that crosses midnight at 24:00.", "end")


def check_no_overlap(windows, field_name):
    """Weekly windows on the same day may touch but not overlap."""
    by_day = {}
    for window in windows or []:
        by_day.setdefault(window["day"], []).append((minutes(window["start"]), minutes(window["end"])))
    for spans in by_day.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            if start < end:
                raise ValidationError("Windows on the same day overlap.", field_name)


class TrackInSchema(StrictSchema):
    """A track to add; TRACK_CHANGES is its PATCH form (every field optional)."""

    name = Text(200, required=True)
    modality = fields.String(required=True, validate=validate.OneOf(("in_person", "telehealth")))
    timezone = fields.String(required=True, validate=check_timezone)
    sessions = fields.List(fields.Nested(WeeklyWindowSchema), required=True, validate=validate.Length(min=1, max=21))
    capacity = fields.Integer(required=True, validate=validate.Range(min=1, max=10000))
    intake_days = StringList(validate.OneOf(WEEKDAYS), min_items=1, max_items=7)
    active = fields.Boolean()

    @validates_schema
    def consistent(self, data, **kwargs):
        # On PATCH only the fields sent are checked here; the service checks intake days against the stored sessions.
        sessions = data.get("sessions")
        if sessions:
            check_no_overlap(sessions, "sessions")
            hours = sum(minutes(s["end"]) - minutes(s["start"]) for s in sessions) / 60
            if hours < 6 or hours > 30:
                raise ValidationError(
                    "An IOP track meets 6 to 30 hours a week; these sessions add up to %g." % round(hours, 2),
                    "sessions",
                )
        unique(data.get("intake_days"), "intake_days")
        if sessions and data.get("intake_days"):
            session_days = {s["day"] for s in sessions}
            stray = [d for d in data["intake_days"] if d not in session_days]
            if stray:
                raise ValidationError("Intake days must be session days: %s." % ", ".join(stray), "intake_days")


# PATCH /tracks/{id}.
# Top-level fields only: partial=True would reach into each session and let a half-given one through.
TRACK_CHANGES = TrackInSchema(partial=tuple(TrackInSchema().fields))


class WeeklyWindowOutSchema(Schema):
    day = fields.String()
    start = fields.String()
    end = fields.String()


class TrackSchema(Schema):
    id = fields.String()
    program_id = fields.String()
    name = fields.String()
    modality = fields.String()
    timezone = fields.String()
    sessions = fields.List(fields.Nested(WeeklyWindowOutSchema))
    hours_per_week = fields.Float()
    intake_days = fields.List(fields.String())
    capacity = fields.Integer()
    occupied = fields.Integer()
    held = fields.Integer()
    open = fields.Integer(attribute="open_seats")
    active = fields.Boolean()
    created_at = Timestamp()
    updated_at = Timestamp()


class AvailabilitySchema(Schema):
    capacity = fields.Integer()
    occupied = fields.Integer()
    held = fields.Integer()
    open = fields.Integer()
