"""The notify domain's periodic job: queueing webhook deliveries for new events, then sending what is due."""

from flask import current_app

from transitions.core.db import db
from transitions.core.jobs import Job
from transitions.notify import delivery, ssrf, webhooks

DISPATCH_BATCH = 500


def deliver_webhooks(run):
    """Queue deliveries for new events, then send what is due; an endpoint that fails is left for the next run."""
    dispatched = dispatch_events(run)
    sent = send_due(run)
    return "%s; %s" % (dispatched, sent)


def dispatch_events(run):
    """Turn undispatched events into pending deliveries, one committed batch at a time."""
    counts = webhooks.DispatchCounts()
    while not run.stopping():
        claimed = webhooks.dispatch_batch(run.now(), DISPATCH_BATCH, counts)
        db.session.commit()
        if claimed < DISPATCH_BATCH:
            break
    return counts


def send_due(run):
    """Send every due delivery, each leased and committed before its request and recorded after it."""
    allow_private = current_app.config["WEBHOOK_ALLOW_PRIVATE"]
    timeout = current_app.config["WEBHOOK_TIMEOUT_SECONDS"]
    counts = delivery.SendCounts()
    failing = set()
    session = ssrf.http_session(allow_private)
    try:
        while not run.stopping():
            delivery_id = delivery.claim_next(run.now(), failing)
            db.session.commit()
            if delivery_id is None:
                break
            message = delivery.message_for(delivery_id)
            # No transaction stays open across the network call.
            db.session.rollback()
            outcome = delivery.post(message, session, allow_private, timeout)
            result = delivery.record_attempt(delivery_id, outcome, run.now())
            db.session.commit()
            counts.results[result] += 1
            if result != "delivered":
                # One probe per failing endpoint per run: a dead receiver must not stall the others.
                failing.add(message.webhook_id)
    finally:
        session.close()
    return counts


JOBS = (Job("deliver-webhooks", "SCHEDULER_WEBHOOK_SECONDS", deliver_webhooks),)
