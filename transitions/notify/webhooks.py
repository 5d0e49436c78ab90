"""Webhooks: per-organization subscriptions, and the dispatcher that turns events into deliveries.

Flow: a change writes an `events` row in its own transaction (the outbox). The dispatcher claims
undispatched events (SKIP LOCKED on PostgreSQL), asks the policy which organizations may hear about
each one, and queues one `webhook_deliveries` row per subscribed endpoint. Sending them is
notify/delivery.py; the URL and peer checks are notify/ssrf.py; the webhooks a user sees and their
delivery log are read in notify/queries.py.
"""

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, update

from transitions import policy
from transitions.core.clock import rfc3339
from transitions.core.db import db, dialect_name
from transitions.core.errors import ValidationFailed
from transitions.discharges.models import Discharge
from transitions.identity.models import Organization
from transitions.notify import ssrf
from transitions.notify.models import Event, Webhook, WebhookDelivery
from transitions.referrals.models import Referral

# ---------------------------------------------------------------- subscriptions


def validated_url(url):
    """The URL, unless the SSRF guard refuses it (a 422 on the url field)."""
    try:
        ssrf.check_url(url, current_app.config["WEBHOOK_ALLOW_PRIVATE"])
    except ssrf.UnsafeURL as error:
        raise ValidationFailed({"url": [str(error)]}, "The webhook URL is refused.") from None
    return url


def check_organization_exists(organization_id):
    """An admin's webhook for another organization needs that organization (a 422 on organization_id)."""
    if db.session.get(Organization, organization_id) is None:
        raise ValidationFailed({"organization_id": ["No organization with this id."]})


def subscribe(webhook, url, events, secret, now):
    """Fill in and store a new subscription (its organization already decided); the secret is the caller's."""
    webhook.url = validated_url(url)
    webhook.events = list(dict.fromkeys(events))
    webhook.secret = secret
    webhook.created_at = now
    switch_on(webhook)
    db.session.add(webhook)
    db.session.flush()
    return webhook


def change_subscription(webhook, url=None, events=None, active=None):
    """Change the URL or events, or switch the endpoint off or on (clearing why it was off).

    An endpoint switched off because the sender refused its URL comes back on with an acceptable new URL; switched
    on as it is, its URL must pass the check again (a 422 if it still does not).
    """
    if url is not None:
        webhook.url = validated_url(url)
    if events is not None:
        webhook.events = list(dict.fromkeys(events))
    if active is False:
        switch_off(webhook, "user", "disabled by a user")
    elif active or (url is not None and webhook.disabled_cause == "url_refused"):
        if webhook.disabled_cause == "url_refused" and url is None:
            validated_url(webhook.url)
        switch_on(webhook)
    db.session.flush()
    return webhook


def switch_on(webhook):
    """Send to the endpoint again, forgetting why it was off."""
    webhook.active, webhook.disabled_cause, webhook.disabled_reason = True, None, None


def switch_off(webhook, cause, reason):
    """Stop sending to the endpoint, saying why (a code of contract.DISABLED_CAUSES and words, at most 200)."""
    webhook.active, webhook.disabled_cause, webhook.disabled_reason = False, cause, reason[:200]


def delete_subscription(webhook, now):
    """Switch the endpoint off for good: its pending deliveries fail unsent and its secret is forgotten; the webhook
    and its delivery log stay, readable by admins only (a record of what left the service, and to whom)."""
    # Deliveries first, then the webhook: the order a sender recording an attempt locks them in (no deadlock).
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.status == "pending")
        .values(status="failed", last_error="Not sent: the webhook was deleted.")
    )
    switch_off(webhook, "deleted", "Deleted at %s." % rfc3339(now))
    webhook.secret = ""
    db.session.flush()


# ---------------------------------------------------------------- dispatch: events -> deliveries


@dataclass
class DispatchCounts:
    """What one dispatch run did."""

    events: int = 0
    deliveries: int = 0

    def __str__(self):
        return "%d events, %d deliveries queued" % (self.events, self.deliveries)


def dispatch_batch(now, limit, counts):
    """Claim undispatched events, queue their deliveries, mark them dispatched; in the caller's transaction."""
    query = select(Event).where(Event.dispatched_at.is_(None)).order_by(Event.seq).limit(limit)
    if dialect_name() == "postgresql":
        query = query.with_for_update(skip_locked=True)
    events = db.session.scalars(query).all()
    if not events:
        return 0
    hooks = [
        hook
        for hook in db.session.scalars(select(Webhook).where(Webhook.active.is_(True)))
        if any(event.type in hook.events for event in events)
    ]
    if hooks:
        queue_deliveries(events, hooks, now, counts)
    for event in events:
        event.dispatched_at = now
    counts.events += len(events)
    return len(events)


def _discharge_event(event):
    return isinstance(event.data, dict) and bool(event.data.get("discharge_id"))


def queue_deliveries(events, hooks, now, counts):
    """One pending delivery per event and subscribed endpoint whose organization the policy lets hear it."""
    organizations = {
        org.id: org
        for org in db.session.scalars(
            select(Organization).where(Organization.id.in_({hook.organization_id for hook in hooks}))
        )
    }
    referral_ids = {event.referral_id for event in events if event.referral_id}
    referrals = {r.id: r for r in db.session.scalars(select(Referral).where(Referral.id.in_(referral_ids)))}
    # A discharge without referral's events (a missed check) carry its id in their data, not a referral.
    discharge_ids = {
        event.data["discharge_id"] for event in events if not event.referral_id and _discharge_event(event)
    }
    discharges = {d.id: d for d in db.session.scalars(select(Discharge).where(Discharge.id.in_(discharge_ids)))}
    offer_providers, placed_providers = policy.provider_reach(referral_ids)
    for event in events:
        referral = referrals.get(event.referral_id)
        discharge = discharges.get((event.data or {}).get("discharge_id")) if referral is None else None
        if referral is not None:
            heard = policy.organizations_hearing(
                event, referral, organizations, offer_providers, placed_providers.get(referral.id)
            )
        elif discharge is not None:
            heard = policy.organizations_hearing_discharge(discharge, organizations)
        else:
            continue
        for hook in hooks:
            # A subscription hears what happens from its creation on, not the backlog before it.
            if event.type in hook.events and hook.organization_id in heard and hook.created_at <= event.created_at:
                db.session.add(
                    WebhookDelivery(
                        webhook_id=hook.id,
                        event_id=event.id,
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
                counts.deliveries += 1
