"""Faults on PostgreSQL, with real processes: two sweepers share 1,000 due checks; kill -9 mid-sweep loses nothing."""

import signal
import subprocess
import sys
import time
from datetime import date

import pytest
import sqlalchemy as sa

from tests.conftest import on_postgres
from tests.slow.test_scheduler import ROOT, flask_env
from tests.support.followups import bulk_referrals

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not on_postgres(), reason="SKIP LOCKED and process faults are proven on PostgreSQL"),
]

# 200 referrals discharged long ago: 5 checks each, all due, all missed (nothing was recorded).
REFERRALS, CHECKS = 200, 1000
NOW = "2026-12-20T09:00:00Z"


@pytest.fixture
def due(app, db_url):
    bulk_referrals(app, REFERRALS, date(2026, 4, 1))
    engine = sa.create_engine(db_url)
    yield engine
    engine.dispose()


def counts(engine):
    with engine.connect() as connection:
        return connection.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM followups WHERE outcome IS NOT NULL),"
                " (SELECT count(*) FROM events WHERE type = 'followup.missed'),"
                " (SELECT count(DISTINCT subject_id) FROM events WHERE type = 'followup.missed')"
            )
        ).one()


def sweep_process(db_url, batch):
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "transitions", "sweep", "--now", NOW],
        cwd=ROOT,
        env=flask_env(db_url, FOLLOWUP_SWEEP_BATCH=batch),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def waiting_on_followups(engine):
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'followups'::regclass")
        ).scalar()


def test_two_sweeping_processes_evaluate_each_of_1000_checks_exactly_once(due, db_url):
    # Hold both processes at the starting line: a table lock that their SELECT ... FOR UPDATE waits on.
    gate = due.connect()
    transaction = gate.begin()
    gate.execute(sa.text("LOCK TABLE followups IN EXCLUSIVE MODE"))
    processes = [sweep_process(db_url, 25) for _ in range(2)]
    try:
        deadline = time.monotonic() + 90
        while waiting_on_followups(due) < 2:
            assert time.monotonic() < deadline, "the sweepers never reached the follow-ups"
            assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
            time.sleep(0.05)
    finally:
        transaction.commit()
        gate.close()
    evaluated = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        line = next(text for text in out.splitlines() if text.startswith("sweep-followups: "))
        evaluated.append(int(line.split()[2]))
    assert sum(evaluated) == CHECKS, evaluated
    assert all(n > 0 for n in evaluated), evaluated  # both really took part
    assert tuple(counts(due)) == (CHECKS, CHECKS, CHECKS)


def test_kill_9_of_the_scheduler_mid_sweep_loses_nothing(due, db_url):
    # Slow every follow-up update down (in this test database only), so a batch is in flight for a while.
    with due.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE FUNCTION slow_followup() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_sleep(0.005); RETURN NEW; END $$"
            )
        )
        connection.execute(
            sa.text(
                "CREATE TRIGGER slow_followup BEFORE UPDATE ON followups FOR EACH ROW EXECUTE FUNCTION slow_followup()"
            )
        )
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "transitions", "scheduler"],
            cwd=ROOT,
            env=flask_env(db_url, FOLLOWUP_SWEEP_BATCH=50, SCHEDULER_WEBHOOK_SECONDS=600),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 90
        while counts(due)[0] < 100:
            assert time.monotonic() < deadline and process.poll() is None, "the scheduler did not start sweeping"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        done, events, distinct = counts(due)
        # Whole batches only: the one in flight died with its connection and was rolled back.
        assert 100 <= done < CHECKS and done % 50 == 0, done
        assert events == distinct == done
    finally:
        with due.begin() as connection:
            connection.execute(sa.text("DROP TRIGGER IF EXISTS slow_followup ON followups"))
            connection.execute(sa.text("DROP FUNCTION IF EXISTS slow_followup()"))
    # Nothing is left locked, and a restarted sweep finishes the rest.
    deadline = time.monotonic() + 30
    while True:
        with due.connect() as connection:
            if not connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' "
                    "AND datname = current_database()"
                )
            ).scalar():
                break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "transitions", "sweep", "--now", NOW],
        cwd=ROOT,
        env=flask_env(db_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "sweep-followups: evaluated %d checks" % (CHECKS - done) in result.stdout
    assert tuple(counts(due)) == (CHECKS, CHECKS, CHECKS)
