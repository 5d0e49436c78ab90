"""The webhook and mail use cases, one command each: whose webhook it is, permission, the change, and audit.

API views (and any later entry point) call these with plain values.
"""

import time

from transitions import policy
from transitions.core import audit
from transitions.core.db import db, races_as_conflicts
from transitions.core.errors import Forbidden, ValidationFailed
from transitions.core.types import new_id
from transitions.notify import mail_content, queries, smtp, webhooks
from transitions.notify.contract import generate_secret
from transitions.notify.models import NotificationPreference, Webhook


def create_webhook(actor, url, events, now, secret=None, organization_id=None, active=True):
    """Subscribe an endpoint of the actor's organization (admins: any organization's) to events (switched off if
    not active). Its secret is the caller's or a generated one, for the response to show this once.
    """
    webhook = Webhook(organization_id=actor.organization_id if organization_id is None else organization_id)
    if not policy.MANAGE_WEBHOOKS.allows(actor, webhook):
        # Not audited: the webhook does not exist, so there is no object to name in an audit row.
        raise Forbidden(policy.MANAGE_WEBHOOKS.denial)
    if webhook.organization_id != actor.organization_id:
        webhooks.check_organization_exists(webhook.organization_id)
    webhooks.subscribe(webhook, url, events, secret or generate_secret(), now)
    if not active:
        webhooks.change_subscription(webhook, active=False)
    audit.record("webhook.create", "webhook", webhook.id, user=actor)
    return webhook


def update_webhook(actor, webhook_id, url=None, events=None, active=None):
    """Change a webhook's URL or events, or switch it off and on again; None leaves a field as it is."""
    webhook = queries.get_webhook(actor, webhook_id)
    policy.MANAGE_WEBHOOKS.require(actor, webhook, action="webhook.update")
    webhooks.change_subscription(webhook, url, events, active)
    audit.record("webhook.update", "webhook", webhook.id, user=actor)
    return webhook


def delete_webhook(actor, webhook_id, now):
    """Delete a webhook: nothing more is sent to it, pending deliveries included; admins can still read its log."""
    webhook = queries.get_webhook(actor, webhook_id)
    policy.MANAGE_WEBHOOKS.require(actor, webhook, action="webhook.delete")
    with races_as_conflicts():
        webhooks.delete_subscription(webhook, now)
    audit.record("webhook.delete", "webhook", webhook.id, user=actor)


# ---------------------------------------------------------------- mail to people


def change_notification_preferences(actor, now, email=None, events=None, digest=None):
    """Change the actor's own mail preferences (None leaves a choice as it is); events must concern their role."""
    concerning = policy.MAIL_EVENTS_BY_ROLE.get(actor.role, ())
    if events is not None:
        foreign = [event for event in events if event not in concerning]
        if foreign:
            raise ValidationFailed(
                {"events": ["Your role never gets mail about %s." % ", ".join(foreign)]},
                "Choose among the events that concern your role: %s." % (", ".join(concerning) or "none"),
            )
    preference = db.session.get(NotificationPreference, actor.id)
    if preference is None:
        preference = NotificationPreference(user_id=actor.id, email=True, events=None, digest=False)
        db.session.add(preference)
    if email is not None:
        preference.email = email
    if events is not None:
        preference.events = [event for event in concerning if event in events]
    if digest is not None:
        preference.digest = digest
    preference.updated_at = now
    db.session.flush()
    audit.record("notifications.update", "user", actor.id, user=actor)
    return queries.notification_preferences(actor)


def send_test_mail(address):
    """Send the operator's test message to `address` now, outside the outbox; raises ValueError if it fails."""
    settings = smtp.mail_settings()
    if settings.server is None:
        raise ValueError("SMTP_URL is not set: mail is off.")
    subject, text, html = mail_content.render_test(settings.base_url)
    message = smtp.build_message(settings, address, subject, text, html, "test-%s" % new_id())
    mailer = smtp.Mailer(settings)
    try:
        outcome = mailer.send(message, time.monotonic() + settings.deadline)
    finally:
        mailer.close()
    if not outcome.ok:
        raise ValueError("The test message was not sent: %s" % outcome.error)
    return "Sent a test message to %s through %s:%d." % (address, settings.server.host, settings.server.port)
