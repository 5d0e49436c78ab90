"""Schemas of matches, near misses and allocations."""

from marshmallow import Schema, fields, validate

from transitions.core.fields import StrictSchema

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


class LeadSchema(Schema):
    program_id = fields.String()
    program_name = fields.String()
    phone = fields.String(allow_none=True)
    street = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    zip = fields.String()
    state = fields.String()
    modality = fields.String()
    distance_miles = fields.Float(allow_none=True)
    reasons = fields.List(fields.String())


class MatchListSchema(Schema):
    items = fields.List(fields.Nested(MatchSchema))
    excluded = fields.Dict(keys=fields.String(), values=fields.Integer())
    near_misses = fields.List(fields.Nested(NearMissSchema))
    leads = fields.List(
        fields.Nested(LeadSchema),
        metadata={
            "description": "When a referral has few matches: unconfirmed programs (imported, no schedule or seats "
            "known) within reach that fit every known fact, with their phone numbers. Never offered; call them."
        },
    )


class AllocationInSchema(StrictSchema):
    referral_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=36)), validate=validate.Length(min=1, max=10000)
    )
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
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={
            "description": "Referral id → why it was left out of the plan (not found, not waiting for a seat, no "
            "current Part 2 consent) or, with apply, why its offer was refused."
        },
    )
