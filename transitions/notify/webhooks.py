"""Webhooks: per-org subscriptions, the dispatcher that turns logged events into deliveries, and the signed sender.

Flow: a change writes an `events` row in its own transaction (the outbox). The dispatcher claims
undispatched events (SKIP LOCKED on PostgreSQL), works out which organizations may hear about each
one, and queues one `webhook_deliveries` row per subscribed endpoint. The sender leases due
deliveries, posts them with `requests` outside any transaction, and records every attempt.
Delivery is at-least-once: a redelivery carries the same `webhook-id`, so receivers can deduplicate.
"""
import base64
import binascii
import ipaddress
import json
import logging
import random
import re
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from sqlalchemy import select
from standardwebhooks import Webhook as Signer
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from transitions.core.clock import rfc3339, utcnow
from transitions.core.db import db, dialect_name
from transitions.core.errors import Forbidden, NotFound, ValidationFailed
from transitions.directory.models import Program
from transitions.identity.models import Organization
from transitions.notify.models import DeliveryAttempt, Event, Webhook, WebhookDelivery
from transitions.offers.models import Offer
from transitions.policy import PART2_NOTICE
from transitions.referrals.models import Referral

log = logging.getLogger(__name__)

EVENTS = ("referral.submitted", "offer.created", "offer.accepted", "offer.declined", "offer.expired",
          "referral.placed", "attendance.lapsed", "followup.missed", "referral.readmitted")
DELIVERY_STATUSES = ("pending", "delivered", "failed")
SECRET_PREFIX = "whsec_"
USER_AGENT = "transitions-webhooks/1"
# Retry-After is honoured up to a day; a receiver cannot park a delivery forever.
RETRY_AFTER_CAP_SECONDS = 24 * 3600
CODE = re.compile(r"^[a-z0-9_.:-]{1,60}$")
# Event data keys that may leave the service besides *_id keys, and only with code-like values:
# an allow-list, so a field a later event adds (a free-text reason, say) never leaks by default.
PAYLOAD_CODE_KEYS = ("check", "reason", "outcome", "classification", "status", "from_status", "to_status",
                     "reached")
# Which events a provider organization hears: its own offers, and its placed patient's course.
PROVIDER_OFFER_EVENTS = ("offer.created", "offer.accepted", "offer.declined", "offer.expired")
PROVIDER_PLACEMENT_EVENTS = ("referral.placed", "attendance.lapsed", "referral.readmitted")


class UnsafeURL(ValueError):
    """A webhook URL this service refuses to call."""


# ---------------------------------------------------------------- secrets and URLs


def generate_secret():
    """A Standard Webhooks secret: whsec_ and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_problem(secret):
    """Why a caller's secret is unusable, or None: whsec_ + base64 of 24-64 bytes, like Standard Webhooks."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        return "A secret starts with whsec_ followed by base64."
    try:
        raw = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        return "The part after whsec_ is not base64."
    if not 24 <= len(raw) <= 64:
        return "A secret is 24 to 64 random bytes (base64 after whsec_)."
    return None


def address_problem(address):
    """Why an IP address is off limits for webhooks, or None for a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata lives here)"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "not a unicast address"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


def resolve(host, port):
    """Every address the name resolves to (tests replace this to simulate DNS)."""
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def check_url(url, allow_private, resolve_names=True):
    """Refuse what must never be called: bad schemes, credentials in URLs, private/loopback/link-local targets.

    Called at save and again before every send, after DNS resolution, so a name that later points
    inside the network is still refused; the connection's actual peer is checked too (DNS rebinding).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL("Not a URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("Use an http:// or https:// URL with a host name.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("Credentials do not belong in a webhook URL; the signature authenticates us.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeURL("A URL cannot contain spaces or control characters.")
    if allow_private:
        return
    host = parts.hostname
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    elif host == "localhost" or host.endswith(".localhost") or host.endswith(".internal"):
        raise UnsafeURL("The host %s is internal." % host)
    elif not resolve_names:
        return
    else:
        try:
            addresses = resolve(host, port or (443 if parts.scheme == "https" else 80))
        except (socket.gaierror, UnicodeError, OSError):
            raise UnsafeURL("The host %s does not resolve." % host) from None
    for address in addresses:
        problem = address_problem(address)
        if problem:
            raise UnsafeURL("The host %s resolves to %s, a %s address." % (host, address, problem))


class _PeerCheckedMixin:
    """Refuse a connection whose actual peer is private, whatever DNS said a moment earlier."""

    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        problem = address_problem(peer)
        if problem:
            sock.close()
            raise NewConnectionError(self, "refused: connected to %s, a %s address" % (peer, problem))
        return sock


class _CheckedHTTPConnection(_PeerCheckedMixin, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_PeerCheckedMixin, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _PeerCheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


def http_session(allow_private):
    session = requests.Session()
    # No proxies or .netrc from the environment: a proxy would hide where the request really goes.
    session.trust_env = False
    adapter = HTTPAdapter(max_retries=0) if allow_private else _PeerCheckedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# ---------------------------------------------------------------- subscriptions


def _target_organization(user, organization_id):
    if organization_id is None or organization_id == user.organization_id:
        return user.organization_id
    if user.role != "admin":
        raise Forbidden("Webhooks belong to your own organization.")
    if db.session.get(Organization, organization_id) is None:
        raise ValidationFailed({"organization_id": ["No organization with this id."]})
    return organization_id


def _validated_url(url):
    try:
        check_url(url, current_app.config["WEBHOOK_ALLOW_PRIVATE"])
    except UnsafeURL as error:
        raise ValidationFailed({"url": [str(error)]}, "The webhook URL is refused.") from None
    return url


def create_webhook(user, data):
    """Subscribe an organization; returns (webhook, secret), the secret shown this once."""
    organization_id = _target_organization(user, data.get("organization_id"))
    secret = data.get("secret") or generate_secret()
    webhook = Webhook(organization_id=organization_id, url=_validated_url(data["url"]),
                      events=list(dict.fromkeys(data["events"])), secret=secret, active=True, created_at=utcnow())
    db.session.add(webhook)
    db.session.flush()
    return webhook, secret


def update_webhook(webhook, changes):
    if "url" in changes:
        webhook.url = _validated_url(changes["url"])
    if "events" in changes:
        webhook.events = list(dict.fromkeys(changes["events"]))
    if "active" in changes:
        webhook.active = changes["active"]
        webhook.disabled_reason = None if changes["active"] else "disabled by a user"
    db.session.flush()
    return webhook


def visible_webhooks(user):
    query = select(Webhook)
    if user.role != "admin":
        query = query.where(Webhook.organization_id == user.organization_id)
    return query


def get_webhook(user, webhook_id):
    webhook = None
    if isinstance(webhook_id, str) and 0 < len(webhook_id) <= 36 and "\x00" not in webhook_id:
        webhook = db.session.scalar(visible_webhooks(user).where(Webhook.id == webhook_id))
    if webhook is None:
        raise NotFound("No webhook with this id.")
    return webhook


def deliveries_query(webhook, status=None):
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    return query


def attempts_for(delivery_ids):
    by_delivery = {did: [] for did in delivery_ids}
    if delivery_ids:
        for attempt in db.session.scalars(
                select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(list(delivery_ids)))
                .order_by(DeliveryAttempt.attempted_at, DeliveryAttempt.id)):
            by_delivery[attempt.delivery_id].append(attempt)
    return by_delivery


def event_types_for(event_ids):
    if not event_ids:
        return {}
    return dict(db.session.execute(select(Event.id, Event.type).where(Event.id.in_(list(event_ids)))).all())


# ---------------------------------------------------------------- dispatch: events -> deliveries


def _plan_follows(organization, referral):
    return (organization.kind == "health_plan" and not referral.self_pay and referral.payer_id is not None
            and referral.payer_id in (organization.payer_ids or []))


def _event_offer_id(event):
    if event.subject_type == "offer":
        return event.subject_id
    return (event.data or {}).get("offer_id")


def recipients(event, referral, organizations, offer_orgs, placed_org):
    """Organization ids that may hear this event, by the same reach as access.referral_visibility.

    The referring org and the plan following the payer hear everything about the referral; an IOP
    provider hears about its own offers, and once its offer was accepted, about that patient's
    placement, lapses and readmission: the minimum it needs.
    """
    heard = {referral.organization_id}
    for organization in organizations.values():
        if _plan_follows(organization, referral):
            heard.add(organization.id)
    if event.type in PROVIDER_OFFER_EVENTS:
        offer_org = offer_orgs.get(_event_offer_id(event))
        if offer_org:
            heard.add(offer_org)
    if event.type in PROVIDER_PLACEMENT_EVENTS and placed_org:
        heard.add(placed_org)
    return heard


@dataclass
class DispatchCounts:
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
    hooks = [hook for hook in db.session.scalars(select(Webhook).where(Webhook.active.is_(True)))
             if any(event.type in hook.events for event in events)]
    if hooks:
        _queue_deliveries(events, hooks, now, counts)
    for event in events:
        event.dispatched_at = now
    counts.events += len(events)
    return len(events)


def _queue_deliveries(events, hooks, now, counts):
    organizations = {org.id: org for org in db.session.scalars(
        select(Organization).where(Organization.id.in_({hook.organization_id for hook in hooks})))}
    referral_ids = {event.referral_id for event in events if event.referral_id}
    referrals = {r.id: r for r in db.session.scalars(select(Referral).where(Referral.id.in_(referral_ids)))}
    offer_orgs, placed_orgs = {}, {}
    for row in db.session.execute(
            select(Offer.id, Offer.referral_id, Offer.status, Program.organization_id)
            .join(Program, Program.id == Offer.program_id).where(Offer.referral_id.in_(referral_ids))):
        offer_orgs[row.id] = row.organization_id
        if row.status == "accepted":
            placed_orgs[row.referral_id] = row.organization_id
    for event in events:
        referral = referrals.get(event.referral_id)
        if referral is None:
            continue
        heard = recipients(event, referral, organizations, offer_orgs, placed_orgs.get(referral.id))
        for hook in hooks:
            # A subscription hears what happens from its creation on, not the backlog before it.
            if (event.type in hook.events and hook.organization_id in heard
                    and hook.created_at <= event.created_at):
                db.session.add(WebhookDelivery(webhook_id=hook.id, event_id=event.id, status="pending",
                                               attempts=0, next_attempt_at=now, created_at=now))
                counts.deliveries += 1


def payload_for(event, referral, organization_id):
    """The message body: event type, when it happened, and ids and codes only, never PHI."""
    data = {"event_id": event.id}
    if event.referral_id:
        data["referral_id"] = event.referral_id
    if event.subject_type and event.subject_id:
        data["%s_id" % event.subject_type] = event.subject_id
    for key, value in sorted((event.data or {}).items()):
        if key.endswith("_id") and isinstance(value, str) and len(value) <= 64:
            data[key] = value
        elif key in PAYLOAD_CODE_KEYS and (isinstance(value, bool) or (isinstance(value, str) and CODE.match(value))):
            data[key] = value
    for key in ("from_status", "to_status"):
        if getattr(event, key):
            data[key] = getattr(event, key)
    if referral is not None and referral.is_substance_use and organization_id != referral.organization_id:
        data["part2_notice"] = PART2_NOTICE
    body = {"type": event.type, "timestamp": rfc3339(event.created_at), "data": data}
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


# ---------------------------------------------------------------- sending


def backoff_seconds(attempts, base, cap, rng=random):
    """Exponential backoff with equal jitter: between half and all of base * 2^(attempts-1), capped."""
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def retry_after_seconds(value, now):
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(int(value), RETRY_AFTER_CAP_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0, min((when - now).total_seconds(), RETRY_AFTER_CAP_SECONDS))


def lease_seconds():
    """How long a claimed delivery is ours: two timeouts (connect, read) and a margin."""
    return 2 * current_app.config["WEBHOOK_TIMEOUT_SECONDS"] + 30


def claim_next(now, skip_webhooks=()):
    """Lease one due delivery of an active endpoint; the caller commits before sending."""
    query = (select(WebhookDelivery)
             .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
             .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                    Webhook.active.is_(True))
             .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
             .limit(1))
    if skip_webhooks:
        query = query.where(WebhookDelivery.webhook_id.notin_(list(skip_webhooks)))
    if dialect_name() == "postgresql":
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    delivery = db.session.scalar(query)
    if delivery is None:
        return None
    # The lease: a sender that dies mid-request leaves the delivery to be retried after it.
    delivery.next_attempt_at = now + timedelta(seconds=lease_seconds())
    return delivery.id


@dataclass
class Message:
    delivery_id: str
    webhook_id: str
    url: str
    secret: str
    body: str


def message_for(delivery_id):
    delivery = db.session.get(WebhookDelivery, delivery_id)
    webhook = db.session.get(Webhook, delivery.webhook_id)
    event = db.session.scalar(select(Event).where(Event.id == delivery.event_id))
    referral = db.session.get(Referral, event.referral_id) if event.referral_id else None
    return Message(delivery.id, webhook.id, webhook.url, webhook.secret,
                   payload_for(event, referral, webhook.organization_id))


@dataclass
class Outcome:
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    duration_ms: int = 0

    @property
    def ok(self):
        return self.status_code is not None and 200 <= self.status_code < 300


def post(message, session, allow_private, timeout, signed_at=None):
    """One attempt. Signed with the wall clock, not the injected "now": receivers check the timestamp
    against their own clock (Standard Webhooks allows five minutes)."""
    started = time.monotonic()
    try:
        check_url(message.url, allow_private)
    except UnsafeURL as error:
        return Outcome(error="refused: %s" % error)
    signed_at = signed_at or datetime.now(timezone.utc)
    signature = Signer(message.secret).sign(message.delivery_id, signed_at, message.body)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message.delivery_id,
        "webhook-timestamp": str(int(signed_at.timestamp())),
        "webhook-signature": signature,
    }
    try:
        response = session.post(message.url, data=message.body.encode(), headers=headers, timeout=(timeout, timeout),
                                allow_redirects=False, stream=True)
    except requests.RequestException as error:
        return Outcome(error=_short_error(error), duration_ms=int((time.monotonic() - started) * 1000))
    # The receiver's body is neither read nor kept: it is not ours to store.
    response.close()
    outcome = Outcome(status_code=response.status_code, duration_ms=int((time.monotonic() - started) * 1000))
    if 300 <= response.status_code < 400:
        outcome.error = "redirect not followed (Location: %s)" % response.headers.get("Location", "")[:200]
    elif not outcome.ok:
        outcome.error = "HTTP %d" % response.status_code
    outcome.retry_after = response.headers.get("Retry-After")
    return outcome


def _short_error(error):
    text = "%s: %s" % (type(error).__name__, error)
    refused = re.search(r"refused: [^'\")]*", text)
    return (refused.group(0) if refused else text)[:500]


def record_attempt(delivery_id, outcome, now, rng=random):
    """Store the attempt and decide what comes next: delivered, retry later, give up, or 410 disables."""
    config = current_app.config
    delivery = db.session.get(WebhookDelivery, delivery_id, with_for_update=dialect_name() == "postgresql")
    db.session.add(DeliveryAttempt(delivery_id=delivery.id, attempted_at=now, status_code=outcome.status_code,
                                   error=outcome.error, duration_ms=outcome.duration_ms))
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if outcome.ok:
        delivery.status, delivery.delivered_at = "delivered", now
        return "delivered"
    if outcome.status_code == 410:
        webhook = db.session.get(Webhook, delivery.webhook_id)
        webhook.active = False
        webhook.disabled_reason = "The receiver answered 410 Gone at %s." % rfc3339(now)
        delivery.status = "failed"
        return "disabled"
    if delivery.attempts >= config["WEBHOOK_MAX_ATTEMPTS"]:
        delivery.status = "failed"
        return "failed"
    wait = backoff_seconds(delivery.attempts, config["WEBHOOK_RETRY_BASE_SECONDS"],
                           config["WEBHOOK_RETRY_MAX_SECONDS"], rng)
    asked = retry_after_seconds(outcome.retry_after, now)
    if asked is not None:
        wait = max(wait, asked)
    delivery.next_attempt_at = now + timedelta(seconds=wait)
    return "retrying"
