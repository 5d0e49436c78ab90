"""The scheduler: fixed job ids and settings, the `sweep` and `scheduler` commands, restarts, and concurrent sweeps."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date

from sqlalchemy import func, select

from tests.support.followups import at, bulk_referrals, submit
from transitions import scheduler
from transitions.core.db import db
from transitions.followups.models import FollowUp
from transitions.notify.models import Event

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOB_IDS = {"expire-offers", "sweep-followups", "deliver-webhooks", "send-mail", "purge-idempotency"}


def flask_env(database_url, **settings):
    env = dict(
        os.environ, TRANSITIONS_DATABASE_URL=database_url, TRANSITIONS_SECRET_KEY="scheduler-test", PYTHONUNBUFFERED="1"
    )
    env.update({"TRANSITIONS_%s" % key: str(value) for key, value in settings.items()})
    return env


def flask(*args, database_url, timeout=120, **settings):
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "transitions", *args],
        cwd=ROOT,
        env=flask_env(database_url, **settings),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def evaluated(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(FollowUp).where(FollowUp.outcome.isnot(None)))


def test_jobs_have_fixed_ids_coalesce_one_instance_and_a_grace_time(app):
    from apscheduler.schedulers.background import BackgroundScheduler

    # The same registration as `flask scheduler`, on a scheduler that can start without blocking the test.
    sched = scheduler.build_scheduler(app, BackgroundScheduler)
    sched.start(paused=True)
    jobs = {job.id: job for job in sched.get_jobs()}
    assert set(jobs) == JOB_IDS
    for job_id, job in jobs.items():
        period_key = scheduler.JOBS[job_id].period_key
        # A textual reference and plain arguments: serializable, should the jobs ever be persisted.
        assert job.func_ref == "transitions.scheduler:run_scheduled_job" and job.args == (job_id,) and job.kwargs == {}
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == app.config[period_key]
        assert job.trigger.interval.total_seconds() == app.config[period_key]
    # Registering again (what a restart does) replaces each job under its id instead of adding one.
    scheduler.add_jobs(sched, app)
    scheduler.add_jobs(sched, app)
    assert sorted(job.id for job in sched.get_jobs()) == sorted(JOB_IDS)
    sched.shutdown(wait=False)


def test_the_web_app_never_starts_or_imports_the_scheduler(db_url):
    code = (
        "import sys; from transitions import create_app; app = create_app({'DATABASE_URL': %r, "
        "'SECRET_KEY': 'x'}); app.test_client().get('/readyz'); "
        # gunicorn's entry point too, minus its few seconds of code-set warming.
        "import transitions.core.codes as codes; codes.warm = lambda: None; import wsgi; "
        "print(sorted(m for m in sys.modules if m.startswith(('apscheduler', 'transitions.scheduler'))))" % db_url
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, TRANSITIONS_DATABASE_URL=db_url),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_sweep_command_runs_one_pass_as_of_a_time(api, world, app, db_url):
    referral_id = submit(api, world)
    result = flask("sweep", "--now", "2026-12-20T09:00:00Z", database_url=db_url)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert list(lines) == list(scheduler.PASS_ORDER)
    assert lines["sweep-followups"].startswith("evaluated 2 checks (met 0, missed 2")
    assert lines["deliver-webhooks"].startswith("3 events, 0 deliveries queued")
    listed = api.get("/api/v1/referrals/%s/followups" % referral_id, token=world.tokens["planner"]).json["items"]
    assert [(i["check"], i["evaluated_at"]) for i in listed if i["outcome"]] == [
        ("intake_scheduled", "2026-12-20T09:00:00Z"),
        ("followup_7", "2026-12-20T09:00:00Z"),
    ]
    runner = app.test_cli_runner()
    again = runner.invoke(args=["sweep", "--now", "2026-12-20T09:00:00Z"])
    assert again.exit_code == 0 and "sweep-followups: evaluated 0 checks" in again.output
    bad = runner.invoke(args=["sweep", "--now", "next tuesday"])
    assert bad.exit_code == 2 and "RFC 3339" in bad.output


def test_a_stop_request_ends_the_sweep_between_batches(api, world, app):
    submit(api, world)
    scheduler.bind_app(app)
    scheduler.request_stop()
    try:
        assert scheduler.run_job("sweep-followups", at("2026-12-20T00:00:00Z")).startswith("evaluated 0 ")
    finally:
        scheduler.bind_app(app)
    assert scheduler.run_job("sweep-followups", at("2026-12-20T00:00:00Z")).startswith("evaluated 2 ")


def test_concurrent_sweeps_in_one_process_evaluate_each_check_once(app):
    bulk_referrals(app, 40, date(2026, 4, 1))
    app.config["FOLLOWUP_SWEEP_BATCH"] = 7
    scheduler.bind_app(app)
    results = []
    barrier = threading.Barrier(4)

    def run():
        barrier.wait()
        results.append(scheduler.run_job("sweep-followups", at("2026-12-20T00:00:00Z")))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    counts = [int(text.split()[1]) for text in results]
    assert sum(counts) == 200 and evaluated(app) == 200
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count(func.distinct(Event.subject_id))).where(Event.type == "followup.missed")
            )
            == 200
        )
        assert db.session.scalar(select(func.count()).select_from(Event).where(Event.type == "followup.missed")) == 200


def _start_scheduler(database_url, **settings):
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "transitions", "scheduler"],
        cwd=ROOT,
        env=flask_env(database_url, **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "sweep-followups: evaluated" in line:
            return process, lines
    process.kill()
    raise AssertionError("the scheduler did not run its first sweep:\n" + "".join(lines))


def test_restarting_the_scheduler_three_times_leaves_one_job_per_id(app, db_url):
    bulk_referrals(app, 3, date(2026, 4, 1))
    for run in range(3):
        process, lines = _start_scheduler(db_url, SCHEDULER_WEBHOOK_SECONDS=600)
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
        assert process.returncode == 0, rest
        output = "".join(lines) + rest
        started = next(line for line in output.splitlines() if line.startswith("scheduler started with jobs: "))
        ids = [part.split(" every ")[0] for part in started.split(": ", 1)[1].split(", ")]
        assert sorted(ids) == sorted(JOB_IDS), started
        assert "scheduler stopped" in output
        # The first run evaluates the 15 due checks at once; the restarts find nothing left to do.
        expected = "sweep-followups: evaluated %d checks" % (15 if run == 0 else 0)
        assert expected in output, output
    assert evaluated(app) == 15
    with app.app_context():
        tables = db.session.execute(
            select(func.count()).select_from(
                db.text(
                    "(SELECT 1 FROM %s WHERE name LIKE 'apscheduler%%') AS t"
                    % (
                        "sqlite_master"
                        if db.engine.dialect.name == "sqlite"
                        else "(SELECT tablename AS name FROM pg_tables) AS p"
                    )
                )
            )
        ).scalar()
    # Nothing persisted: the jobs live in memory and are registered afresh, under the same ids, at each start.
    assert tables == 0
