"""Marshmallow schemas: the one place request input is validated and response output is shaped."""
import re
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from transitions import codes
from transitions.clock import rfc3339, today
from transitions.models import ORG_KINDS, ORIGINS, REFERRAL_STATUSES, ROLES, SERVICES, WEEKDAYS

HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")
PAYER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
PHONE = re.compile(r"^[0-9+().\- x]{7,40}$")
MAX_LIST = 50


def minutes(hhmm):
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


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
        fields.String(validate=inner_validate),
        validate=validate.Length(min=min_items, max=max_items),
        **kwargs,
    )


def _unique(values, field_name):
    if values is not None and len(set(values)) != len(values):
        raise ValidationError("Duplicate values are not allowed.", field_name)


def _check_state(value):
    if value not in codes.us_states():
        raise ValidationError("Not a US state or territory code.")


def _check_language(value):
    if value not in codes.iso639_1_codes():
        raise ValidationError("Not an ISO 639-1 language code.")


def _check_timezone(value):
    if value not in codes.iana_timezones():
        raise ValidationError("Not an IANA time zone name.")


def _check_zip(value):
    if not re.fullmatch(r"\d{5}", value or ""):
        raise ValidationError("A ZIP code is 5 digits.")
    if codes.zip_location(value) is None:
        raise ValidationError("Unknown ZIP code.")


def _check_payer(value):
    if not PAYER_ID.match(value):
        raise ValidationError("Payer ids are 1-100 letters, digits, '.', '_', ':' or '-'.")


def _check_phone(value):
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
    limit = fields.Integer(validate=validate.Range(min=1), metadata={"description": "1-500, default 50; larger values are capped."})
    cursor = fields.String(validate=validate.Length(max=500))


def page_of(item_schema, name):
    """A {items, next_cursor} envelope schema, named for the OpenAPI document."""
    return type(name, (Schema,), {
        "items": fields.List(fields.Nested(item_schema)),
        "next_cursor": fields.String(allow_none=True),
    })


# ---------------------------------------------------------------- organizations and users


class OrganizationInSchema(StrictSchema):
    name = Text(200, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ORG_KINDS))
    payer_ids = StringList(_check_payer, load_default=list)

    @validates_schema
    def payers_only_for_plans(self, data, **kwargs):
        if data.get("payer_ids") and data.get("kind") != "health_plan":
            raise ValidationError("Only health plans follow payer ids.", "payer_ids")
        _unique(data.get("payer_ids"), "payer_ids")


class OrganizationPatchSchema(StrictSchema):
    name = Text(200)
    payer_ids = StringList(_check_payer)


class OrganizationSchema(Schema):
    id = fields.String()
    name = fields.String()
    kind = fields.String()
    payer_ids = fields.List(fields.String())
    created_at = Timestamp()


class UserInSchema(StrictSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    organization_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class UserSchema(Schema):
    id = fields.String()
    email = fields.String()
    organization_id = fields.String()
    role = fields.String()
    active = fields.Boolean()
    created_at = Timestamp()


class UserWithTokenSchema(UserSchema):
    token = fields.String(metadata={"description": "Shown once; only its hash is stored."})


# ---------------------------------------------------------------- programs and tracks


class ProgramFieldsSchema(StrictSchema):
    """Program fields, all optional: PATCH uses this as is, create adds what is required."""

    name = Text(200)
    zip = fields.String(validate=_check_zip)
    state = fields.String(validate=_check_state)
    phone = fields.String(validate=_check_phone, allow_none=True)
    services = StringList(validate.OneOf(SERVICES), min_items=1, max_items=3)
    min_age = fields.Integer(validate=validate.Range(min=0, max=120))
    max_age = fields.Integer(validate=validate.Range(min=0, max=120))
    gender = fields.String(validate=validate.OneOf(("any", "female", "male")))
    languages = StringList(_check_language, min_items=1)
    interpreter_services = fields.Boolean()
    payers = StringList(_check_payer, max_items=200)
    self_pay = fields.Boolean()
    mat = fields.Boolean()
    accepts_from = StringList(validate.OneOf(ORIGINS), min_items=1, max_items=2)
    telehealth_states = StringList(_check_state, max_items=60)
    active = fields.Boolean()

    @validates_schema
    def consistent(self, data, **kwargs):
        for name in ("services", "languages", "payers", "accepts_from", "telehealth_states"):
            _unique(data.get(name), name)
        if "min_age" in data and "max_age" in data and data["min_age"] > data["max_age"]:
            raise ValidationError("max_age must be at least min_age.", "max_age")


class ProgramInSchema(ProgramFieldsSchema):
    name = Text(200, required=True)
    zip = fields.String(required=True, validate=_check_zip)
    state = fields.String(required=True, validate=_check_state)
    services = StringList(validate.OneOf(SERVICES), min_items=1, max_items=3, required=True)
    min_age = fields.Integer(validate=validate.Range(min=0, max=120), load_default=18)
    max_age = fields.Integer(validate=validate.Range(min=0, max=120), load_default=120)
    gender = fields.String(validate=validate.OneOf(("any", "female", "male")), load_default="any")
    languages = StringList(_check_language, min_items=1, load_default=lambda: ["en"])
    interpreter_services = fields.Boolean(load_default=False)
    payers = StringList(_check_payer, max_items=200, load_default=list)
    self_pay = fields.Boolean(load_default=False)
    mat = fields.Boolean(load_default=False)
    accepts_from = StringList(validate.OneOf(ORIGINS), min_items=1, max_items=2,
                              load_default=lambda: list(ORIGINS))
    telehealth_states = StringList(_check_state, max_items=60, load_default=list)
    active = fields.Boolean(load_default=True)
    organization_id = fields.String(validate=validate.Length(min=1, max=36),
                                    metadata={"description": "Admins only: the provider org that owns it."})


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
    tracks = fields.List(fields.Nested(TrackSummarySchema))
    created_at = Timestamp()
    updated_at = Timestamp()


class ProgramListQuerySchema(PageQuerySchema):
    state = fields.String(validate=_check_state)
    service = fields.String(validate=validate.OneOf(SERVICES))
    active = fields.Boolean()
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
                raise ValidationError(
                    "end must be after start; split a window that crosses midnight at 24:00.", "end")


def _check_no_overlap(windows, field_name):
    by_day = {}
    for window in windows or []:
        by_day.setdefault(window["day"], []).append((minutes(window["start"]), minutes(window["end"])))
    for spans in by_day.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            if start < end:
                raise ValidationError("Windows on the same day overlap.", field_name)


class TrackFieldsSchema(StrictSchema):
    name = Text(200)
    modality = fields.String(validate=validate.OneOf(("in_person", "telehealth")))
    timezone = fields.String(validate=_check_timezone)
    sessions = fields.List(fields.Nested(WeeklyWindowSchema), validate=validate.Length(min=1, max=21))
    capacity = fields.Integer(validate=validate.Range(min=1, max=10000))
    intake_days = StringList(validate.OneOf(WEEKDAYS), min_items=1, max_items=7)
    active = fields.Boolean()

    @validates_schema
    def consistent(self, data, **kwargs):
        sessions = data.get("sessions")
        if sessions:
            _check_no_overlap(sessions, "sessions")
            hours = sum(minutes(s["end"]) - minutes(s["start"]) for s in sessions) / 60
            if hours < 6 or hours > 30:
                raise ValidationError(
                    "An IOP track meets 6 to 30 hours a week; these sessions add up to %g." % round(hours, 2),
                    "sessions")
        _unique(data.get("intake_days"), "intake_days")
        if sessions and data.get("intake_days"):
            session_days = {s["day"] for s in sessions}
            stray = [d for d in data["intake_days"] if d not in session_days]
            if stray:
                raise ValidationError("Intake days must be session days: %s." % ", ".join(stray), "intake_days")


class TrackInSchema(TrackFieldsSchema):
    name = Text(200, required=True)
    modality = fields.String(required=True, validate=validate.OneOf(("in_person", "telehealth")))
    timezone = fields.String(required=True, validate=_check_timezone)
    sessions = fields.List(fields.Nested(WeeklyWindowSchema), required=True,
                           validate=validate.Length(min=1, max=21))
    capacity = fields.Integer(required=True, validate=validate.Range(min=1, max=10000))


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


# ---------------------------------------------------------------- referrals


class PatientInSchema(StrictSchema):
    given_name = Text(100, required=True)
    family_name = Text(100, required=True)
    birth_date = fields.Date(required=True)
    gender = fields.String(required=True, validate=validate.OneOf(("female", "male", "nonbinary", "unknown")))
    language = fields.String(required=True, validate=_check_language)
    zip = fields.String(required=True, validate=_check_zip)
    phone = fields.String(validate=_check_phone, allow_none=True)

    @pre_load
    def trim_names(self, data, **kwargs):
        if isinstance(data, dict):
            data = dict(data)
            for key in ("given_name", "family_name"):
                if isinstance(data.get(key), str):
                    data[key] = " ".join(data[key].split())
        return data

    @validates("birth_date")
    def plausible_birth_date(self, value, **kwargs):
        if value > today():
            raise ValidationError("A birth date cannot be in the future.")
        if value.year < 1900:
            raise ValidationError("A birth date before 1900 is not plausible.")


class CoverageInSchema(StrictSchema):
    payer_id = fields.String(validate=_check_payer)
    member_id = Text(100)
    self_pay = fields.Boolean()

    @validates_schema
    def payer_or_self_pay(self, data, **kwargs):
        if data.get("self_pay"):
            if "payer_id" in data or "member_id" in data:
                raise ValidationError("Give either {payer_id, member_id} or {self_pay: true}.", "self_pay")
            return
        if "payer_id" not in data:
            raise ValidationError("payer_id is required unless self_pay is true.", "payer_id")
        if "member_id" not in data:
            raise ValidationError("member_id is required with a payer_id.", "member_id")


class ConsentInSchema(StrictSchema):
    signed_on = fields.Date(required=True)
    expires_on = fields.Date(allow_none=True)

    @validates_schema
    def dates_in_order(self, data, **kwargs):
        signed = data.get("signed_on")
        if signed and signed > today():
            raise ValidationError("A consent cannot be signed in the future.", "signed_on")
        expires = data.get("expires_on")
        if signed and expires and expires < signed:
            raise ValidationError("expires_on is before signed_on.", "expires_on")


def _check_diagnoses(values):
    problems = {}
    for index, code in enumerate(values):
        problem = codes.icd10_problem(code)
        if problem:
            problems[index] = ["%s: %s" % (code, problem)]
    if problems:
        raise ValidationError(problems)


class ReferralFieldsSchema(StrictSchema):
    """Referral fields, all optional: PATCH uses it as is; create adds what is required."""

    patient = fields.Nested(PatientInSchema)
    coverage = fields.Nested(CoverageInSchema)
    origin = fields.String(validate=validate.OneOf(ORIGINS))
    need = fields.String(validate=validate.OneOf(SERVICES))
    diagnoses = fields.List(fields.String(validate=validate.Length(max=10)),
                            validate=[validate.Length(min=1, max=25), _check_diagnoses])
    needs_mat = fields.Boolean()
    discharge_date = fields.Date()
    availability = fields.List(fields.Nested(WeeklyWindowSchema), allow_none=True,
                               validate=validate.Length(max=50))
    timezone = fields.String(validate=_check_timezone)
    modality = fields.String(validate=validate.OneOf(("in_person", "telehealth", "either")))
    max_travel_miles = fields.Float(validate=validate.Range(min=0, max=500, min_inclusive=False),
                                    allow_none=True, allow_nan=False)
    part2_consent = fields.Nested(ConsentInSchema, allow_none=True)
    notes = fields.String(validate=validate.Length(max=5000), allow_none=True)
    share_notes = fields.Boolean(metadata={"description": "Show notes to IOP coordinators offered this patient."})
    auto_cascade = fields.Boolean(metadata={"description": "On decline or expiry, offer the next best match."})

    @validates("discharge_date")
    def discharge_date_plausible(self, value, **kwargs):
        if abs((value - today()).days) > 366:
            raise ValidationError("The discharge date must be within a year of today.")

    @validates_schema
    def consistent(self, data, **kwargs):
        if data.get("availability"):
            _check_no_overlap(data["availability"], "availability")
        if data.get("diagnoses"):
            normalized = [codes.normalize_icd10(code) for code in data["diagnoses"]]
            _unique(normalized, "diagnoses")

    @post_load
    def normalize(self, data, **kwargs):
        if data.get("diagnoses"):
            data["diagnoses"] = [codes.normalize_icd10(code) for code in data["diagnoses"]]
        return data


class ReferralInSchema(ReferralFieldsSchema):
    patient = fields.Nested(PatientInSchema, required=True)
    coverage = fields.Nested(CoverageInSchema, required=True)
    origin = fields.String(required=True, validate=validate.OneOf(ORIGINS))
    need = fields.String(required=True, validate=validate.OneOf(SERVICES))
    diagnoses = fields.List(fields.String(validate=validate.Length(max=10)), required=True,
                            validate=[validate.Length(min=1, max=25), _check_diagnoses])
    needs_mat = fields.Boolean(load_default=False)
    discharge_date = fields.Date(required=True)
    timezone = fields.String(required=True, validate=_check_timezone)
    modality = fields.String(load_default="either", validate=validate.OneOf(("in_person", "telehealth", "either")))


class CancelInSchema(StrictSchema):
    reason = fields.String(validate=validate.Length(max=500), load_default=None, allow_none=True)


class PatientSchema(Schema):
    given_name = fields.String()
    family_name = fields.String()
    birth_date = fields.Date()
    gender = fields.String()
    language = fields.String()
    zip = fields.String()
    phone = fields.String(allow_none=True)


class CoverageSchema(Schema):
    payer_id = fields.String(allow_none=True)
    member_id = fields.String(allow_none=True)
    self_pay = fields.Boolean()


class ConsentSchema(Schema):
    signed_on = fields.Date(allow_none=True)
    expires_on = fields.Date(allow_none=True)
    revoked_at = Timestamp(allow_none=True)
    current = fields.Boolean()


class ReferralSchema(Schema):
    """The referral as its own org, its health plan and admins see it."""

    id = fields.String()
    organization_id = fields.String()
    status = fields.String(validate=validate.OneOf(REFERRAL_STATUSES))
    patient = fields.Nested(PatientSchema)
    coverage = fields.Nested(CoverageSchema)
    origin = fields.String()
    need = fields.String()
    diagnoses = fields.List(fields.String())
    needs_mat = fields.Boolean()
    discharge_date = fields.Date()
    availability = fields.List(fields.Nested(WeeklyWindowOutSchema), allow_none=True)
    timezone = fields.String()
    modality = fields.String()
    max_travel_miles = fields.Float(allow_none=True)
    part2_consent = fields.Nested(ConsentSchema, allow_none=True)
    notes = fields.String(allow_none=True)
    share_notes = fields.Boolean()
    auto_cascade = fields.Boolean()
    cancel_reason = fields.String(allow_none=True)
    part2_notice = fields.String(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()


class ProviderPatientSchema(PatientSchema):
    pass


class ProviderCoverageSchema(Schema):
    payer_id = fields.String(allow_none=True)
    self_pay = fields.Boolean()


class ReferralForProviderSchema(Schema):
    """The minimum an IOP coordinator needs to decide on an offer: no member id, no unshared notes."""

    id = fields.String()
    status = fields.String()
    patient = fields.Nested(ProviderPatientSchema)
    coverage = fields.Nested(ProviderCoverageSchema)
    origin = fields.String()
    need = fields.String()
    diagnoses = fields.List(fields.String())
    needs_mat = fields.Boolean()
    discharge_date = fields.Date()
    availability = fields.List(fields.Nested(WeeklyWindowOutSchema), allow_none=True)
    timezone = fields.String()
    modality = fields.String()
    notes = fields.String(allow_none=True, attribute="shared_notes")
    part2_notice = fields.String(allow_none=True)


class ReferralListQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(REFERRAL_STATUSES))
    need = fields.String(validate=validate.OneOf(SERVICES))
    discharge_from = fields.Date()
    discharge_to = fields.Date()
    payer_id = fields.String(validate=_check_payer)


class EventSchema(Schema):
    id = fields.String()
    type = fields.String()
    at = Timestamp(attribute="created_at")
    referral_id = fields.String(allow_none=True)
    subject_type = fields.String(allow_none=True)
    subject_id = fields.String(allow_none=True)
    actor_user_id = fields.String(allow_none=True)
    actor_organization_id = fields.String(allow_none=True, attribute="actor_org_id")
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    data = fields.Dict()


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


# ---------------------------------------------------------------- matching


class MatchQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    include_excluded = fields.Boolean(load_default=False)


class MatchSchema(Schema):
    track_id = fields.String()
    program_id = fields.String()
    program_name = fields.String()
    track_name = fields.String()
    modality = fields.String()
    score = fields.Float()
    distance_miles = fields.Float(allow_none=True)
    first_intake_date = fields.Date()
    misses_7_day_target = fields.Boolean()
    hours_per_week = fields.Float()
    open_seats = fields.Integer()
    reasons = fields.List(fields.String())


class NearMissSchema(Schema):
    track_id = fields.String()
    program_id = fields.String()
    program_name = fields.String()
    distance_miles = fields.Float(allow_none=True)
    failed = fields.List(fields.String())
    reasons = fields.List(fields.String())


class MatchListSchema(Schema):
    items = fields.List(fields.Nested(MatchSchema))
    excluded = fields.Dict(keys=fields.String(), values=fields.Integer())
    near_misses = fields.List(fields.Nested(NearMissSchema))


class AllocationInSchema(StrictSchema):
    referral_ids = fields.List(fields.String(validate=validate.Length(min=1, max=36)),
                               validate=validate.Length(min=1, max=10000))
    apply = fields.Boolean(load_default=False)


class AssignmentSchema(Schema):
    referral_id = fields.String()
    track_id = fields.String()
    program_id = fields.String()
    score = fields.Float()
    first_intake_date = fields.Date()
    offer_id = fields.String(allow_none=True)


class AllocationSchema(Schema):
    applied = fields.Boolean()
    considered = fields.Integer(metadata={"description": "Referrals the plan placed or tried to place."})
    placed = fields.Integer()
    total_score = fields.Float()
    assignments = fields.List(fields.Nested(AssignmentSchema))
    unassigned = fields.List(fields.String(), metadata={"description": "Considered, but no seat fits."})
    errors = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "Referral id → why it was left out of the plan (not found, not waiting for a seat, no "
                       "current Part 2 consent) or, with apply, why its offer was refused."})


# ---------------------------------------------------------------- offers and placements

from transitions.models import ATTENDANCE_STATUSES, DECLINE_REASONS, DISCHARGE_OUTCOMES, OFFER_STATUSES  # noqa: E402


def _no_nul(value):
    # PostgreSQL text cannot hold NUL; refusing it here keeps it a 422 instead of a database error.
    if "\x00" in value:
        raise ValidationError("NUL characters are not allowed.")


def IdField(**kwargs):
    return fields.String(validate=[validate.Length(min=1, max=36), _no_nul], **kwargs)


class OfferInSchema(StrictSchema):
    track_id = IdField(required=True)


class AcceptInSchema(StrictSchema):
    intake_date = fields.Date(required=True, metadata={"description": "One of the track's intake days."})


class DeclineInSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.OneOf(DECLINE_REASONS))
    note = fields.String(validate=[validate.Length(max=2000), _no_nul], allow_none=True, load_default=None)


class EmptyInSchema(StrictSchema):
    """No fields; an empty body or {} is fine, anything else is a typo worth a 422."""


class OfferListQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(OFFER_STATUSES))
    referral_id = IdField()
    program_id = IdField()
    track_id = IdField()


class OfferSchema(Schema):
    """An offer as either side sees it; `referral` is shaped for the viewer (minimum necessary for providers)."""

    id = fields.String()
    referral_id = fields.String()
    track_id = fields.String()
    program_id = fields.String()
    program_name = fields.String()
    track_name = fields.String()
    status = fields.String(validate=validate.OneOf(OFFER_STATUSES),
                           metadata={"description": "A pending offer past expires_at reads as expired."})
    expires_at = Timestamp()
    created_at = Timestamp()
    created_by = fields.String(allow_none=True, metadata={"description": "null for an automatic cascade offer."})
    decided_at = Timestamp(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decline_reason = fields.String(allow_none=True)
    decline_note = fields.String(allow_none=True)
    intake_date = fields.Date(allow_none=True)
    placement_id = fields.String(allow_none=True)
    referral = fields.Dict()
    part2_notice = fields.String(allow_none=True)


class AttendanceInSchema(StrictSchema):
    date = fields.Date(required=True, metadata={"description": "A session day of the track, local to its time zone."})
    status = fields.String(required=True, validate=validate.OneOf(ATTENDANCE_STATUSES))


class AttendanceSchema(Schema):
    id = fields.String()
    placement_id = fields.String()
    date = fields.Date(attribute="session_date")
    status = fields.String()
    recorded_by = fields.String(allow_none=True)
    created_at = Timestamp()


class AttendanceResultSchema(AttendanceSchema):
    referral_status = fields.String()
    missed_in_a_row = fields.Integer()
    lapsed = fields.Boolean(metadata={"description": "This record started an attendance.lapsed warning."})


class PlacementSchema(Schema):
    id = fields.String()
    referral_id = fields.String()
    offer_id = fields.String()
    track_id = fields.String()
    program_id = fields.String()
    intake_date = fields.Date()
    status = fields.String(metadata={"description": "active or discharged"})
    outcome = fields.String(allow_none=True, validate=validate.OneOf(DISCHARGE_OUTCOMES))
    discharged_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    referral_status = fields.String()
    sessions_attended = fields.Integer()
    missed_in_a_row = fields.Integer()
    attendance = fields.List(fields.Nested(AttendanceSchema))
    part2_notice = fields.String(allow_none=True)


class PlacementListQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(("active", "discharged")))
    referral_id = IdField()
    program_id = IdField()


class DischargeInSchema(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(DISCHARGE_OUTCOMES))


class ReadmissionInSchema(StrictSchema):
    date = fields.Date(required=True, metadata={"description": "Day of the readmission (not before discharge)."})
    facility = fields.String(validate=[validate.Length(min=1, max=200), _no_nul], allow_none=True, load_default=None)


class ReadmissionSchema(Schema):
    id = fields.String()
    referral_id = fields.String()
    date = fields.Date(attribute="admitted_on")
    facility = fields.String(allow_none=True)
    classification = fields.String(metadata={"description": "transfer (days 0-2), readmission_30 (3-30) or later."})
    days_after_discharge = fields.Integer()
    referral_status = fields.String()
    created_at = Timestamp()


# ---------------------------------------------------------------- follow-ups, webhooks, dashboards

from transitions.services.followups import CHECKS as FOLLOWUP_CHECKS  # noqa: E402  (the section is appended last)
from transitions.services.webhooks import DELIVERY_STATUSES, EVENTS as WEBHOOK_EVENTS, secret_problem  # noqa: E402


def _no_nul(value):
    # PostgreSQL text cannot hold NUL; refusing it here keeps a stray byte a 422, not a 500.
    if isinstance(value, str) and "\x00" in value:
        raise ValidationError("NUL characters are not allowed.")


def Id(**kwargs):
    return fields.String(validate=[validate.Length(min=1, max=36), _no_nul], **kwargs)


class FollowUpContactSchema(Schema):
    id = fields.String()
    followup_id = fields.String()
    note = fields.String(allow_none=True)
    reached = fields.Boolean()
    recorded_by = fields.String()
    created_at = Timestamp()


class FollowUpSchema(Schema):
    id = fields.String()
    referral_id = fields.String()
    check = fields.String(validate=validate.OneOf(FOLLOWUP_CHECKS))
    due_date = fields.Date()
    due_at = Timestamp(metadata={"description": "When the check's window closes: the end of due_date in the "
                                                "patient's time zone. It is evaluated at the first sweep after."})
    outcome = fields.String(allow_none=True, validate=validate.OneOf(("met", "missed", "not_applicable")))
    evaluated_at = Timestamp(allow_none=True)
    evidence = fields.Dict(allow_none=True, metadata={"description": "Ids, dates and reason codes; no PHI."})
    contacts = fields.List(fields.Nested(FollowUpContactSchema))
    part2_notice = fields.String(allow_none=True)


class FollowUpListQuerySchema(PageQuerySchema):
    due_before = fields.Date(metadata={"description": "Checks due on or before this date."})
    due_after = fields.Date(metadata={"description": "Checks due on or after this date."})
    outcome = fields.String(validate=validate.OneOf(("met", "missed", "not_applicable", "pending")),
                            metadata={"description": "pending = not evaluated yet."})
    check = fields.String(validate=validate.OneOf(FOLLOWUP_CHECKS))
    referral_id = Id()


class FollowUpContactInSchema(StrictSchema):
    note = fields.String(required=True, validate=[validate.Length(min=1, max=4000), _no_nul])
    reached = fields.Boolean(required=True)


def _check_secret(value):
    problem = secret_problem(value)
    if problem:
        raise ValidationError(problem)


def _check_webhook_url(value):
    if "\x00" in value or any(ord(ch) < 32 for ch in value):
        raise ValidationError("A URL cannot contain control characters.")


def WebhookEvents(**kwargs):
    return fields.List(fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
                       validate=validate.Length(min=1, max=len(WEBHOOK_EVENTS)), **kwargs)


class WebhookInSchema(StrictSchema):
    url = fields.String(required=True, validate=[validate.Length(min=1, max=2000), _check_webhook_url])
    events = WebhookEvents(required=True)
    secret = fields.String(validate=[validate.Length(max=200), _check_secret],
                           metadata={"description": "whsec_ + base64 of 24-64 bytes; generated when omitted."})
    organization_id = Id(metadata={"description": "Admins only: the organization it belongs to."})

    @validates_schema
    def distinct_events(self, data, **kwargs):
        _unique(data.get("events"), "events")


class WebhookPatchSchema(StrictSchema):
    url = fields.String(validate=[validate.Length(min=1, max=2000), _check_webhook_url])
    events = WebhookEvents()
    active = fields.Boolean()

    @validates_schema
    def distinct_events(self, data, **kwargs):
        _unique(data.get("events"), "events")


class WebhookSchema(Schema):
    id = fields.String()
    organization_id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    active = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    created_at = Timestamp()


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(metadata={"description": "Shown once, on create."})


class WebhookListQuerySchema(PageQuerySchema):
    organization_id = Id()


class DeliveryAttemptSchema(Schema):
    attempted_at = Timestamp()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)


class DeliverySchema(Schema):
    id = fields.String(metadata={"description": "Also the webhook-id header: the same on every redelivery."})
    webhook_id = fields.String()
    event_id = fields.String()
    event_type = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    attempts = fields.Integer()
    next_attempt_at = Timestamp(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    delivered_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    attempt_log = fields.List(fields.Nested(DeliveryAttemptSchema))


class DeliveryListQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))


class NextCheckSchema(Schema):
    check = fields.String()
    due_date = fields.Date()


class StepdownSchema(Schema):
    referral_id = fields.String()
    organization_id = fields.String()
    status = fields.String()
    need = fields.String()
    payer_id = fields.String(allow_none=True)
    discharge_date = fields.Date()
    days_since_discharge = fields.Integer()
    next_check = fields.Nested(NextCheckSchema, allow_none=True)
    overdue = fields.Boolean(metadata={"description": "A check whose window closed is still not evaluated."})
    overdue_checks = fields.List(fields.String())
    missed = fields.Boolean()
    missed_checks = fields.List(fields.String())
    placement_id = fields.String(allow_none=True)
    program_id = fields.String(allow_none=True)
    intake_date = fields.Date(allow_none=True)
    last_attended_on = fields.Date(allow_none=True)
    last_contact_at = Timestamp(allow_none=True)
    part2_notice = fields.String(allow_none=True)


class StepdownQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(REFERRAL_STATUSES))
    need = fields.String(validate=validate.OneOf(SERVICES))
    overdue = fields.Boolean()
    missed = fields.Boolean()
    discharge_from = fields.Date()
    discharge_to = fields.Date()
    payer_id = fields.String(validate=_check_payer)
    organization_id = Id(metadata={"description": "The referring organization."})


class MetricsQuerySchema(StrictSchema):
    from_ = fields.Date(data_key="from", metadata={"description": "First discharge date of the cohort "
                                                                  "(default: 89 days before `to`)."})
    to = fields.Date(metadata={"description": "Last discharge date of the cohort (default: today)."})
    payer_id = fields.String(validate=_check_payer)
    organization_id = Id(metadata={"description": "The referring organization."})

    @validates_schema
    def ordered(self, data, **kwargs):
        if data.get("from_") and data.get("to"):
            if data["from_"] > data["to"]:
                raise ValidationError("from must not be after to.", "from")
            if (data["to"] - data["from_"]).days > 1096:
                raise ValidationError("A cohort spans at most three years.", "from")


class RateSchema(Schema):
    numerator = fields.Integer()
    denominator = fields.Integer()
    rate = fields.Float(allow_none=True)
    pending = fields.Integer(metadata={"description": "In the cohort, but the measure's window is still open."})


class MedianSchema(Schema):
    value = fields.Float(allow_none=True)
    count = fields.Integer()


class ReadmissionRateSchema(RateSchema):
    transfers = fields.Integer(metadata={"description": "Back in hospital on days 0-2: transfers, not counted."})


class MetricsSchema(Schema):
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    as_of = Timestamp()
    referrals = fields.Integer()
    followup_7 = fields.Nested(RateSchema)
    followup_30 = fields.Nested(RateSchema)
    initiation = fields.Nested(RateSchema)
    engagement = fields.Nested(RateSchema)
    median_days_to_first_session = fields.Nested(MedianSchema)
    offer_acceptance = fields.Nested(RateSchema)
    decline_reasons = fields.Dict(keys=fields.String(), values=fields.Integer())
    readmission_30 = fields.Nested(ReadmissionRateSchema)
