"""Webhook subscriptions per organization and the record of every delivery attempt."""

from flask import current_app, url_for

from transitions import policy
from transitions.api.auth import current_user, permits
from transitions.api.common import api_blueprint, json_response, keyset_page_response, page_response
from transitions.core.clock import utcnow
from transitions.core.fields import page_of
from transitions.core.idempotency import idempotent, store_instead
from transitions.core.pagination import keyset_page
from transitions.notify import commands, queries
from transitions.notify.models import Webhook, WebhookDelivery
from transitions.notify.schemas import (
    WEBHOOK_CHANGES,
    DeliveryListQuerySchema,
    DeliverySchema,
    WebhookCreatedSchema,
    WebhookInSchema,
    WebhookListQuerySchema,
    WebhookSchema,
)

blp = api_blueprint(
    "webhooks", __name__, "Signed event notifications (Standard Webhooks) to your organization's endpoints."
)
WebhookPage = page_of(WebhookSchema, "WebhookPage")
DeliveryPage = page_of(DeliverySchema, "DeliveryPage")

_WEBHOOK = WebhookSchema()
_CREATED = WebhookCreatedSchema()
_DELIVERY = DeliverySchema()


@blp.route("/webhooks", methods=["POST"])
@permits(policy.MANAGE_WEBHOOKS)
@blp.arguments(WebhookInSchema)
@blp.response(201, WebhookCreatedSchema)
@idempotent
def create_webhook(data):
    """Subscribe an endpoint of your organization to events; the signing secret is shown this once."""
    webhook = commands.create_webhook(current_user(), now=utcnow(), **data)
    body = _CREATED.dump(webhook)
    # A replay must not hand the secret out a second time.
    store_instead(dict(body, secret=None))
    return json_response(body, 201, {"Location": url_for("webhooks.get_webhook", webhook_id=webhook.id)})


@blp.query_route("/webhooks", WebhookListQuerySchema, WebhookPage, policy=policy.MANAGE_WEBHOOKS)
def list_webhooks(args):
    """Your organization's webhooks (admins: every organization's, or one's with organization_id)."""
    query = queries.visible_webhooks(current_user(), args.get("organization_id"))
    return keyset_page_response(_WEBHOOK, query, [Webhook.created_at, Webhook.id], args)


@blp.route("/webhooks/<webhook_id>", methods=["GET"])
@permits(policy.MANAGE_WEBHOOKS)
@blp.response(200, WebhookSchema)
def get_webhook(webhook_id):
    """One webhook (never its secret); admins also read deleted ones (disabled_cause "deleted")."""
    return json_response(_WEBHOOK.dump(queries.get_webhook(current_user(), webhook_id, include_deleted=True)))


@blp.route("/webhooks/<webhook_id>", methods=["PATCH"])
@permits(policy.MANAGE_WEBHOOKS)
@blp.arguments(WEBHOOK_CHANGES)
@blp.response(200, WebhookSchema)
def update_webhook(changes, webhook_id):
    """Change the URL or events, or switch it off and on again. A 410 from the receiver switches it off, and so does
    a URL refused when sending (disabled_cause url_refused), until a PATCH gives an acceptable url."""
    return json_response(_WEBHOOK.dump(commands.update_webhook(current_user(), webhook_id, **changes)))


@blp.route("/webhooks/<webhook_id>", methods=["DELETE"])
@permits(policy.MANAGE_WEBHOOKS)
@blp.response(204)
def delete_webhook(webhook_id):
    """Delete a webhook: nothing more is sent to it, not even its pending deliveries. Its organization no longer
    sees it; admins can still read it and its delivery log."""
    commands.delete_webhook(current_user(), webhook_id, utcnow())
    return current_app.response_class(status=204)


@blp.query_route(
    "/webhooks/<webhook_id>/deliveries", DeliveryListQuerySchema, DeliveryPage, policy=policy.MANAGE_WEBHOOKS
)
def list_deliveries(args, webhook_id):
    """Every delivery to this endpoint, oldest first, each with every attempt made (a deleted one's: admins)."""
    webhook = queries.get_webhook(current_user(), webhook_id, include_deleted=True)
    rows, cursor = keyset_page(
        queries.deliveries_query(webhook, args.get("status")), [WebhookDelivery.created_at, WebhookDelivery.id], args
    )
    return page_response(_DELIVERY, queries.delivery_log(rows), cursor)
