"""Schemas of discharges without referral: the list's query, what a discharge shows (with its follow-up checks,
visits and readmissions), and a recorded visit."""

from marshmallow import Schema, fields, validate

from transitions.core.fields import Day, Id, PageQuerySchema, StrictSchema, Timestamp, check_payer
from transitions.discharges.models import DISCHARGE_CHECKS, DISCHARGE_STATUSES
from transitions.followups.models import FOLLOWUP_OUTCOMES


class DischargeQuerySchema(PageQuerySchema):
    status = fields.String(
        validate=validate.OneOf(DISCHARGE_STATUSES),
        metadata={"description": "no_step_down: no referral took it over (the members to call); adopted: one did."},
    )
    discharge_from = Day()
    discharge_to = Day()
    payer_id = fields.String(validate=check_payer)
    organization_id = Id(metadata={"description": "The discharging facility's organization."})


class DischargePatientSchema(Schema):
    given_name = fields.String()
    family_name = fields.String()
    birth_date = fields.Date()


class DischargeCoverageSchema(Schema):
    payer_id = fields.String(metadata={"description": "IN1-3, the insurer a health plan follows."})
    member_id = fields.String(allow_none=True, metadata={"description": "IN1-36, else PID-3's member id."})


class DischargeCheckSchema(Schema):
    id = fields.String()
    referral_id = fields.String(
        allow_none=True, metadata={"description": "Always null: the check follows a discharge."}
    )
    discharge_id = fields.String()
    check = fields.String(validate=validate.OneOf(DISCHARGE_CHECKS))
    due_date = fields.Date()
    due_at = Timestamp(metadata={"description": "The end of due_date in the facility's time zone."})
    outcome = fields.String(allow_none=True, validate=validate.OneOf(FOLLOWUP_OUTCOMES))
    evaluated_at = Timestamp(allow_none=True)
    evidence = fields.Dict(allow_none=True, metadata={"description": "Ids, dates and reason codes; no PHI."})


class DischargeVisitSchema(Schema):
    id = fields.String()
    discharge_id = fields.String()
    date = fields.Date(metadata={"description": "The day of the follow-up visit."})
    recorded_by = fields.String()
    created_at = Timestamp()


class DischargeReadmissionSchema(Schema):
    id = fields.String()
    date = fields.Date(metadata={"description": "The admission date (PV1-44)."})
    days_after_discharge = fields.Integer()
    classification = fields.String(metadata={"description": "transfer (days 0-2) or readmission_30 (days 3-30)."})
    created_at = Timestamp()


class DischargeSchema(Schema):
    id = fields.String()
    organization_id = fields.String(metadata={"description": "The discharging facility's organization."})
    status = fields.String(validate=validate.OneOf(DISCHARGE_STATUSES))
    patient = fields.Nested(DischargePatientSchema)
    coverage = fields.Nested(DischargeCoverageSchema)
    patient_class = fields.String(allow_none=True, metadata={"description": "PV1-2 (I inpatient...)."})
    discharge_date = fields.Date(metadata={"description": "PV1-45, the actual discharge date."})
    admitted_on = fields.Date(
        allow_none=True,
        metadata={
            "description": "PV1-44 (or Encounter.period.start): the stay's admission day, when the message had one. "
            "A later discharge message of the same stay with another date corrects discharge_date."
        },
    )
    days_since_discharge = fields.Integer()
    adopted_by_referral_id = fields.String(allow_none=True)
    adopted_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    followups = fields.List(fields.Nested(DischargeCheckSchema))
    visits = fields.List(fields.Nested(DischargeVisitSchema))
    readmissions = fields.List(fields.Nested(DischargeReadmissionSchema))


class DischargeVisitInSchema(StrictSchema):
    date = Day(required=True, metadata={"description": "The visit's day: not in the future, not before discharge."})
