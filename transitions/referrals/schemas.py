"""Schemas of referrals: input, the full and the provider's view, lists and the timeline."""

from marshmallow import Schema, ValidationError, fields, post_load, pre_load, validate, validates, validates_schema

from transitions.core import codes
from transitions.core.clock import today
from transitions.core.fields import (
    Day,
    PageQuerySchema,
    StrictSchema,
    Text,
    Timestamp,
    check_language,
    check_payer,
    check_phone,
    check_timezone,
    check_zip,
    unique,
)
from transitions.directory.models import ORIGINS, SERVICES
from transitions.directory.schemas import WeeklyWindowOutSchema, WeeklyWindowSchema, check_no_overlap
from transitions.referrals.models import REFERRAL_STATUSES

# ---------------------------------------------------------------- referrals


class PatientInSchema(StrictSchema):
    given_name = Text(100, required=True)
    family_name = Text(100, required=True)
    birth_date = Day(required=True)
    gender = fields.String(required=True, validate=validate.OneOf(("female", "male", "nonbinary", "unknown")))
    language = fields.String(required=True, validate=check_language)
    zip = fields.String(required=True, validate=check_zip)
    phone = fields.String(validate=check_phone, allow_none=True)

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
    payer_id = fields.String(validate=check_payer)
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


# A consent signed longer ago than this is not taken as current: the patient signs again (a Part 2 consent names
# an expiry, and forms are renewed well within this; 0001-01-01 is a typing slip, not a consent).
CONSENT_MAX_AGE_DAYS = 2 * 366


class ConsentInSchema(StrictSchema):
    signed_on = Day(required=True)
    expires_on = Day(allow_none=True)

    @validates_schema
    def dates_in_order(self, data, **kwargs):
        signed = data.get("signed_on")
        if signed and signed > today():
            raise ValidationError("A consent cannot be signed in the future.", "signed_on")
        if signed and (today() - signed).days > CONSENT_MAX_AGE_DAYS:
            raise ValidationError(
                "A consent signed more than two years ago is not current; ask the patient to sign again.", "signed_on"
            )
        expires = data.get("expires_on")
        if signed and expires and expires < signed:
            raise ValidationError("expires_on is before signed_on.", "expires_on")


def _check_diagnoses(values):
    problems = []
    for code in values:
        problem = codes.icd10_problem(code)
        if problem:
            problems.append("%s: %s" % (code, problem))
    if problems:
        raise ValidationError(problems)


class MessageList(fields.List):
    """A list whose errors are one list of messages, as the SPEC's `errors: {field: [messages]}` says, rather than
    marshmallow's {index: [messages]} per item: "item 2: Not a valid string." names the item in the message."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as error:
            raise ValidationError(_item_messages(error.messages)) from None


def _item_messages(messages, label=None):
    if isinstance(messages, dict):
        return [m for key, value in messages.items() for m in _item_messages(value, "item %d" % (int(key) + 1))]
    if isinstance(messages, (list, tuple)):
        return [m for value in messages for m in _item_messages(value, label)]
    return ["%s: %s" % (label, messages) if label else str(messages)]


class ReferralInSchema(StrictSchema):
    """A new referral; REFERRAL_CHANGES is the same schema for PATCH, where every field is optional."""

    patient = fields.Nested(PatientInSchema, required=True)
    coverage = fields.Nested(CoverageInSchema, required=True)
    origin = fields.String(required=True, validate=validate.OneOf(ORIGINS))
    need = fields.String(required=True, validate=validate.OneOf(SERVICES))
    diagnoses = MessageList(
        fields.String(validate=validate.Length(max=10, error="A diagnosis code is at most {max} characters.")),
        required=True,
        validate=[validate.Length(min=1, max=25), _check_diagnoses],
    )
    needs_mat = fields.Boolean(load_default=False)
    discharge_date = Day(required=True)
    availability = fields.List(fields.Nested(WeeklyWindowSchema), allow_none=True, validate=validate.Length(max=50))
    timezone = fields.String(required=True, validate=check_timezone)
    modality = fields.String(load_default="either", validate=validate.OneOf(("in_person", "telehealth", "either")))
    max_travel_miles = fields.Float(
        validate=validate.Range(min=0, max=500, min_inclusive=False), allow_none=True, allow_nan=False
    )
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
            check_no_overlap(data["availability"], "availability")
        if data.get("diagnoses"):
            normalized = [codes.normalize_icd10(code) for code in data["diagnoses"]]
            unique(normalized, "diagnoses")

    @post_load
    def normalize(self, data, **kwargs):
        if data.get("diagnoses"):
            data["diagnoses"] = [codes.normalize_icd10(code) for code in data["diagnoses"]]
        return data


# PATCH: any top-level field may be left out (and gets no default), but a patient, coverage or consent given is
# given whole; partial=True would reach into the nested schemas too.
REFERRAL_CHANGES = ReferralInSchema(partial=tuple(ReferralInSchema().fields))


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


# The referral's clinical request: what the patient needs, and when and how they can attend.
REQUEST_FIELDS = ("origin", "need", "diagnoses", "needs_mat", "discharge_date", "availability", "timezone", "modality")


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


class ReferralForProviderSchema(ReferralSchema):
    """The minimum an IOP coordinator needs to decide on an offer: no member id, no unshared notes.

    The referral's own fields, but only those Meta.fields names (in that order): a field added to ReferralSchema
    reaches providers only once it is named here too.
    """

    patient = fields.Nested(ProviderPatientSchema)
    coverage = fields.Nested(ProviderCoverageSchema)
    notes = fields.String(allow_none=True, attribute="shared_notes")

    class Meta:
        fields = ("id", "status", "patient", "coverage", *REQUEST_FIELDS, "notes", "part2_notice")


class ReferralListQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(REFERRAL_STATUSES))
    need = fields.String(validate=validate.OneOf(SERVICES))
    discharge_from = Day()
    discharge_to = Day()
    payer_id = fields.String(validate=check_payer)
