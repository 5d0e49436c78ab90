"""Sending webhook deliveries: the payload, the lease on a due delivery, the signed post, and what each attempt means.

The sender leases due deliveries, posts them with `requests` outside any transaction, and records every
attempt. Delivery is at-least-once: a redelivery carries the same `webhook-id`, so receivers can deduplicate.
"""

import json
import logging
import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
from flask import current_app
from sqlalchemy import select
from standardwebhooks import Webhook as Signer

from transitions.core.clock import rfc3339
from transitions.core.db import db, dialect_name
from transitions.notify import deadline, ssrf, webhooks
from transitions.notify.models import DeliveryAttempt, Event, Webhook, WebhookDelivery
from transitions.referrals.consent import PART2_NOTICE
from transitions.referrals.models import Referral

USER_AGENT = "transitions-webhooks/1"
# Retry-After is honoured up to a day; a receiver cannot park a delivery forever.
RETRY_AFTER_CAP_SECONDS = 24 * 3600
CODE = re.compile(r"^[a-z0-9_.:-]{1,60}$")
# Event data keys that may leave the service besides *_id keys, and only with code-like values:
# an allow-list, so a field a later event adds (a free-text reason, say) never leaks by default.
PAYLOAD_CODE_KEYS = ("check", "reason", "outcome", "classification", "status", "from_status", "to_status", "reached")
RESULTS = ("delivered", "retrying", "failed", "disabled")

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- pure parts


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
        when = when.replace(tzinfo=UTC)
    return max(0, min((when - now).total_seconds(), RETRY_AFTER_CAP_SECONDS))


@dataclass
class Message:
    """One delivery, ready to send: loaded in a transaction, posted outside it."""

    delivery_id: str
    webhook_id: str
    url: str
    secret: str
    body: str


@dataclass
class Outcome:
    """What one attempt got back: a status code or an error, and the receiver's Retry-After."""

    status_code: int | None = None
    error: str | None = None
    retry_after: str | None = None
    duration_ms: int = 0
    # The SSRF guard refused the URL or the connected peer: no retry can succeed until the URL changes.
    refused: bool = False

    @property
    def ok(self):
        return self.status_code is not None and 200 <= self.status_code < 300


def signed_headers(message, signed_at):
    """The Standard Webhooks headers of one attempt."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message.delivery_id,
        "webhook-timestamp": str(int(signed_at.timestamp())),
        "webhook-signature": Signer(message.secret).sign(message.delivery_id, signed_at, message.body),
    }


def short_error(error):
    """A transport error as stored: its type and message, at most 500 characters."""
    return ("%s: %s" % (type(error).__name__, error))[:500]


def next_step(outcome, attempts, max_attempts, base, cap, rng=random):
    """What an attempt (the `attempts`-th) means: (delivered, disabled, failed or retrying; seconds to wait or None).

    A 410 Gone or a refused URL switches the endpoint off; a retry waits the backoff, or longer if the receiver asked.
    """
    if outcome.ok:
        return "delivered", None
    if outcome.status_code == 410 or outcome.refused:
        return "disabled", None
    if attempts >= max_attempts:
        return "failed", None
    return "retrying", backoff_seconds(attempts, base, cap, rng)


@dataclass
class SendCounts:
    """What one sending run did, by result."""

    results: dict = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))

    def __str__(self):
        r = self.results
        return "sent %d: %d delivered, %d to retry, %d failed, %d endpoints disabled" % (
            sum(r.values()),
            r["delivered"],
            r["retrying"],
            r["failed"],
            r["disabled"],
        )


# ---------------------------------------------------------------- settings

# A lease outlasts the deadline of the attempt it covers by this much: room for the claim's commit, the recording
# transaction and clock steps between scheduler hosts, never for the attempt itself.
LEASE_MARGIN_SECONDS = 30


@dataclass(frozen=True)
class SendSettings:
    """How attempts are bounded: per socket operation, per attempt (a hard deadline), and in flight at once."""

    timeout: float
    deadline: float
    max_in_flight: int
    allow_private: bool

    @property
    def lease(self):
        """Seconds a claimed delivery stays ours: longer than any attempt can be in flight."""
        return self.deadline + LEASE_MARGIN_SECONDS


def send_settings(config=None):
    """The sending settings, validated (a bad one stops the scheduler at start, not at its first delivery)."""
    config = config if config is not None else current_app.config
    values = {}
    for key, name in (("WEBHOOK_TIMEOUT_SECONDS", "timeout"), ("WEBHOOK_DEADLINE_SECONDS", "deadline")):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 600:
            raise ValueError("%s must be a number of seconds above 0 and at most 600, not %r." % (key, value))
        values[name] = float(value)
    in_flight = config["WEBHOOK_MAX_IN_FLIGHT"]
    if isinstance(in_flight, bool) or not isinstance(in_flight, int) or not 1 <= in_flight <= 64:
        raise ValueError("WEBHOOK_MAX_IN_FLIGHT must be a whole number from 1 to 64, not %r." % (in_flight,))
    return SendSettings(max_in_flight=in_flight, allow_private=bool(config["WEBHOOK_ALLOW_PRIVATE"]), **values)


# ---------------------------------------------------------------- the database and the network


def claim_next(now, lease, skip_webhooks=()):
    """Lease one due delivery of an active endpoint for `lease` seconds; the caller commits before sending."""
    query = (
        select(WebhookDelivery)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now, Webhook.active.is_(True))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(1)
    )
    if skip_webhooks:
        query = query.where(WebhookDelivery.webhook_id.notin_(list(skip_webhooks)))
    if dialect_name() == "postgresql":
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    delivery = db.session.scalar(query)
    if delivery is None:
        return None
    # The lease: a sender that dies mid-request leaves the delivery to be retried after it.
    delivery.next_attempt_at = now + timedelta(seconds=lease)
    return delivery.id


def message_for(delivery_id):
    """Load what one delivery sends: the endpoint, its secret and the payload for its organization."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    webhook = db.session.get(Webhook, delivery.webhook_id)
    event = db.session.scalar(select(Event).where(Event.id == delivery.event_id))
    referral = db.session.get(Referral, event.referral_id) if event.referral_id else None
    return Message(
        delivery.id, webhook.id, webhook.url, webhook.secret, payload_for(event, referral, webhook.organization_id)
    )


DEADLINE_MISSED = "timed out: no complete answer within the %g s deadline"


def post(message, settings, expires_at, signed_at=None):
    """One attempt, over by `expires_at` (a time.monotonic() value) whatever the receiver does.

    The URL check (with its DNS lookup), the connection, the request and the status line and headers all run
    under the deadline (notify/deadline.py); at the deadline the connection is cut and the attempt is a timeout.
    """
    started = time.monotonic()
    try:
        outcome = deadline.call(expires_at, attempt, message, settings, signed_at)
    except deadline.DeadlineExceeded:
        outcome = Outcome(error=DEADLINE_MISSED % settings.deadline)
    except Exception as error:  # a bug must cost one attempt, not the run (and the other endpoints' deliveries)
        log.exception("webhook delivery %s: unexpected error", message.delivery_id)
        outcome = Outcome(error=short_error(error))
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


def attempt(message, settings, signed_at=None):
    """The attempt itself, in the deadline's worker thread. Signed with the wall clock, not the injected "now":
    receivers check the timestamp against their own clock (Standard Webhooks allows five minutes)."""
    try:
        ssrf.check_url(message.url, settings.allow_private)
    except ssrf.UnresolvedHost as error:
        # DNS failing now says nothing about the URL: retried like a receiver that is down.
        return Outcome(error="DNS: %s" % error)
    except ssrf.UnsafeURL as error:
        return Outcome(error="refused: %s" % error, refused=True)
    headers = signed_headers(message, signed_at or datetime.now(UTC))
    # Each connect and read is bounded too, by no more than what is left of the deadline.
    running = deadline.current()
    left = running.remaining() if running else settings.timeout
    timeout = max(0.001, min(settings.timeout, left))
    with ssrf.http_session(settings.allow_private) as session:
        try:
            response = session.post(
                message.url,
                data=message.body.encode(),
                headers=headers,
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as error:
            refusal = ssrf.refusal_in(error)
            if refusal is not None:
                return Outcome(error="refused: %s" % refusal.refusal, refused=True)
            if isinstance(error, requests.Timeout) and left < settings.timeout:
                # The bound was what was left of the deadline, so the deadline ended the attempt, whichever of the
                # socket's timeout and the deadline's watchdog noticed first: the same outcome either way.
                return Outcome(error=DEADLINE_MISSED % settings.deadline)
            return Outcome(error=short_error(error))
        # The receiver's body is neither read nor kept: it is not ours to store.
        response.close()
    outcome = Outcome(status_code=response.status_code)
    if 300 <= response.status_code < 400:
        outcome.error = "redirect not followed (Location: %s)" % response.headers.get("Location", "")[:200]
    elif not outcome.ok:
        outcome.error = "HTTP %d" % response.status_code
    outcome.retry_after = response.headers.get("Retry-After")
    return outcome


def record_attempt(delivery_id, outcome, now, rng=random):
    """Store the attempt and apply what comes next: delivered, retry later, give up, or switch the endpoint off
    (a 410, or a URL the SSRF guard refused: failed at once, the webhook flagged with the reason)."""
    config = current_app.config
    delivery = db.session.get(WebhookDelivery, delivery_id, with_for_update=dialect_name() == "postgresql")
    db.session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            attempted_at=now,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
    )
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    if delivery.status != "pending":
        # Settled while this attempt was in flight (its webhook was deleted, or a sender whose lease had run out
        # recorded first): the attempt is on record, and only a success changes the delivery's state.
        if outcome.ok and delivery.status != "delivered":
            delivery.status, delivery.delivered_at, delivery.last_error = "delivered", now, None
        return "delivered" if outcome.ok else "failed"
    delivery.last_error = outcome.error
    result, wait = next_step(
        outcome,
        delivery.attempts,
        config["WEBHOOK_MAX_ATTEMPTS"],
        config["WEBHOOK_RETRY_BASE_SECONDS"],
        config["WEBHOOK_RETRY_MAX_SECONDS"],
        rng,
    )
    if result == "delivered":
        delivery.status, delivery.delivered_at = "delivered", now
    elif result == "disabled":
        webhook = db.session.get(Webhook, delivery.webhook_id)
        if outcome.refused:
            refusal = outcome.error.removeprefix("refused: ")
            webhooks.switch_off(webhook, "url_refused", "The URL was refused at %s: %s" % (rfc3339(now), refusal))
        else:
            webhooks.switch_off(webhook, "gone", "The receiver answered 410 Gone at %s." % rfc3339(now))
        delivery.status = "failed"
    elif result == "failed":
        delivery.status = "failed"
    else:
        asked = retry_after_seconds(outcome.retry_after, now)
        if asked is not None:
            wait = max(wait, asked)
        delivery.next_attempt_at = now + timedelta(seconds=wait)
    return result
