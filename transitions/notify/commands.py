"""The webhook use cases, one command each: whose webhook it is, permission, the change, and audit.

API views (and any later entry point) call these with plain values.
"""

from transitions import policy
from transitions.core import audit
from transitions.core.errors import Forbidden
from transitions.notify import queries, webhooks
from transitions.notify.contract import generate_secret
from transitions.notify.models import Webhook


def create_webhook(actor, url, events, now, secret=None, organization_id=None):
    """Subscribe an endpoint of the actor's organization (admins: any organization's) to events.

    Its secret is the caller's or a generated one, for the response to show this once.
    """
    webhook = Webhook(organization_id=actor.organization_id if organization_id is None else organization_id)
    if not policy.MANAGE_WEBHOOKS.allows(actor, webhook):
        # Not audited: the webhook does not exist, so there is no object to name in an audit row.
        raise Forbidden(policy.MANAGE_WEBHOOKS.denial)
    if webhook.organization_id != actor.organization_id:
        webhooks.check_organization_exists(webhook.organization_id)
    webhooks.subscribe(webhook, url, events, secret or generate_secret(), now)
    audit.record("webhook.create", "webhook", webhook.id, user=actor)
    return webhook


def update_webhook(actor, webhook_id, url=None, events=None, active=None):
    """Change a webhook's URL or events, or switch it off and on again; None leaves a field as it is."""
    webhook = queries.get_webhook(actor, webhook_id)
    policy.MANAGE_WEBHOOKS.require(actor, webhook, action="webhook.update")
    webhooks.change_subscription(webhook, url, events, active)
    audit.record("webhook.update", "webhook", webhook.id, user=actor)
    return webhook
