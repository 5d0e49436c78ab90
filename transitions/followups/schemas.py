"""Schemas of follow-up checks, contacts, the step-down board and the metrics."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from transitions.core.fields import Day, Id, PageQuerySchema, StrictSchema, Timestamp, check_payer, no_nul
from transitions.directory.models import SERVICES
from transitions.discharges.models import DISCHARGE_CHECKS
from transitions.followups.checks import CHECKS as FOLLOWUP_CHECKS
from transitions.followups.checks import RATE_MEASURES
from transitions.followups.models import FOLLOWUP_OUTCOMES
from transitions.referrals.models import REFERRAL_STATUSES


class FollowUpContactSchema(Schema):
    id = fields.String()
    followup_id = fields.String()
    note = fields.String(allow_none=True)
    reached = fields.Boolean()
    recorded_by = fields.String()
    created_at = Timestamp()


class FollowUpSchema(Schema):
    id = fields.String()
    referral_id = fields.String(allow_none=True, metadata={"description": "The referral the check follows."})
    discharge_id = fields.String(
        allow_none=True,
        metadata={"description": "Or the discharge without referral it follows (then referral_id is null)."},
    )
    check = fields.String(validate=validate.OneOf(FOLLOWUP_CHECKS))
    due_date = fields.Date()
    due_at = Timestamp(
        metadata={
            "description": "When the check's window closes: the end of due_date in the "
            "patient's time zone. It is evaluated at the first sweep after."
        }
    )
    outcome = fields.String(allow_none=True, validate=validate.OneOf(FOLLOWUP_OUTCOMES))
    evaluated_at = Timestamp(allow_none=True)
    evidence = fields.Dict(allow_none=True, metadata={"description": "Ids, dates and reason codes; no PHI."})
    contacts = fields.List(fields.Nested(FollowUpContactSchema))
    part2_notice = fields.String(allow_none=True)


class FollowUpListQuerySchema(PageQuerySchema):
    due_before = Day(metadata={"description": "Checks due on or before this date."})
    due_after = Day(metadata={"description": "Checks due on or after this date."})
    outcome = fields.String(
        validate=validate.OneOf((*FOLLOWUP_OUTCOMES, "pending")),
        metadata={"description": "pending = not evaluated yet."},
    )
    check = fields.String(validate=validate.OneOf(FOLLOWUP_CHECKS))
    referral_id = Id()
    discharge_id = Id(metadata={"description": "The checks of one discharge without referral."})


class FollowUpContactInSchema(StrictSchema):
    note = fields.String(required=True, validate=[validate.Length(min=1, max=4000), no_nul])
    reached = fields.Boolean(required=True)


class NextCheckSchema(Schema):
    check = fields.String()
    due_date = fields.Date()


class StepdownSchema(Schema):
    referral_id = fields.String(allow_none=True, metadata={"description": "null for a discharge without referral."})
    discharge_id = fields.String(
        allow_none=True,
        metadata={"description": "A discharge without referral (an ADT A03 nobody referred): the member to call."},
    )
    organization_id = fields.String()
    status = fields.String(
        metadata={"description": "The referral's status, or no_step_down for a discharge without referral."}
    )
    need = fields.String(allow_none=True)
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
    status = fields.String(
        validate=validate.OneOf((*REFERRAL_STATUSES, "no_step_down")),
        metadata={"description": "A referral status, or no_step_down: discharges without referral only."},
    )
    need = fields.String(validate=validate.OneOf(SERVICES))
    overdue = fields.Boolean()
    missed = fields.Boolean()
    discharge_from = Day()
    discharge_to = Day()
    payer_id = fields.String(validate=check_payer)
    organization_id = Id(metadata={"description": "The referring organization."})


class MetricsQuerySchema(StrictSchema):
    from_ = Day(
        data_key="from", metadata={"description": "First discharge date of the cohort (default: 89 days before `to`)."}
    )
    to = Day(metadata={"description": "Last discharge date of the cohort (default: today)."})
    payer_id = fields.String(validate=check_payer)
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


class AdtRateSchema(RateSchema):
    numerator_with_adt = fields.Integer(metadata={"description": "Met, counting discharges without referral too."})
    denominator_with_adt = fields.Integer(
        metadata={"description": "The denominator with every discharge the ADT feeds told of (as HEDIS counts)."}
    )
    rate_with_adt = fields.Float(allow_none=True)
    pending_with_adt = fields.Integer()


class MedianSchema(Schema):
    value = fields.Float(allow_none=True)
    count = fields.Integer()


class ReadmissionRateSchema(RateSchema):
    transfers = fields.Integer(metadata={"description": "Back in hospital on days 0-2: transfers, not counted."})


# One rate per measure of the check registry, between the cohort's size and the other measures.
MetricsSchema = Schema.from_dict(
    {
        "from_": fields.Date(data_key="from"),
        "to": fields.Date(),
        "as_of": Timestamp(),
        "referrals": fields.Integer(),
        "discharges_without_referral": fields.Integer(
            metadata={"description": "Discharges without referral (not adopted) in the cohort, from ADT feeds."}
        ),
        **{
            measure.name: fields.Nested(AdtRateSchema if measure.check in DISCHARGE_CHECKS else RateSchema)
            for measure in RATE_MEASURES
        },
        "median_days_to_first_session": fields.Nested(MedianSchema),
        "offer_acceptance": fields.Nested(RateSchema),
        "decline_reasons": fields.Dict(keys=fields.String(), values=fields.Integer()),
        "readmission_30": fields.Nested(ReadmissionRateSchema),
    },
    name="MetricsSchema",
)
