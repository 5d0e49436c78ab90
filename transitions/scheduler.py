"""The scheduler process: APScheduler running the periodic jobs, and the one-pass `sweep` operators and tests use.

Follow-up checks and webhook deliveries are rows in our own tables, claimed by whichever process
gets there first, so any number of scheduler processes may run side by side. APScheduler only
fires four periodic jobs with fixed ids; it keeps them in memory because there is nothing worth
persisting: each job works through everything due whenever it runs, so a restart loses nothing,
and APScheduler 3 job stores must not be shared between processes anyway.
"""
import importlib
import logging
import signal
import threading
from datetime import datetime, timezone

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from transitions.core.clock import utcnow
from transitions.core.db import db

log = logging.getLogger(__name__)

# id -> (function reference, config key of its period). Textual references keep the jobs
# serializable, should anyone ever put them in a persistent store.
JOBS = {
    "expire-offers": ("transitions.scheduler:expire_offers", "SCHEDULER_OFFER_EXPIRY_SECONDS"),
    "sweep-followups": ("transitions.scheduler:sweep_followups", "SCHEDULER_SWEEP_SECONDS"),
    "deliver-webhooks": ("transitions.scheduler:deliver_webhooks", "SCHEDULER_WEBHOOK_SECONDS"),
    "purge-idempotency": ("transitions.scheduler:purge_idempotency", "SCHEDULER_PURGE_SECONDS"),
}
# The order of one `sweep` pass: expiring offers first, so their events go out in the same pass.
PASS_ORDER = ("expire-offers", "sweep-followups", "deliver-webhooks", "purge-idempotency")

_app = None
_stopping = threading.Event()


def bind_app(app):
    """Jobs take only plain arguments; they find the application here."""
    global _app
    _app = app
    _stopping.clear()


def _application():
    global _app
    if _app is None:
        from transitions import create_app

        _app = create_app()
    return _app


def _clock(now):
    """A fixed "now" for a pass as of a given time; otherwise the live clock, read afresh for each step."""
    if now is None:
        return utcnow
    if isinstance(now, str):
        now = datetime.fromisoformat(now.replace("Z", "+00:00"))
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return lambda: now


def request_stop():
    """Ask running jobs to stop after their current batch (SIGTERM)."""
    _stopping.set()


# ---------------------------------------------------------------- the jobs


def sweep_followups(now=None):
    """Evaluate every due follow-up check, one committed batch at a time."""
    from transitions.followups import service as followups

    app = _application()
    clock = _clock(now)
    with app.app_context():
        counts = followups.SweepCounts()
        batch = app.config["FOLLOWUP_SWEEP_BATCH"]
        try:
            while not _stopping.is_set():
                claimed = followups.sweep_batch(clock(), batch, counts)
                db.session.commit()
                if claimed < batch:
                    break
        finally:
            db.session.rollback()
            db.session.remove()
    return str(counts)


def expire_offers(now=None):
    """Expire pending offers past their time, through the offers service when it exists."""
    app = _application()
    try:
        offers = importlib.import_module("transitions.offers.service")
    except ModuleNotFoundError as error:
        if error.name != "transitions.offers.service":
            raise
        offers = None
    expire = getattr(offers, "expire_due_offers", None)
    if expire is None:
        return "skipped: transitions.offers.service.expire_due_offers does not exist yet"
    with app.app_context():
        try:
            result = expire(_clock(now)())
            db.session.commit()
        finally:
            db.session.rollback()
            db.session.remove()
    if isinstance(result, bool) or result is None:
        return "done"
    if isinstance(result, int):
        return "expired %d offers" % result
    if type(result).__str__ is not object.__str__:
        return str(result)
    try:
        return "expired %d offers" % len(result)
    except TypeError:
        return "done (%r)" % (result,)


def deliver_webhooks(now=None):
    """Queue deliveries for new events, then send what is due; an endpoint that fails is left for the next run."""
    from transitions.notify import webhooks

    app = _application()
    clock = _clock(now)
    allow_private = app.config["WEBHOOK_ALLOW_PRIVATE"]
    timeout = app.config["WEBHOOK_TIMEOUT_SECONDS"]
    dispatched = webhooks.DispatchCounts()
    sent = {"delivered": 0, "retrying": 0, "failed": 0, "disabled": 0}
    with app.app_context():
        try:
            while not _stopping.is_set():
                claimed = webhooks.dispatch_batch(clock(), 500, dispatched)
                db.session.commit()
                if claimed < 500:
                    break
            failing = set()
            session = webhooks.http_session(allow_private)
            while not _stopping.is_set():
                delivery_id = webhooks.claim_next(clock(), failing)
                db.session.commit()
                if delivery_id is None:
                    break
                message = webhooks.message_for(delivery_id)
                db.session.rollback()
                outcome = webhooks.post(message, session, allow_private, timeout)
                result = webhooks.record_attempt(delivery_id, outcome, clock())
                db.session.commit()
                sent[result] += 1
                if result != "delivered":
                    # One probe per failing endpoint per run: a dead receiver must not stall the others.
                    failing.add(message.webhook_id)
            session.close()
        finally:
            db.session.rollback()
            db.session.remove()
    return "%s; sent %d: %d delivered, %d to retry, %d failed, %d endpoints disabled" % (
        dispatched, sum(sent.values()), sent["delivered"], sent["retrying"], sent["failed"], sent["disabled"])


def purge_idempotency(now=None):
    """Forget Idempotency-Keys past their retention."""
    from transitions.core.idempotency import purge_expired

    app = _application()
    with app.app_context():
        try:
            removed = purge_expired(_clock(now)())
            db.session.commit()
        finally:
            db.session.rollback()
            db.session.remove()
    return "removed %d expired keys" % (removed or 0)


def _function(reference):
    module, name = reference.split(":")
    return getattr(importlib.import_module(module), name)


def run_pass(app, now=None):
    """One pass of every periodic job as of `now`: [(job id, what it did)]."""
    bind_app(app)
    fixed = _clock(now)() if now is not None else utcnow_outside(app)
    return [(job_id, _function(JOBS[job_id][0])(fixed)) for job_id in PASS_ORDER]


def utcnow_outside(app):
    with app.app_context():
        return utcnow()


# ---------------------------------------------------------------- the process


def add_jobs(scheduler, app):
    """Register the periodic jobs under their fixed ids; registering again replaces, never duplicates."""
    for job_id, (reference, period_key) in JOBS.items():
        period = float(app.config[period_key])
        scheduler.add_job(
            reference, IntervalTrigger(seconds=period, jitter=max(1, int(period * 0.1))), id=job_id, name=job_id,
            replace_existing=True, coalesce=True, max_instances=1,
            # A run delayed by less than one period still runs; a later one is dropped, because the
            # next regular run catches up on everything due anyway.
            misfire_grace_time=max(1, int(period)),
            # First run at start: a restarted scheduler catches up at once instead of a period later.
            next_run_time=datetime.now(timezone.utc),
        )


def build_scheduler(app, scheduler_class=BlockingScheduler):
    bind_app(app)
    scheduler = scheduler_class(timezone=timezone.utc)
    add_jobs(scheduler, app)
    return scheduler


def run_forever(app, echo=print):
    """The `flask scheduler` process: blocks until SIGTERM or SIGINT, then finishes the batch in hand."""
    from transitions.followups.service import plan_config

    plan_config(app.config)  # a bad FOLLOWUP_PLAN should stop the process at start, not at the first sweep
    scheduler = build_scheduler(app)

    def stop(signum, frame):
        log.info("scheduler: signal %d, stopping after the current batch", signum)
        request_stop()
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def report(event):
        if getattr(event, "exception", None):
            log.error("scheduler: job %s failed: %r", event.job_id, event.exception)
        else:
            log.info("scheduler: %s: %s", event.job_id, event.retval)

    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

    scheduler.add_listener(report, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    jobs = ", ".join("%s every %gs" % (job.id, job.trigger.interval.total_seconds()) for job in scheduler.get_jobs())
    echo("scheduler started with jobs: %s" % jobs)
    scheduler.start()
    echo("scheduler stopped")
