"""Schemas of webhooks, deliveries and timeline events."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from transitions.core.fields import Id, PageQuerySchema, StrictSchema, Timestamp, unique
from transitions.notify.contract import DELIVERY_STATUSES, secret_problem
from transitions.notify.contract import EVENTS as WEBHOOK_EVENTS


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


def _check_secret(value):
    problem = secret_problem(value)
    if problem:
        raise ValidationError(problem)


def _check_webhook_url(value):
    if "\x00" in value or any(ord(ch) < 32 for ch in value):
        raise ValidationError("A URL cannot contain control characters.")


def WebhookEvents(**kwargs):
    return fields.List(
        fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
        validate=validate.Length(min=1, max=len(WEBHOOK_EVENTS)),
        **kwargs,
    )


class WebhookInSchema(StrictSchema):
    url = fields.String(required=True, validate=[validate.Length(min=1, max=2000), _check_webhook_url])
    events = WebhookEvents(required=True)
    secret = fields.String(
        validate=[validate.Length(max=200), _check_secret],
        metadata={"description": "whsec_ + base64 of 24-64 bytes; generated when omitted."},
    )
    organization_id = Id(metadata={"description": "Admins only: the organization it belongs to."})

    @validates_schema
    def distinct_events(self, data, **kwargs):
        unique(data.get("events"), "events")


class WebhookPatchSchema(StrictSchema):
    url = fields.String(validate=[validate.Length(min=1, max=2000), _check_webhook_url])
    events = WebhookEvents()
    active = fields.Boolean()

    @validates_schema
    def distinct_events(self, data, **kwargs):
        unique(data.get("events"), "events")


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
