"""Webhook subscriptions per organization and the record of every delivery attempt."""
from flask import url_for

from transitions.api.auth import current_user, require_authentication
from transitions.api.common import Blueprint, json_response
from transitions.core import audit
from transitions.core.fields import page_of
from transitions.core.idempotency import idempotent, store_instead
from transitions.core.pagination import keyset_page
from transitions.notify import webhooks as service
from transitions.notify.models import Webhook, WebhookDelivery
from transitions.notify.schemas import (
    DeliveryAttemptSchema,
    DeliveryListQuerySchema,
    DeliverySchema,
    WebhookCreatedSchema,
    WebhookInSchema,
    WebhookListQuerySchema,
    WebhookPatchSchema,
    WebhookSchema,
)

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1",
                description="Signed event notifications (Standard Webhooks) to your organization's endpoints.")
blp.before_request(require_authentication)
WebhookPage = page_of(WebhookSchema, "WebhookPage")
DeliveryPage = page_of(DeliverySchema, "DeliveryPage")

_WEBHOOK = WebhookSchema()
_DELIVERY = DeliverySchema()
_ATTEMPT = DeliveryAttemptSchema()


@blp.route("/webhooks", methods=["POST"])
@blp.arguments(WebhookInSchema)
@blp.response(201, WebhookCreatedSchema)
@idempotent
def create_webhook(data):
    """Subscribe an endpoint of your organization to events; the signing secret is shown this once."""
    user = current_user()
    webhook, secret = service.create_webhook(user, data)
    audit.record("webhook.create", "webhook", webhook.id)
    body = _WEBHOOK.dump(webhook)
    # A replay must not hand the secret out a second time.
    store_instead(dict(body, secret=None))
    return json_response(dict(body, secret=secret), 201,
                         {"Location": url_for("webhooks.get_webhook", webhook_id=webhook.id)})


@blp.route("/webhooks", methods=["GET"])
@blp.arguments(WebhookListQuerySchema, location="query")
@blp.response(200, WebhookPage)
def list_webhooks(args):
    """Your organization's webhooks (admins: every organization's, or one's with organization_id)."""
    user = current_user()
    query = service.visible_webhooks(user)
    if "organization_id" in args:
        query = query.where(Webhook.organization_id == args["organization_id"])
    rows, cursor = keyset_page(query, [Webhook.created_at, Webhook.id], args)
    return json_response({"items": _WEBHOOK.dump(rows, many=True), "next_cursor": cursor})


@blp.route("/webhooks/<webhook_id>", methods=["GET"])
@blp.response(200, WebhookSchema)
def get_webhook(webhook_id):
    """One webhook (never its secret)."""
    return json_response(_WEBHOOK.dump(service.get_webhook(current_user(), webhook_id)))


@blp.route("/webhooks/<webhook_id>", methods=["PATCH"])
@blp.arguments(WebhookPatchSchema)
@blp.response(200, WebhookSchema)
def update_webhook(changes, webhook_id):
    """Change the URL or events, or switch it off and on again (a 410 from the receiver switches it off)."""
    user = current_user()
    webhook = service.update_webhook(service.get_webhook(user, webhook_id), changes)
    audit.record("webhook.update", "webhook", webhook.id)
    return json_response(_WEBHOOK.dump(webhook))


@blp.route("/webhooks/<webhook_id>/deliveries", methods=["GET"])
@blp.arguments(DeliveryListQuerySchema, location="query")
@blp.response(200, DeliveryPage)
def list_deliveries(args, webhook_id):
    """Every delivery to this endpoint, oldest first, each with every attempt made."""
    webhook = service.get_webhook(current_user(), webhook_id)
    rows, cursor = keyset_page(service.deliveries_query(webhook, args.get("status")),
                               [WebhookDelivery.created_at, WebhookDelivery.id], args)
    attempts = service.attempts_for([row.id for row in rows])
    types = service.event_types_for({row.event_id for row in rows})
    items = []
    for row in rows:
        item = _DELIVERY.dump(row)
        item["event_type"] = types.get(row.event_id)
        item["attempt_log"] = _ATTEMPT.dump(attempts[row.id], many=True)
        items.append(item)
    return json_response({"items": items, "next_cursor": cursor})
