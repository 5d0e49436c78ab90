"""The follow-ups domain's periodic job: evaluating every due follow-up check."""

from flask import current_app

from transitions.core.db import db
from transitions.core.jobs import Job
from transitions.followups.plan import plan_config
from transitions.followups.sweep import SweepCounts, sweep_batch


def sweep_followups(run):
    """Evaluate every due follow-up check, one committed batch at a time."""
    counts = SweepCounts()
    batch = current_app.config["FOLLOWUP_SWEEP_BATCH"]
    while not run.stopping():
        claimed = sweep_batch(run.now(), batch, counts)
        db.session.commit()
        if claimed < batch:
            break
    return str(counts)


# A bad FOLLOWUP_PLAN stops the scheduler at start (plan_config raises), not at its first sweep.
JOBS = (Job("sweep-followups", "SCHEDULER_SWEEP_SECONDS", sweep_followups, check=plan_config),)
