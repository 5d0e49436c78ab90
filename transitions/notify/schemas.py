"""Schemas of webhooks, deliveries, timeline events and mail preferences."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from transitions.core.fields import Id, PageQuerySchema, StrictSchema, Timestamp, unique
from transitions.notify.contract import DELIVERY_STATUSES, DISABLED_CAUSES, secret_problem
from transitions.notify.contract import EVENTS as WEBHOOK_EVENTS
from transitions.policy import MAIL_EVENTS


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
    """A new webhook; WEBHOOK_CHANGES is its PATCH form (every field optional, no defaults, no secret, no owner)."""

    url = fields.String(required=True, validate=[validate.Length(min=1, max=2000), _check_webhook_url])
    events = WebhookEvents(required=True)
    secret = fields.String(
        validate=[validate.Length(max=200), _check_secret],
        metadata={"description": "whsec_ + base64 of 24-64 bytes; generated when omitted."},
    )
    organization_id = Id(metadata={"description": "Admins only: the organization it belongs to."})
    active = fields.Boolean(
        load_default=True,
        metadata={"description": "false switches it off; true switches it on again and clears why it was off."},
    )

    @validates_schema
    def distinct_events(self, data, **kwargs):
        unique(data.get("events"), "events")


WEBHOOK_CHANGES = WebhookInSchema(partial=True, exclude=("secret", "organization_id"))


class WebhookSchema(Schema):
    id = fields.String()
    organization_id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    active = fields.Boolean()
    disabled_cause = fields.String(
        allow_none=True,
        validate=validate.OneOf(DISABLED_CAUSES),
        metadata={
            "description": "Why it is off (null while active): user, gone (the receiver answered 410), url_refused "
            "(the URL was refused when sending; a PATCH with an acceptable url switches it on again), deleted."
        },
    )
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


class NotificationPreferencesSchema(Schema):
    email = fields.Boolean(metadata={"description": "false: no mail at all."})
    events = fields.List(
        fields.String(),
        metadata={"description": "The events you get mail about: a subset of available_events (default: all)."},
    )
    digest = fields.Boolean(metadata={"description": "true: one mail a day with everything, instead of one per event."})
    available_events = fields.List(
        fields.String(), metadata={"description": "The events that concern your role, which you may choose from."}
    )


class NotificationPreferencesInSchema(StrictSchema):
    """A change of your mail preferences; a field left out keeps its value."""

    email = fields.Boolean()
    events = fields.List(
        fields.String(validate=validate.OneOf(MAIL_EVENTS)), validate=validate.Length(max=len(MAIL_EVENTS))
    )
    digest = fields.Boolean()

    @validates_schema
    def distinct_events(self, data, **kwargs):
        unique(data.get("events"), "events")
