"""Scaling out on one machine: 2 gunicorn workers and 2 scheduler processes on one PostgreSQL, end to end."""

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta

import pytest
import requests
import sqlalchemy as sa
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook as Verifier

from tests.api.test_webhooks import free_port
from tests.conftest import on_postgres
from tests.slow.test_scheduler import ROOT, flask_env
from tests.support import payloads
from tests.support.followups import person
from transitions.core.db import db
from transitions.identity import service as organizations

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not on_postgres(), reason="several processes share one database on PostgreSQL"),
]

REFERRALS = 12


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def test_two_web_workers_and_two_schedulers_share_the_work(app, db_url):
    with app.app_context():
        hospital = organizations.create_organization("Scale hospital", "hospital")
        plan = organizations.create_organization("Scale plan", "health_plan", ["acme-health"])
        _, planner = organizations.create_user("scale-planner@example.org", hospital.id, "discharge_planner")
        _, manager = organizations.create_user("scale-manager@example.org", plan.id, "case_manager")
        db.session.commit()
    receiver = HTTPServer(host="127.0.0.1", port=free_port())
    receiver.expect_request("/hook").respond_with_data("ok")
    receiver.start()
    port = free_port()
    settings = dict(
        WEBHOOK_ALLOW_PRIVATE="true", SCHEDULER_SWEEP_SECONDS=1, SCHEDULER_WEBHOOK_SECONDS=1, FOLLOWUP_SWEEP_BATCH=5
    )
    env = flask_env(db_url, **settings)
    web = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "gunicorn"),
            "--workers",
            "2",
            "--preload",
            "--bind",
            "127.0.0.1:%d" % port,
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    schedulers = [
        subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "transitions", "scheduler"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    api = "http://127.0.0.1:%d/api/v1" % port
    engine = sa.create_engine(db_url)
    try:

        def web_up():
            try:
                return requests.get("http://127.0.0.1:%d/readyz" % port, timeout=2).status_code == 200
            except requests.RequestException:  # not listening yet, or workers still warming the code sets
                assert web.poll() is None, web.stderr.read()
                return False

        _wait_for(web_up, 90, "gunicorn")
        hook = requests.post(
            api + "/webhooks",
            json={"url": receiver.url_for("/hook"), "events": ["referral.submitted", "followup.missed"]},
            headers={"Authorization": "Bearer " + manager},
            timeout=10,
        )
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]
        # Discharged ten days ago (real time: these processes run on the wall clock), so day 1 and day 7 are due.
        discharge = (date.today() - timedelta(days=10)).isoformat()
        session = requests.Session()
        for index in range(REFERRALS):
            created = session.post(
                api + "/referrals",
                json=payloads.referral(patient=person(index), discharge_date=discharge),
                headers={"Authorization": "Bearer " + planner},
                timeout=30,
            )
            assert created.status_code == 201, created.text

        def evaluated():
            with engine.connect() as connection:
                return (
                    connection.execute(sa.text("SELECT count(*) FROM followups WHERE outcome IS NOT NULL")).scalar()
                    == 2 * REFERRALS
                )

        _wait_for(evaluated, 90, "the schedulers to evaluate every due check")
        _wait_for(lambda: len(receiver.log) >= 3 * REFERRALS, 90, "every webhook delivery")
        time.sleep(2)  # anything more (a duplicate) would arrive within a couple of scheduler periods
    finally:
        for process in schedulers:
            process.send_signal(signal.SIGTERM)
        web.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=60)[0] for process in schedulers]
        web.wait(timeout=60)
        receiver.stop()
    with engine.connect() as connection:
        missed, distinct = connection.execute(
            sa.text("SELECT count(*), count(DISTINCT subject_id) FROM events WHERE type = 'followup.missed'")
        ).one()
    engine.dispose()
    assert missed == distinct == 2 * REFERRALS
    ids = [request.headers["webhook-id"] for request, _ in receiver.log]
    assert len(ids) == len(set(ids)) == 3 * REFERRALS
    for request, _ in receiver.log:
        Verifier(secret).verify(request.get_data(as_text=True), dict(request.headers))
    # Both scheduler processes did part of the follow-up work.
    swept = [
        sum(
            int(line.split("evaluated ")[1].split()[0])
            for line in output.splitlines()
            if "sweep-followups: evaluated" in line
        )
        for output in outputs
    ]
    assert sum(swept) == 2 * REFERRALS, outputs
    assert all(process.returncode == 0 for process in schedulers), outputs
