"""The scheduler process: APScheduler running the periodic jobs the domains declare, and the one-pass `sweep`.

Each domain's jobs.py declares its jobs (id, the config key of its period, the function); this module
only collects them, gives every run its app context and session (`job_session`), and runs them.
Follow-up checks and webhook deliveries are rows in our own tables, claimed by whichever process
gets there first, so any number of scheduler processes may run side by side. APScheduler only
fires a few periodic jobs with fixed ids; it keeps them in memory because there is nothing worth
persisting: each job works through everything due whenever it runs, so a restart loses nothing,
and APScheduler 3 job stores must not be shared between processes anyway.
"""

import logging
import signal
import threading
from contextlib import contextmanager
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from transitions.core import jobs as core_jobs
from transitions.core.clock import utcnow
from transitions.core.db import db, describe_unavailable, is_unavailable
from transitions.core.jobs import JobRun
from transitions.followups import jobs as followups_jobs
from transitions.notify import jobs as notify_jobs
from transitions.offers import jobs as offers_jobs

# Every job by id, in the order of one `sweep` pass: expiring offers first, so their events go out in the same pass.
JOBS = {job.id: job for job in (*offers_jobs.JOBS, *followups_jobs.JOBS, *notify_jobs.JOBS, *core_jobs.JOBS)}
PASS_ORDER = tuple(JOBS)
# What APScheduler calls, with the job id as its one argument: a textual reference keeps the jobs
# serializable, should anyone ever put them in a persistent store.
RUN_JOB = "transitions.scheduler:run_scheduled_job"

log = logging.getLogger(__name__)
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
        now = now.replace(tzinfo=UTC)
    return lambda: now


def request_stop():
    """Ask running jobs to stop after their current batch (SIGTERM)."""
    _stopping.set()


# ---------------------------------------------------------------- running a job


@contextmanager
def job_session(now=None):
    """The frame of every job run: the app context and a JobRun; whatever the job left uncommitted is rolled back,
    and the session removed, however the run ends."""
    app = _application()
    with app.app_context():
        try:
            yield JobRun(now=_clock(now), stopping=_stopping.is_set)
        finally:
            db.session.rollback()
            db.session.remove()


def run_job(job_id, now=None):
    """One run of a job, as of `now` (default: the live clock): what it did, in one line."""
    with job_session(now) as run:
        return JOBS[job_id].function(run)


def run_scheduled_job(job_id):
    """run_job as the scheduler calls it: a database that cannot be reached is one log line, not a traceback per
    run during an outage; the next run tries again (every job is safe to repeat)."""
    try:
        return run_job(job_id)
    except Exception as error:
        if not is_unavailable(error):
            raise
        log.warning("job %s skipped: database unavailable (%s)", job_id, describe_unavailable(error))
        return None


def run_pass(app, now=None):
    """One pass of every periodic job as of `now`: [(job id, what it did)]."""
    bind_app(app)
    fixed = _clock(now)() if now is not None else utcnow_outside(app)
    return [(job_id, run_job(job_id, fixed)) for job_id in PASS_ORDER]


def utcnow_outside(app):
    with app.app_context():
        return utcnow()


# ---------------------------------------------------------------- the process


def add_jobs(scheduler, app):
    """Register the periodic jobs under their fixed ids; registering again replaces, never duplicates."""
    for job in JOBS.values():
        period = float(app.config[job.period_key])
        scheduler.add_job(
            RUN_JOB,
            IntervalTrigger(seconds=period, jitter=max(1, int(period * 0.1))),
            args=(job.id,),
            id=job.id,
            name=job.id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            # A run delayed by less than one period still runs; a later one is dropped, because the
            # next regular run catches up on everything due anyway.
            misfire_grace_time=max(1, int(period)),
            # First run at start: a restarted scheduler catches up at once instead of a period later.
            next_run_time=datetime.now(UTC),
        )


def build_scheduler(app, scheduler_class=BlockingScheduler):
    bind_app(app)
    scheduler = scheduler_class(timezone=UTC)
    add_jobs(scheduler, app)
    return scheduler


def check_settings(config):
    """Bad settings stop the process at start, not at a job's first run."""
    for job in JOBS.values():
        if job.check is not None:
            job.check(config)


def run_forever(app, echo=print):
    """The `flask scheduler` process: blocks until SIGTERM or SIGINT, then finishes the batch in hand."""
    check_settings(app.config)
    scheduler = build_scheduler(app)
    stopping = []

    def stop(signum, frame):
        log.info("scheduler: signal %d, stopping after the current batch", signum)
        request_stop()
        # Not scheduler.shutdown(wait=True) here: the handler runs on the main thread, the scheduler's own loop, which
        # the signal may catch holding a lock (the scheduler's, or logging's while it writes a line) that a job ending
        # in a worker thread needs; waiting for that job from here would wait forever (seen under load in CI).
        if not stopping:
            stopping.append(threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, name="scheduler-stop"))
            stopping[0].start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def report(event):
        if getattr(event, "exception", None):
            log.error("scheduler: job %s failed: %r", event.job_id, event.exception)
        else:
            log.info("scheduler: %s: %s", event.job_id, event.retval)

    scheduler.add_listener(report, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    jobs = ", ".join("%s every %gs" % (job.id, job.trigger.interval.total_seconds()) for job in scheduler.get_jobs())
    echo("scheduler started with jobs: %s" % jobs)
    scheduler.start()
    for thread in stopping:
        thread.join()  # every running job has finished its batch
    echo("scheduler stopped")
