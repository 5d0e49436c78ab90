"""Schemas of offers, placements, attendance, IOP discharge and readmissions."""

from marshmallow import Schema, fields, validate

from transitions.core.fields import Day, Id, PageQuerySchema, StrictSchema, Timestamp, no_nul
from transitions.offers.models import ATTENDANCE_STATUSES, DECLINE_REASONS, DISCHARGE_OUTCOMES, OFFER_STATUSES


class OfferInSchema(StrictSchema):
    track_id = Id(required=True)


class AcceptInSchema(StrictSchema):
    intake_date = Day(required=True, metadata={"description": "One of the track's intake days."})


class DeclineInSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.OneOf(DECLINE_REASONS))
    note = fields.String(validate=[validate.Length(max=2000), no_nul], allow_none=True, load_default=None)


class EmptyInSchema(StrictSchema):
    """No fields; an empty body or {} is fine, anything else is a typo worth a 422."""


class OfferListQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(OFFER_STATUSES))
    referral_id = Id()
    program_id = Id()
    track_id = Id()


class OfferSchema(Schema):
    """An offer as either side sees it; `referral` is shaped for the viewer (minimum necessary for providers)."""

    id = fields.String()
    referral_id = fields.String()
    track_id = fields.String()
    program_id = fields.String()
    program_name = fields.String()
    track_name = fields.String()
    status = fields.String(
        validate=validate.OneOf(OFFER_STATUSES),
        metadata={"description": "A pending offer past expires_at reads as expired."},
    )
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
    date = Day(required=True, metadata={"description": "A session day of the track, local to its time zone."})
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
    referral_id = Id()
    program_id = Id()


class DischargeInSchema(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(DISCHARGE_OUTCOMES))


class ReadmissionInSchema(StrictSchema):
    date = Day(required=True, metadata={"description": "Day of the readmission (not before discharge)."})
    facility = fields.String(validate=[validate.Length(min=1, max=200), no_nul], allow_none=True, load_default=None)


class ReadmissionSchema(Schema):
    id = fields.String()
    referral_id = fields.String()
    date = fields.Date(attribute="admitted_on")
    facility = fields.String(allow_none=True)
    classification = fields.String(metadata={"description": "transfer (days 0-2), readmission_30 (3-30) or later."})
    days_after_discharge = fields.Integer()
    referral_status = fields.String()
    created_at = Timestamp()
