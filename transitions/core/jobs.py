"""Periodic jobs: the declaration each domain's jobs.py makes, what a running job is handed, and the core's own job.

A domain declares its jobs as data; transitions/scheduler.py collects them, runs them under APScheduler
or in one `flask sweep` pass, and opens the app context and session every run needs.
"""

from collections.abc import Callable
from dataclasses import dataclass

from transitions.core.db import db
from transitions.core.idempotency import purge_expired


@dataclass(frozen=True)
class Job:
    """One periodic job: its fixed id, the config key of its period in seconds, and the function doing one run.

    The function takes a JobRun, commits what it finishes (batch by batch, where it works in batches) and
    returns a one-line summary. `check`, if given, validates the app's config at process start.
    """

    id: str
    period_key: str
    function: Callable
    check: Callable | None = None


@dataclass(frozen=True)
class JobRun:
    """What a job function is handed: now() (a fixed time, or the live clock read afresh each call) and stopping()
    (true once the process was asked to stop: finish the batch in hand and return)."""

    now: Callable
    stopping: Callable


def purge_idempotency(run):
    """Forget Idempotency-Keys past their retention."""
    removed = purge_expired(run.now())
    db.session.commit()
    return "removed %d expired keys" % (removed or 0)


JOBS = (Job("purge-idempotency", "SCHEDULER_PURGE_SECONDS", purge_idempotency),)
