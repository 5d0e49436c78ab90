"""A listener killed with SIGKILL between storing a message and sending its ACK loses nothing and applies nothing
twice: the sender's retry to a new listener is acknowledged AA and the discharge exists once."""

import signal
import subprocess
import sys
import time

import pytest
from hl7.client import MLLPClient
from sqlalchemy import func, select

from tests.slow.test_adt_listener import ROOT, flask_env, msa_of, register_facility, start_listener, stop_listener
from tests.support.followups import submit
from tests.support.hl7msgs import adt
from transitions.adt.listener import FAULT_ENV
from transitions.adt.models import AdtMessage
from transitions.core.db import db
from transitions.notify.models import Event


@pytest.fixture
def registered_referral(app, api, world):
    register_facility(app, world)
    return submit(api, world)


def start_doomed_listener(db_url, fault):
    """A listener that SIGKILLs itself at the fault point of the first message it handles."""
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "transitions", "adt", "listen", "--port", "0"],
        cwd=ROOT,
        env=dict(flask_env(db_url), **{FAULT_ENV: fault}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("ADT MLLP listener on "):
            host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
            return process, (host, int(port))
        if not line:
            break
    process.kill()
    raise AssertionError("the doomed listener did not start")


def timeline_types(api, world, referral_id):
    response = api.get("/api/v1/referrals/%s/timeline?limit=100" % referral_id, token=world.tokens["planner"])
    assert response.status_code == 200, response.json
    return [event["type"] for event in response.json["items"]]


def stored(app):
    with app.app_context():
        return [
            (row.control_id, row.state, row.ack_code, row.attempts) for row in db.session.scalars(select(AdtMessage))
        ]


# Where a doomed listener kills itself, and the state its message is left in: stored and not applied, or applied and
# committed but not answered.
KILL_POINTS = pytest.mark.parametrize(
    ("fault", "state_after_kill"),
    [("after-store", "received"), ("before-ack", "processed")],
    ids=["killed-after-store", "killed-before-ack"],
)


@KILL_POINTS
def test_a_listener_killed_before_its_ack_loses_nothing_and_the_retry_applies_once(
    app, api, world, registered_referral, db_url, fault, state_after_kill
):
    message = adt(discharged="20261202").decode()
    before = timeline_types(api, world, registered_referral)
    doomed, address = start_doomed_listener(db_url, fault)
    try:
        with MLLPClient(*address) as client:
            # The peer dies without answering: the client sees the connection end (or reset), not an ACK.
            try:
                answer = client.send_message(message)
            except ConnectionError:
                answer = b""
            assert answer == b"", "a killed listener answered: %r" % answer
        assert doomed.wait(30) == -signal.SIGKILL
    finally:
        if doomed.poll() is None:
            doomed.kill()
        output = doomed.stdout.read()
        doomed.stdout.close()
    assert "Traceback" not in output, output
    # What the kill left: the message stored once, applied (before-ack) or not yet (after-store).
    assert stored(app) == [
        ("MSG0001", state_after_kill, "AA" if fault == "before-ack" else None, int(fault == "before-ack"))
    ]
    process, second, lines = start_listener(db_url)
    try:
        with MLLPClient(*second) as client:
            assert msa_of(client.send_message(message)) == ("AA", "MSG0001")
            # And a third try changes nothing either.
            assert msa_of(client.send_message(message)) == ("AA", "MSG0001")
    finally:
        stop_listener(process, lines)
    assert stored(app) == [("MSG0001", "processed", "AA", 1)]
    detail = api.get("/api/v1/referrals/%s" % registered_referral, token=world.tokens["planner"]).json
    assert detail["discharge_date"] == "2026-12-02"
    after = timeline_types(api, world, registered_referral)
    assert after.count("referral.updated") - before.count("referral.updated") == 1
    with app.app_context():
        updates = select(func.count()).select_from(Event).where(Event.type == "referral.updated")
        assert db.session.scalar(updates) == 1
