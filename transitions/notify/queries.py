"""Webhook reads (the webhooks a user sees, one webhook's lookup, its delivery log with every attempt) and mail
reads (a user's preferences, whether an offer's coordinators were told)."""

from dataclasses import dataclass

from sqlalchemy import select

from transitions import policy
from transitions.core.db import db
from transitions.core.errors import NotFound
from transitions.core.nul import looks_like_id
from transitions.notify import mail
from transitions.notify.models import DeliveryAttempt, Event, Webhook, WebhookDelivery


def visible_webhooks(user, organization_id=None, include_deleted=False):
    """The webhooks this user sees, optionally of one organization, as a query; deleted ones only for admins who
    ask for them (a deleted webhook is gone for its organization, its delivery log kept for the record)."""
    query = select(Webhook).where(policy.webhook_visibility(user))
    if not (include_deleted and policy.ADMINISTER.allows(user)):
        query = query.where(Webhook.disabled_cause.is_distinct_from("deleted"))
    if organization_id is not None:
        query = query.where(Webhook.organization_id == organization_id)
    return query


def get_webhook(user, webhook_id, include_deleted=False):
    """A webhook the user sees (a deleted one: admins reading, with include_deleted); anything else is 404."""
    webhook = None
    if looks_like_id(webhook_id):
        query = visible_webhooks(user, include_deleted=include_deleted)
        webhook = db.session.scalar(query.where(Webhook.id == webhook_id))
    if webhook is None:
        raise NotFound("No webhook with this id.")
    return webhook


# ---------------------------------------------------------------- the delivery log


def deliveries_query(webhook, status=None):
    """The deliveries to one endpoint, optionally of one status, as a query."""
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    return query


@dataclass
class LoggedDelivery:
    """A delivery as its log shows it: the row, the type of its event, and every attempt, oldest first."""

    delivery: WebhookDelivery
    event_type: str | None
    attempt_log: list

    def __getattr__(self, name):
        # The schema reads the delivery's own columns through this wrapper.
        if name == "delivery":
            raise AttributeError(name)
        return getattr(self.delivery, name)


def delivery_log(deliveries):
    """The deliveries with their event types and attempts, in two queries for the whole page."""
    attempts = attempts_for([delivery.id for delivery in deliveries])
    types = event_types_for({delivery.event_id for delivery in deliveries})
    return [LoggedDelivery(delivery, types.get(delivery.event_id), attempts[delivery.id]) for delivery in deliveries]


def attempts_for(delivery_ids):
    """delivery id -> its attempts, oldest first."""
    by_delivery = {did: [] for did in delivery_ids}
    if delivery_ids:
        for attempt in db.session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_(list(delivery_ids)))
            .order_by(DeliveryAttempt.attempted_at, DeliveryAttempt.id)
        ):
            by_delivery[attempt.delivery_id].append(attempt)
    return by_delivery


def event_types_for(event_ids):
    """event id -> event type."""
    if not event_ids:
        return {}
    return dict(db.session.execute(select(Event.id, Event.type).where(Event.id.in_(list(event_ids)))).all())


# ---------------------------------------------------------------- mail to people


def notification_preferences(user):
    """The user's mail preferences as the API and the page show them: {email, events, digest, available_events}."""
    choice = mail.choice_for(user)
    return {
        "email": choice.email,
        "events": list(choice.events),
        "digest": choice.digest,
        "available_events": list(policy.MAIL_EVENTS_BY_ROLE.get(user.role, ())),
    }


def coordinators_told(offer_ids):
    """offer id -> when the program's coordinators were first mailed about the offer (None: not yet)."""
    return mail.sent_mail_times(list(offer_ids))
