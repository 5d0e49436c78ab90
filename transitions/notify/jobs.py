"""The notify domain's periodic jobs: webhook deliveries for new events, and mail to people (offer.expiring
included), each queued from the outbox and then sent when due."""

import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from flask import current_app
from sqlalchemy.exc import IntegrityError

from transitions.core.db import db
from transitions.core.jobs import Job
from transitions.notify import delivery, mail, smtp, webhooks

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
    """Send every due delivery: up to WEBHOOK_MAX_IN_FLIGHT at once, to as many different endpoints, each leased
    and committed before its request and recorded after it.

    Only the network calls run in the worker threads; this thread does every database step (one session, as the
    job's). An attempt ends by its deadline, counted from its claim, and its lease outlasts that deadline, so no
    other sender can post the same delivery while it may still be in flight; a slow receiver holds one slot for at
    most one deadline and is then left alone for the rest of the run.
    """
    settings = delivery.send_settings()
    counts = delivery.SendCounts()
    failing = set()
    in_flight = {}  # future -> (delivery id, webhook id)
    with ThreadPoolExecutor(settings.max_in_flight, thread_name_prefix="webhook-sender") as pool:
        while True:
            while len(in_flight) < settings.max_in_flight and not run.stopping():
                sending_to = {webhook_id for _, webhook_id in in_flight.values()}
                started = time.monotonic()
                delivery_id = delivery.claim_next(run.now(), settings.lease, failing | sending_to)
                db.session.commit()
                if delivery_id is None:
                    break
                message = delivery.message_for(delivery_id)
                # No transaction stays open across the network call.
                db.session.rollback()
                future = pool.submit(delivery.post, message, settings, started + settings.deadline)
                in_flight[future] = (delivery_id, message.webhook_id)
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                delivery_id, webhook_id = in_flight.pop(future)
                result = delivery.record_attempt(delivery_id, future.result(), run.now())
                db.session.commit()
                counts.results[result] += 1
                if result != "delivered":
                    # One probe per failing endpoint per run: a dead or slow receiver must not stall the others.
                    failing.add(webhook_id)
    return counts


JOBS = (Job("deliver-webhooks", "SCHEDULER_WEBHOOK_SECONDS", deliver_webhooks, check=delivery.send_settings),)


MAIL_DISPATCH_BATCH = 500


def send_mail(run):
    """Write offer.expiring for offers running out, queue mail for new events, then send what is due."""
    settings = smtp.mail_settings()
    expiring = emit_expiring(run)
    unconfirmed = emit_seats_unconfirmed(run)
    dispatched = mail.DispatchCounts()
    while not run.stopping():
        claimed = mail.dispatch_batch(run.now(), MAIL_DISPATCH_BATCH, settings, dispatched)
        db.session.commit()
        if claimed < MAIL_DISPATCH_BATCH:
            break
    if settings.server is None:
        return "%d offers expiring; %d tracks' seats unconfirmed; %s; mail is off (no SMTP_URL)" % (
            expiring,
            unconfirmed,
            dispatched,
        )
    sent = send_due_mail(run, settings)
    return "%d offers expiring; %d tracks' seats unconfirmed; %s; %s" % (expiring, unconfirmed, dispatched, sent)


def emit_expiring(run):
    """offer.expiring, once per offer, batch by batch; a batch another scheduler wrote first is left to it."""
    hours = float(current_app.config["OFFER_EXPIRING_HOURS"])
    total = 0
    while not run.stopping():
        try:
            written = mail.emit_expiring(run.now(), hours)
            db.session.commit()
        except IntegrityError:
            # Another scheduler wrote the same offers' events first (their ids follow from the offers'): theirs.
            db.session.rollback()
            continue
        total += written
        if written < mail.EXPIRING_BATCH:
            break
    return total


def emit_seats_unconfirmed(run):
    """track.seats_unconfirmed, once per track per staleness period; what another scheduler wrote first is its."""
    if run.stopping():
        return 0
    max_age_days = float(current_app.config["SEATS_CONFIRMATION_MAX_AGE_DAYS"])
    try:
        written = mail.emit_seats_unconfirmed(run.now(), max_age_days)
        db.session.commit()
    except IntegrityError:
        # Another scheduler wrote the same reminders first (their ids follow from the tracks'): the next pass
        # writes whatever it did not.
        db.session.rollback()
        return 0
    return written


# Mails leased per claim: one commit for the lot; each is still recorded (and committed) right after its send.
MAIL_CLAIM_BATCH = 100


def send_due_mail(run, settings, mailers=None):
    """Send every due mail over `settings.connections` SMTP connections, each reused for the whole pass: leased a
    batch at a time and committed before the sends; each mail recorded (and committed, on one connection held for
    the pass) as soon as its send returns, so at most one mail per SMTP connection is sent and not yet recorded.

    A batch is sent within one deadline from its claim (its lease outlasts that deadline): a send that would start
    with less than half a deadline left, and every mail not yet started when a send finds the server unable to take
    it (down, timed out, busy), are given back due at once, with no attempt counted; the run ends there. Only the
    mails that found the server down count an attempt and wait their backoff.
    """
    counts = mail.SendCounts()
    mailers = mailers or [smtp.Mailer(settings) for _ in range(settings.connections)]
    try:
        # The threads only talk SMTP; every database statement stays on this thread and its session.
        with mail.record_connection() as recorder, ThreadPoolExecutor(len(mailers), "mail-send") as pool:
            while not run.stopping():
                claimed_at = time.monotonic()
                units = mail.claim_batch(run.now(), settings.lease, MAIL_CLAIM_BATCH)
                db.session.commit()
                if not units:
                    break
                prepared = mail.messages_for(units, settings)
                counts.results["skipped"] += sum(
                    len(unit) - len(sending) for unit, (_, sending) in zip(units, prepared, strict=True)
                )
                # Skipped rows settled; no transaction stays open across the sends.
                db.session.commit()
                sendable = [(message, sending) for message, sending in prepared if message is not None]
                batch = _Batch(run, settings, pool, recorder, counts, claimed_at + settings.deadline)
                if not batch.send(sendable, mailers):
                    break
    finally:
        for mailer in mailers:
            mailer.close()
    return counts


class _Batch:
    """One claimed batch's sends, spread over the free SMTP connections and recorded as each returns."""

    def __init__(self, run, settings, pool, recorder, counts, expires_at):
        self.run, self.settings, self.pool, self.recorder = run, settings, pool, recorder
        self.counts, self.expires_at = counts, expires_at

    def send(self, sendable, mailers):
        """Send the batch; False when the run should end (the server could not take a mail, or it is stopping)."""
        free, in_flight, position, server_down = list(mailers), {}, 0, False
        while position < len(sendable) or in_flight:
            # One connection until the server has taken a mail in this pass: a server that is down is found by
            # one mail, which alone counts an attempt, and one that never answers costs one deadline, not several.
            capacity = len(mailers) if self.counts.results["sent"] else 1
            while free and position < len(sendable) and len(in_flight) < capacity:
                if self.run.stopping() or self.expires_at - time.monotonic() < self.settings.deadline / 2:
                    # Out of time for this batch: the rest goes back, and the next claim starts a new deadline.
                    release(sendable[position:], self.run)
                    position = len(sendable)
                    break
                message, sending = sendable[position]
                position += 1
                mailer = free.pop()
                in_flight[self.pool.submit(mailer.send, message, self.expires_at)] = (mailer, sending)
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                mailer, sending = in_flight.pop(future)
                outcome = future.result()
                result = mail.record_send(sending, outcome, self.run.now(), self.settings, self.recorder)
                self.counts.results[result] += len(sending)
                db.session.commit()  # a retry's or failure's rows; a sent mail's record is committed by the recorder
                free.append(mailer)
                if outcome.server_down and not server_down:
                    server_down = True
                    release(sendable[position:], self.run)
                    position = len(sendable)
        return not server_down and not self.run.stopping()


def release(prepared, run):
    """Give the prepared mails back, due at once."""
    mail.release([delivery_id for _, sending in prepared for delivery_id in sending], run.now())
    db.session.commit()


JOBS += (Job("send-mail", "SCHEDULER_MAIL_SECONDS", send_mail, check=smtp.mail_settings),)
