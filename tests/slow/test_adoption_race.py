"""A discharge from the ADT feed and a referral of the same patient at the same moment (PostgreSQL, where neither
sees the other's uncommitted row): the referral waits for the feed's transaction and adopts the discharge it
recorded, never standing beside a discharge nobody adopted. An admission waits on the same lock."""

import threading
import time
from datetime import date

import pytest
from sqlalchemy import select, text

from tests.api.test_discharges import AFTER_DISCHARGE, HL7, member_discharge, send
from tests.conftest import on_postgres
from tests.support import payloads
from tests.support.hl7msgs import adt, register
from transitions.adt import hl7v2, service
from transitions.core.db import db
from transitions.discharges import commands as discharges
from transitions.discharges.models import Discharge
from transitions.identity.models import Organization

pytestmark = pytest.mark.skipif(not on_postgres(), reason="real row-level concurrency needs PostgreSQL")


WAITING = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
)


def waits_on_an_advisory_lock(app, thread, seconds=30):
    """Whether a backend of this database comes to wait on an advisory lock while the thread runs."""
    deadline = time.monotonic() + seconds
    with app.app_context():
        while thread.is_alive() and time.monotonic() < deadline:
            waiting = db.session.scalar(WAITING)
            db.session.rollback()
            if waiting:
                return True
            time.sleep(0.05)
    return False


# PID-5's given names, and the referral's given name: the same form, or the discharge's further form (whose lock the
# discharge message takes beside its first form's).
@pytest.mark.parametrize(("pid_given", "referral_given"), [("Maria", "Maria"), ("Maria^Elena", "Maria Elena")])
def test_a_referral_submitted_while_the_feed_records_the_discharge_waits_and_adopts_it(
    app, api, world, clock, pid_given, referral_given
):
    register(api, world)
    clock.set(AFTER_DISCHARGE)
    recorded, release = threading.Event(), threading.Event()
    failures = []

    def feed():
        # The feed's discharge path up to its commit, then held open: its lock and its uncommitted discharge.
        try:
            with app.app_context():
                _, message, _ = hl7v2.parse(member_discharge(given=pid_given))
                organization = db.session.get(Organization, world.orgs["hospital"])
                outcome = service.apply_discharge(hl7v2.patient(message), organization, date(2026, 12, 2), clock.now)
                assert "discharge without referral was recorded" in outcome.reason
                recorded.set()
                release.wait(30)
                db.session.commit()
        except Exception as error:  # reported by the test thread
            failures.append(error)
            recorded.set()

    answers = []

    def planner():
        client = app.test_client()
        body = payloads.referral(discharge_date="2026-12-02", patient={"given_name": referral_given})
        answers.append(
            client.post(
                "/api/v1/referrals", json=body, headers={"Authorization": "Bearer %s" % world.tokens["planner"]}
            )
        )

    feeding = threading.Thread(target=feed)
    feeding.start()
    assert recorded.wait(30) and not failures, failures
    submitting = threading.Thread(target=planner)
    submitting.start()
    # The referral is written but waits (on the patient's advisory lock) to look for discharges to adopt until the
    # feed's transaction ends.
    assert waits_on_an_advisory_lock(app, submitting)
    assert answers == []
    release.set()
    feeding.join(30)
    submitting.join(30)
    assert not failures, failures
    [answer] = answers
    assert answer.status_code == 201, answer.json
    with app.app_context():
        [discharge] = db.session.scalars(select(Discharge)).all()
        assert discharge.adopted_by_referral_id == answer.json["id"]


def test_an_admission_waits_for_the_patients_lock(app, api, world, clock):
    register(api, world)
    clock.set(AFTER_DISCHARGE)
    assert send(api, world, member_discharge()).status_code == 200  # a discharge without referral of Maria Lopez
    clock.set("2026-12-12T15:00:00Z")
    answers = []

    def feed():
        admission = adt(trigger="A01", control_id="ADM1", admitted="20261212", discharged="")
        answers.append(
            app.test_client().post(
                "/api/v1/adt",
                data=admission,
                headers={"Authorization": "Bearer %s" % world.tokens["planner"], "Content-Type": HL7},
            )
        )

    with app.app_context():
        # A referral of the patient in the middle of its adoption: the patient's lock held, its transaction open.
        discharges.lock_patient(world.orgs["hospital"], "Lopez", date(1990, 4, 12))
        admitting = threading.Thread(target=feed)
        admitting.start()
        assert waits_on_an_advisory_lock(app, admitting)
        assert answers == []
        db.session.rollback()
    admitting.join(30)
    [answer] = answers
    assert answer.status_code == 200, answer.data
    [discharge] = api.get("/api/v1/discharges", token=world.tokens["manager"]).json["items"]
    detail = api.get("/api/v1/discharges/%s" % discharge["id"], token=world.tokens["manager"]).json
    assert [r["days_after_discharge"] for r in detail["readmissions"]] == [10]
