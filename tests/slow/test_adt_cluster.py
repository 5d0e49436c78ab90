"""Two MLLP listeners and two schedulers on one PostgreSQL: every message sent to both listeners at once is
acknowledged AA by both and applied once, and what follows from it (the moved follow-up checks, their misses and
the webhooks announcing them) happens once."""

import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from hl7.client import MLLPClient
from pytest_httpserver import HTTPServer

from tests.api.test_webhooks import free_port
from tests.conftest import on_postgres
from tests.slow.test_adt_listener import ROOT, msa_of, register_facility, start_listener, stop_listener
from tests.slow.test_scheduler import flask_env
from tests.support.followups import person, submit
from tests.support.hl7msgs import adt

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not on_postgres(), reason="several processes share one database on PostgreSQL"),
]

PATIENTS = 6


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def _send_to_both(addresses, message):
    """The same message to every listener at the same instant; their ACKs."""
    barrier = threading.Barrier(len(addresses))
    answers = [None] * len(addresses)

    def send(index):
        with MLLPClient(*addresses[index]) as client:
            barrier.wait()
            answers[index] = client.send_message(message)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(addresses))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_two_listeners_and_two_schedulers_apply_each_message_once(app, api, world, db_url, clock):
    # The listeners and schedulers run on the wall clock: so does everything this test makes (a webhook made
    # "later" than the events would hear none of them).
    clock.now = datetime.now(UTC)
    register_facility(app, world)
    referrals = [submit(api, world, patient=person(index)) for index in range(PATIENTS)]
    receiver = HTTPServer(host="127.0.0.1", port=free_port())
    receiver.expect_request("/hook").respond_with_data("ok")
    receiver.start()
    hook = api.post(
        "/api/v1/webhooks",
        {"url": receiver.url_for("/hook"), "events": ["followup.missed"]},
        token=world.tokens["manager"],
    )
    assert hook.status_code == 201, hook.json
    settings = dict(WEBHOOK_ALLOW_PRIVATE="true", SCHEDULER_SWEEP_SECONDS=1, SCHEDULER_WEBHOOK_SECONDS=1)
    schedulers = [
        subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "transitions", "scheduler"],
            cwd=ROOT,
            env=flask_env(db_url, **settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    listeners = [start_listener(db_url) for _ in range(2)]
    engine = sa.create_engine(db_url)

    def count(sql):
        with engine.connect() as connection:
            return connection.execute(sa.text(sql)).scalar()

    # Discharged ten days ago (these processes run on the wall clock): the day-1 and day-7 checks fall due.
    discharged = date.today() - timedelta(days=10)
    try:
        for index in range(PATIENTS):
            message = adt(
                control_id="DIS%04d" % index,
                given="Person%d" % index,
                family="Tester",
                discharged=discharged.strftime("%Y%m%d"),
            ).decode()
            answers = _send_to_both([address for _, address, _ in listeners], message)
            assert [msa_of(answer) for answer in answers] == [("AA", "DIS%04d" % index)] * 2
        _wait_for(
            lambda: count("SELECT count(*) FROM followups WHERE outcome IS NOT NULL") == 2 * PATIENTS,
            90,
            "the schedulers to evaluate the moved checks",
        )
        try:
            _wait_for(lambda: len(receiver.log) >= 2 * PATIENTS, 90, "every webhook delivery")
        except AssertionError:
            deliveries = count("SELECT string_agg(status || ' ' || attempts, ', ') FROM webhook_deliveries")
            raise AssertionError("%d delivered; deliveries: %s" % (len(receiver.log), deliveries)) from None
        time.sleep(3)  # a duplicate delivery would arrive within a few scheduler periods
    finally:
        for process, _, lines in listeners:
            stop_listener(process, lines)
        for process in schedulers:
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=60)[0] for process in schedulers]
        receiver.stop()
    assert all(process.returncode == 0 for process in schedulers), outputs
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT state, ack_code, attempts, referral_id FROM adt_messages")).all()
        updated = connection.execute(
            sa.text("SELECT subject_id FROM events WHERE type = 'referral.updated' ORDER BY subject_id")
        ).scalars()
        discharges = connection.execute(sa.text("SELECT DISTINCT discharge_date FROM referrals")).scalars().all()
        missed, distinct = connection.execute(
            sa.text("SELECT count(*), count(DISTINCT subject_id) FROM events WHERE type = 'followup.missed'")
        ).one()
        updated = list(updated)
    engine.dispose()
    assert sorted(rows, key=lambda row: row.referral_id) == [
        ("processed", "AA", 1, referral_id) for referral_id in sorted(referrals)
    ]
    assert updated == sorted(referrals)
    assert discharges == [discharged]
    assert missed == distinct == 2 * PATIENTS
    ids = [request.headers["webhook-id"] for request, _ in receiver.log]
    assert len(ids) == len(set(ids)) == 2 * PATIENTS
