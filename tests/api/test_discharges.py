"""Discharges without referral: an ADT A03 of a health plan's member with no open referral is recorded (once), listed
with its followup_7 and followup_30 checks to the plan's case managers and the facility's planners (nobody else),
judged by the sweep from visits case managers record and readmissions the feed reports, shown on the step-down
board as no_step_down, counted in the metrics' denominator_with_adt, and adopted by a later referral."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from tests.support.followups import checks, submit, sweep
from tests.support.hl7msgs import adt, in1, register
from transitions import policy
from transitions.adt import commands as adt_commands
from transitions.adt.models import AdtMessage
from transitions.core.db import db
from transitions.core.models import AuditRecord
from transitions.discharges.models import Discharge
from transitions.followups.models import FollowUp
from transitions.identity.models import User
from transitions.notify.models import Event
from transitions.referrals.models import Referral

HL7 = "application/hl7-v2"
# The feed's clock: the evening of the discharge day (PV1-45 2026-12-02 in adt()'s default).
AFTER_DISCHARGE = "2026-12-02T20:00:00Z"


def send(api, world, raw, token="planner"):
    return api.client.post(
        "/api/v1/adt", data=raw, headers={"Authorization": "Bearer %s" % world.tokens[token], "Content-Type": HL7}
    )


def member_discharge(**overrides):
    """An inpatient A03 of Maria Lopez, an acme-health member (the plan's payer id), discharged 2026-12-02."""
    values = {"extra_segments": (in1(),)}
    values.update(overrides)
    return adt(**values)


def discharges_of(api, world, token="manager", query=""):
    response = api.get("/api/v1/discharges" + query, token=world.tokens[token])
    assert response.status_code == 200, response.json
    return response.json["items"]


def stored_states(app):
    """(state, reason) of each stored message in the order sent: by arrival, then by control id (messages sent at the
    same clock time tie on arrival, and PostgreSQL returns ties in any order)."""
    with app.app_context():
        ordered = select(AdtMessage).order_by(AdtMessage.received_at, AdtMessage.control_id)
        return [(m.state, m.reason) for m in db.session.scalars(ordered)]


def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def discharged(app, api, world, clock):
    """A discharge without referral recorded from the feed; returns its id."""
    register(api, world)
    clock.set(AFTER_DISCHARGE)
    response = send(api, world, member_discharge())
    assert response.status_code == 200, response.data
    [item] = discharges_of(api, world)
    return item["id"]


# ---------------------------------------------------------------- recorded from the feed


def test_an_a03_without_referral_of_a_plans_member_is_recorded_with_its_two_checks(app, api, world, discharged):
    [item] = discharges_of(api, world)
    assert item["status"] == "no_step_down" and item["adopted_by_referral_id"] is None
    assert item["organization_id"] == world.orgs["hospital"]
    assert item["patient"] == {"given_name": "Maria", "family_name": "Lopez", "birth_date": "1990-04-12"}
    assert item["coverage"] == {"payer_id": "acme-health", "member_id": "ACM123456"}
    assert (item["discharge_date"], item["patient_class"], item["days_since_discharge"]) == ("2026-12-02", "I", 0)
    assert [(c["check"], c["due_date"], c["outcome"], c["referral_id"]) for c in item["followups"]] == [
        ("followup_7", "2026-12-09", None, None),
        ("followup_30", "2027-01-01", None, None),
    ]
    assert all(c["discharge_id"] == discharged for c in item["followups"])
    # The facility's planner sees it too, and the detail is the same object.
    assert [d["id"] for d in discharges_of(api, world, "planner")] == [discharged]
    detail = api.get("/api/v1/discharges/%s" % discharged, token=world.tokens["planner"])
    assert detail.status_code == 200 and detail.json == item
    assert detail.headers["Cache-Control"] == "no-store"
    [(state, reason)] = stored_states(app)
    assert state == "processed" and discharged in reason


def test_the_same_discharge_twice_changes_nothing(app, api, world, discharged):
    # The same control id: the inbox answers it again.
    assert send(api, world, member_discharge()).status_code == 200
    # Another control id for the same patient and day (a resend, a second listener, a reprocess): the same discharge.
    again = send(api, world, member_discharge(control_id="MSG0002", given="  maria ", family="LOPEZ"))
    assert again.status_code == 200
    assert count(app, Discharge) == 1
    assert count(app, FollowUp, FollowUp.discharge_id == discharged) == 2
    assert [state for state, _ in stored_states(app)] == ["processed", "processed"]
    assert "recorded before" in stored_states(app)[1][1]


def test_a_second_a03_of_the_same_stay_with_another_date_corrects_the_discharge(app, api, world, discharged):
    # The hospital sent 2 December, then corrects it to 1 December: the same admission (PV1-44), another PV1-45.
    corrected = send(api, world, member_discharge(control_id="MSG0002", discharged="202612011100"))
    assert corrected.status_code == 200, corrected.data
    [item] = discharges_of(api, world)
    assert (item["id"], item["discharge_date"], item["admitted_on"]) == (discharged, "2026-12-01", "2026-11-25")
    due = {check: due_date for check, (due_date, _, _) in checks_of(app, discharged).items()}
    assert due == {"followup_7": date(2026, 12, 8), "followup_30": date(2026, 12, 31)}
    assert count(app, FollowUp, FollowUp.discharge_id == discharged) == 2
    state, why = stored_states(app)[-1]
    assert state == "processed" and "corrected to 2026-12-01" in why and discharged in why
    # Another admission is another stay: a second discharge, not a correction.
    again = send(api, world, member_discharge(control_id="MSG0003", admitted="202611280800", discharged="202612021500"))
    assert again.status_code == 200
    assert sorted(d["discharge_date"] for d in discharges_of(api, world)) == ["2026-12-01", "2026-12-02"]


def test_an_older_message_of_the_stay_reprocessed_after_a_correction_changes_nothing(app, api, world, clock):
    clock.set(AFTER_DISCHARGE)
    # Sent before the facility was registered: refused (AR) and kept in the inbox.
    assert send(api, world, member_discharge(), token="admin").status_code == 422
    register(api, world)
    clock.set("2026-12-02T21:00:00Z")
    assert send(api, world, member_discharge(control_id="MSG0002", discharged="202612011100")).status_code == 200
    with app.app_context():
        assert adt_commands.reprocess(None, datetime(2026, 12, 2, 22, tzinfo=UTC)) == {"processed": 1}
    [item] = discharges_of(api, world)
    assert item["discharge_date"] == "2026-12-01"
    assert "keeps 2026-12-01, which a newer message set" in stored_states(app)[0][1]


def test_the_same_stay_under_another_coverage_is_not_a_correction(app, api, world, discharged):
    other_member = member_discharge(
        control_id="MSG0002", discharged="202612011100", extra_segments=(in1(policy_number="ACM999"),)
    )
    assert send(api, world, other_member).status_code == 200
    assert sorted(d["discharge_date"] for d in discharges_of(api, world)) == ["2026-12-01", "2026-12-02"]


def test_a_correction_after_the_sweep_judged_a_check_has_it_judged_again(app, api, world, clock, discharged):
    sweep(app, "2026-12-10T12:00:00Z")
    assert checks_of(app, discharged)["followup_7"][1] == "missed"
    # The member stayed two days longer than first sent: the 7-day window now ends on 11 December.
    clock.set("2026-12-10T13:00:00Z")
    assert send(api, world, member_discharge(control_id="MSG0002", discharged="202612040900")).status_code == 200
    assert checks_of(app, discharged)["followup_7"][:2] == (date(2026, 12, 11), None)
    clock.set("2026-12-10T14:00:00Z")
    api.post("/api/v1/discharges/%s/visits" % discharged, {"date": "2026-12-09"}, token=world.tokens["manager"])
    sweep(app, "2026-12-12T12:00:00Z")
    judged = checks_of(app, discharged)["followup_7"]
    assert judged[1] == "met" and judged[2]["session"]["day"] == 5


def test_a_discharge_whose_payer_no_plan_follows_is_stored_as_ignored_saying_why(app, api, world, clock):
    register(api, world)
    clock.set(AFTER_DISCHARGE)
    for control_id, extra in (("M1", (in1("unknown-payer"),)), ("M2", ())):
        response = send(api, world, member_discharge(control_id=control_id, extra_segments=extra))
        assert response.status_code == 200
    (first, why_first), (second, why_second) = stored_states(app)
    assert first == second == "ignored"
    assert "no health plan follows its coverage (IN1-3: unknown-payer)" in why_first
    assert "(IN1-3: none)" in why_second
    assert count(app, Discharge) == 0


def test_a_future_discharge_or_an_outpatient_is_not_recorded(app, api, world, clock):
    register(api, world)
    clock.set("2026-12-01T20:00:00Z")  # the day before PV1-45
    future = send(api, world, member_discharge())
    assert future.status_code == 422 and b"PV1^1^45" in future.data
    clock.set(AFTER_DISCHARGE)
    outpatient = send(api, world, member_discharge(control_id="M2", patient_class="O"))
    assert outpatient.status_code == 200
    [(future_state, why), (outpatient_state, _)] = stored_states(app)
    assert (future_state, outpatient_state) == ("error", "ignored")
    assert why == "Not applied: A discharge (PV1-45) cannot be in the future."  # the inbox says what was wrong
    assert count(app, Discharge) == 0


def test_a_residential_discharge_of_any_class_is_recorded(app, api, world, clock):
    register(api, world, "hospital2", ("RESI",))
    clock.set(AFTER_DISCHARGE)
    response = send(api, world, member_discharge(facility="RESI", patient_class="R"), token="planner2")
    assert response.status_code == 200
    [item] = discharges_of(api, world, "planner2")
    assert item["organization_id"] == world.orgs["hospital2"]
    assert discharges_of(api, world, "planner") == []


def test_a_residential_class_longer_than_hl7s_is_cut_not_a_failure(app, api, world, clock):
    register(api, world, "hospital2", ("RESI",))
    clock.set(AFTER_DISCHARGE)
    message = member_discharge(facility="RESI", patient_class="RESIDENTIAL")
    assert send(api, world, message, token="planner2").status_code == 200
    [item] = discharges_of(api, world, "planner2")
    assert item["patient_class"] == "RESIDENTIA"


# ---------------------------------------------------------------- who sees it


def test_other_plans_hospitals_and_providers_see_none_of_it(app, api, world, discharged):
    path = "/api/v1/discharges/%s" % discharged
    for token in ("manager2", "planner2", "coordinator"):
        assert discharges_of(api, world, token) == []
        assert api.get(path, token=world.tokens[token]).status_code == 404
    # Another plan's case manager: the discharge does not exist for them.
    visit = api.post(path + "/visits", {"date": "2026-12-02"}, token=world.tokens["manager2"])
    assert visit.status_code == 404
    # Planners and coordinators may not record visits at all.
    for token in ("planner", "planner2", "coordinator"):
        assert api.post(path + "/visits", {"date": "2026-12-02"}, token=world.tokens[token]).status_code == 403
    board = api.get("/api/v1/stepdowns", token=world.tokens["manager2"]).json["items"]
    assert all(item["discharge_id"] != discharged for item in board)
    assert api.get("/api/v1/stepdowns", token=world.tokens["planner2"]).json["items"] == []
    assert api.get("/api/v1/stepdowns", token=world.tokens["coordinator"]).status_code == 403
    assert api.get("/api/v1/discharges/not-an-id", token=world.tokens["manager"]).status_code == 404


def test_the_followups_list_holds_a_discharges_checks_for_those_who_may_see_it(app, api, world, discharged):
    for token in ("manager", "planner", "admin"):
        response = api.get("/api/v1/followups?discharge_id=%s" % discharged, token=world.tokens[token])
        assert response.status_code == 200, response.json
        items = response.json["items"]
        assert sorted(item["check"] for item in items) == ["followup_30", "followup_7"]
        assert all(item["discharge_id"] == discharged and item["referral_id"] is None for item in items)
    # The case manager's whole worklist holds them too, in due order with the referrals' checks.
    everything = api.get("/api/v1/followups?limit=500", token=world.tokens["manager"]).json["items"]
    assert [i["check"] for i in everything if i["discharge_id"] == discharged] == ["followup_7", "followup_30"]
    for token in ("manager2", "planner2", "coordinator"):
        listed = api.get("/api/v1/followups?limit=500", token=world.tokens[token]).json["items"]
        assert all(item["discharge_id"] != discharged for item in listed)
    with app.app_context():
        audited = db.session.scalars(
            select(AuditRecord.user_id).where(
                AuditRecord.action == "followup.list",
                AuditRecord.object_type == "discharge",
                AuditRecord.object_id == discharged,
            )
        ).all()
    assert len(audited) == 4  # manager, planner, admin by id, and the manager's whole list: one row each


# ---------------------------------------------------------------- visits and the checks


def test_a_case_manager_records_a_visit_idempotently_within_its_bounds(app, api, world, clock, discharged):
    path = "/api/v1/discharges/%s/visits" % discharged
    manager = world.tokens["manager"]
    assert api.post(path, {"date": "2026-12-03"}, token=manager).status_code == 422  # the future
    early = api.post(path, {"date": "2026-12-01"}, token=manager)
    assert early.status_code == 422 and "date" in early.json["errors"]
    assert api.post(path, {"date": "bad"}, token=manager).status_code == 422
    assert api.post(path, {"date": "2026-12-02", "x": 1}, token=manager).status_code == 422
    clock.set("2026-12-06T15:00:00Z")
    created = api.post(path, {"date": "2026-12-05"}, token=manager, headers={"Idempotency-Key": "v-1"})
    assert created.status_code == 201, created.json
    assert created.json["discharge_id"] == discharged and created.json["date"] == "2026-12-05"
    replay = api.post(path, {"date": "2026-12-05"}, token=manager, headers={"Idempotency-Key": "v-1"})
    assert (replay.status_code, replay.json) == (201, created.json)
    assert api.post(path, {"date": "2026-12-04"}, token=manager, headers={"Idempotency-Key": "v-1"}).status_code == 409
    twice = api.post(path, {"date": "2026-12-05"}, token=manager)
    assert twice.status_code == 409 and created.json["id"] in twice.json["detail"]
    visits = api.get("/api/v1/discharges/%s" % discharged, token=manager).json["visits"]
    assert [v["date"] for v in visits] == ["2026-12-05"]


def test_the_sweep_judges_a_discharge_by_its_visits(app, api, world, clock, discharged):
    clock.set("2026-12-06T15:00:00Z")
    visit = api.post(
        "/api/v1/discharges/%s/visits" % discharged, {"date": "2026-12-05"}, token=world.tokens["manager"]
    ).json
    sweep(app, "2027-01-05T12:00:00Z")
    judged = checks_of(app, discharged)
    assert judged["followup_7"][1] == "met"
    assert judged["followup_7"][2]["session"] == {"visit_id": visit["id"], "date": "2026-12-05", "day": 3}
    assert judged["followup_30"][1] == "met"
    assert missed_count(app) == 0


def test_a_discharge_day_visit_does_not_count_and_a_miss_escalates_without_phi(app, api, world, clock, discharged):
    api.post("/api/v1/discharges/%s/visits" % discharged, {"date": "2026-12-02"}, token=world.tokens["manager"])
    sweep(app, "2026-12-10T12:00:00Z")
    judged = checks_of(app, discharged)
    assert judged["followup_7"][1] == "missed" and judged["followup_7"][2]["reason"] == "no_attended_session"
    with app.app_context():
        [event] = db.session.scalars(select(Event).where(Event.type == "followup.missed")).all()
        assert event.referral_id is None and event.subject_type == "followup"
        assert event.data == {
            "followup_id": event.subject_id,
            "referral_id": None,
            "check": "followup_7",
            "discharge_id": discharged,
        }
    # The board flags it; a second sweep does not escalate again.
    [row] = [i for i in api.get("/api/v1/stepdowns", token=world.tokens["manager"]).json["items"]]
    assert row["missed_checks"] == ["followup_7"]
    sweep(app, "2026-12-11T12:00:00Z")
    assert missed_count(app) == 1


def test_a_visit_learned_late_reopens_the_missed_check(app, api, world, clock, discharged):
    sweep(app, "2026-12-10T12:00:00Z")
    assert checks_of(app, discharged)["followup_7"][1] == "missed"
    clock.set("2026-12-20T15:00:00Z")  # a claim for a visit on day 4 arrives
    response = api.post(
        "/api/v1/discharges/%s/visits" % discharged, {"date": "2026-12-06"}, token=world.tokens["manager"]
    )
    assert response.status_code == 201
    assert checks_of(app, discharged)["followup_7"][1] is None
    sweep(app, "2026-12-20T16:00:00Z")
    assert checks_of(app, discharged)["followup_7"][1] == "met"
    assert missed_count(app) == 1  # the first miss was told; the reopened check was met


def test_an_admission_within_30_days_is_a_readmission_that_fails_followup_30(app, api, world, clock, discharged):
    manager = world.tokens["manager"]
    clock.set("2026-12-06T15:00:00Z")
    api.post("/api/v1/discharges/%s/visits" % discharged, {"date": "2026-12-05"}, token=manager)
    clock.set("2026-12-12T15:00:00Z")
    admission = adt(trigger="A01", control_id="ADM1", admitted="20261212", discharged="")
    assert send(api, world, admission).status_code == 200
    assert (
        send(api, world, adt(trigger="A04", control_id="ADM2", admitted="20261212", discharged="")).status_code == 200
    )
    detail = api.get("/api/v1/discharges/%s" % discharged, token=manager).json
    assert [(r["date"], r["days_after_discharge"], r["classification"]) for r in detail["readmissions"]] == [
        ("2026-12-12", 10, "readmission_30")
    ]
    sweep(app, "2027-01-05T12:00:00Z")
    judged = checks_of(app, discharged)
    assert judged["followup_7"][1] == "met"
    assert judged["followup_30"][1] == "missed" and judged["followup_30"][2]["reason"] == "readmitted"


def test_an_admission_on_day_one_is_a_transfer_and_a_late_one_is_ignored(app, api, world, clock, discharged):
    clock.set("2027-01-10T15:00:00Z")
    assert send(api, world, adt(trigger="A01", control_id="A1", admitted="20261203", discharged="")).status_code == 200
    assert send(api, world, adt(trigger="A01", control_id="A2", admitted="20270105", discharged="")).status_code == 200
    detail = api.get("/api/v1/discharges/%s" % discharged, token=world.tokens["manager"]).json
    assert [(r["days_after_discharge"], r["classification"]) for r in detail["readmissions"]] == [(1, "transfer")]
    assert [state for state, _ in stored_states(app)][-2:] == ["processed", "ignored"]


# ---------------------------------------------------------------- the board and the metrics


def test_the_board_lists_a_discharge_without_referral_as_no_step_down(app, api, world, clock, discharged):
    referral_id = submit(api, world, patient={"given_name": "Ana"})
    manager = world.tokens["manager"]
    items = api.get("/api/v1/stepdowns", token=manager).json["items"]
    rows = {(i["referral_id"], i["discharge_id"]): i for i in items}
    assert set(rows) == {(referral_id, None), (None, discharged)}
    row = rows[(None, discharged)]
    assert (row["status"], row["payer_id"], row["need"], row["placement_id"]) == (
        "no_step_down",
        "acme-health",
        None,
        None,
    )
    assert row["next_check"] == {"check": "followup_7", "due_date": "2026-12-09"}
    only = api.get("/api/v1/stepdowns?status=no_step_down", token=manager).json["items"]
    assert [i["discharge_id"] for i in only] == [discharged]
    # A need leaves discharges out, and no referral is no_step_down: an empty page, not an error.
    neither = api.get("/api/v1/stepdowns?status=no_step_down&need=mental_health", token=manager)
    assert neither.status_code == 200 and neither.json["items"] == []
    assert all(
        i["discharge_id"] is None for i in api.get("/api/v1/stepdowns?status=submitted", token=manager).json["items"]
    )
    assert all(
        i["discharge_id"] is None for i in api.get("/api/v1/stepdowns?need=mental_health", token=manager).json["items"]
    )
    # Paged one at a time, the signed cursor walks both kinds.
    first = api.get("/api/v1/stepdowns?limit=1", token=manager).json
    second = api.get("/api/v1/stepdowns?limit=1&cursor=%s" % first["next_cursor"], token=manager).json
    assert {first["items"][0]["referral_id"] or first["items"][0]["discharge_id"]} | {
        second["items"][0]["referral_id"] or second["items"][0]["discharge_id"]
    } == {referral_id, discharged}
    assert second["next_cursor"] is None


def test_metrics_count_discharges_without_referral_beside_referrals(app, api, world, clock, discharged):
    manager = world.tokens["manager"]
    clock.set("2026-12-06T15:00:00Z")
    api.post("/api/v1/discharges/%s/visits" % discharged, {"date": "2026-12-05"}, token=manager)
    clock.set("2027-01-10T12:00:00Z")
    m = api.get("/api/v1/metrics?from=2026-12-01&to=2026-12-31", token=manager).json
    assert (m["referrals"], m["discharges_without_referral"]) == (0, 1)
    assert m["followup_7"] == {
        "numerator": 0,
        "denominator": 0,
        "rate": None,
        "pending": 0,
        "numerator_with_adt": 1,
        "denominator_with_adt": 1,
        "rate_with_adt": 1.0,
        "pending_with_adt": 0,
    }
    assert m["followup_30"]["denominator_with_adt"] == 1 and m["followup_30"]["rate_with_adt"] == 1.0
    other = api.get("/api/v1/metrics?from=2026-12-01&to=2026-12-31", token=world.tokens["manager2"]).json
    assert other["discharges_without_referral"] == 0 and other["followup_7"]["denominator_with_adt"] == 0


# ---------------------------------------------------------------- adoption by a later referral


def test_a_later_referral_adopts_the_discharge_and_its_visits(app, api, world, clock, discharged):
    manager = world.tokens["manager"]
    clock.set("2026-12-04T15:00:00Z")
    api.post("/api/v1/discharges/%s/visits" % discharged, {"date": "2026-12-04"}, token=manager)
    # The same patient, names spelt with other case and spacing, discharge date as the feed said.
    referral_id = submit(
        api, world, patient={"given_name": " MARIA", "family_name": "lopez "}, discharge_date="2026-12-02"
    )
    detail = api.get("/api/v1/discharges/%s" % discharged, token=manager).json
    assert (detail["status"], detail["adopted_by_referral_id"]) == ("adopted", referral_id)
    assert [(c["outcome"], c["evidence"]) for c in detail["followups"]] == [
        ("not_applicable", {"reason": "adopted_by_referral", "referral_id": referral_id})
    ] * 2
    board = api.get("/api/v1/stepdowns", token=manager).json["items"]
    assert [(i["referral_id"], i["discharge_id"]) for i in board] == [(referral_id, None)]
    assert discharges_of(api, world, query="?status=no_step_down") == []
    timeline = api.get("/api/v1/referrals/%s/timeline" % referral_id, token=world.tokens["planner"]).json["items"]
    assert "discharge.adopted" in [e["type"] for e in timeline]
    # The visit recorded on the discharge counts as an attended session for the referral's own checks.
    sweep(app, "2026-12-12T12:00:00Z")
    referral_checks = checks(app, referral_id)
    assert referral_checks["followup_7"][1] == "met"
    assert referral_checks["followup_7"][2]["session"]["day"] == 2
    assert checks_of(app, discharged)["followup_7"][1] == "not_applicable"
    # Counted once, through the referral.
    m = api.get("/api/v1/metrics?from=2026-12-01&to=2026-12-31", token=manager).json
    assert (m["referrals"], m["discharges_without_referral"]) == (1, 0)


def test_a_referral_for_the_given_name_with_its_further_names_adopts_the_discharge(app, api, world, clock):
    # PID-5 Lopez^Maria^Elena: the discharge is recorded under the first given name; the planner types both.
    register(api, world)
    clock.set(AFTER_DISCHARGE)
    assert send(api, world, member_discharge(given="Maria^Elena")).status_code == 200
    [discharge] = discharges_of(api, world)
    assert discharge["patient"]["given_name"] == "Maria"
    submit(api, world, patient={"given_name": "Elena"}, discharge_date="2026-12-02")  # another form: not this one
    assert discharges_of(api, world)[0]["status"] == "no_step_down"
    referral_id = submit(api, world, patient={"given_name": "maria  ELENA"}, discharge_date="2026-12-02")
    detail = api.get("/api/v1/discharges/%s" % discharge["id"], token=world.tokens["manager"]).json
    assert (detail["status"], detail["adopted_by_referral_id"]) == ("adopted", referral_id)


# The first message carried one form of the given name; a repeat of the same stay and day carries both. The
# discharge keeps the form it lacked, whichever it was, and a referral made for that form adopts it.
@pytest.mark.parametrize(
    ("first", "referral_given"), [("Maria", "Maria Elena"), ("Maria Elena", "Maria")], ids=["first", "both-in-one"]
)
def test_a_discharge_learns_the_other_form_of_the_given_name_from_a_repeat(
    app, api, world, clock, first, referral_given
):
    register(api, world)
    clock.set(AFTER_DISCHARGE)
    assert send(api, world, member_discharge(given=first)).status_code == 200
    assert send(api, world, member_discharge(control_id="MSG0002", given="Maria^Elena")).status_code == 200
    [discharge] = discharges_of(api, world)
    assert discharge["patient"]["given_name"] == first
    referral_id = submit(api, world, patient={"given_name": referral_given}, discharge_date="2026-12-02")
    detail = api.get("/api/v1/discharges/%s" % discharge["id"], token=world.tokens["manager"]).json
    assert detail["adopted_by_referral_id"] == referral_id


def test_one_stay_sent_with_the_given_names_split_otherwise_is_one_discharge(app, api, world, clock):
    register(api, world)
    clock.set(AFTER_DISCHARGE)
    assert send(api, world, member_discharge(given="Maria^Elena")).status_code == 200
    assert send(api, world, member_discharge(control_id="MSG0002", given="Maria Elena")).status_code == 200
    assert send(api, world, member_discharge(control_id="MSG0003", given="Maria")).status_code == 200
    [discharge] = discharges_of(api, world)
    assert discharge["patient"]["given_name"] == "Maria"
    assert [state for state, _ in stored_states(app)] == ["processed"] * 3
    assert "recorded before" in stored_states(app)[1][1]


def test_an_admission_under_another_form_of_the_given_name_is_a_readmission(app, api, world, clock):
    register(api, world)
    clock.set(AFTER_DISCHARGE)
    assert send(api, world, member_discharge(given="Maria^Elena")).status_code == 200
    [discharge] = discharges_of(api, world)
    clock.set("2026-12-12T15:00:00Z")
    # The admitting registration writes both given names in one component.
    admission = adt(trigger="A01", control_id="ADM1", given="Maria Elena", admitted="20261212", discharged="")
    assert send(api, world, admission).status_code == 200
    detail = api.get("/api/v1/discharges/%s" % discharge["id"], token=world.tokens["manager"]).json
    assert [(r["date"], r["days_after_discharge"]) for r in detail["readmissions"]] == [("2026-12-12", 10)]


def test_another_patient_or_a_distant_referral_adopts_nothing(app, api, world, clock, discharged):
    submit(api, world, patient={"birth_date": "1990-04-13"}, discharge_date="2026-12-02")
    submit(api, world, token="planner2", discharge_date="2026-12-02")  # another organization
    assert discharges_of(api, world)[0]["status"] == "no_step_down"


# ---------------------------------------------------------------- a placed referral's actual discharge


def test_an_a03_for_a_placed_referral_moves_its_checks(app, api, world, clock):
    register(api, world)
    referral_id = submit(api, world)  # planned discharge 2026-12-03
    with app.app_context():
        db.session.get(Referral, referral_id).status = "placed"
        db.session.commit()
    clock.set(AFTER_DISCHARGE)
    response = send(api, world, member_discharge())
    assert response.status_code == 200, response.data
    assert api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json["discharge_date"] == (
        "2026-12-02"
    )
    assert checks(app, referral_id)["followup_7"][0] == date(2026, 12, 9)
    assert count(app, Discharge) == 0
    assert stored_states(app)[0][0] == "processed"


# ---------------------------------------------------------------- helpers


def checks_of(app, discharge_id):
    """check -> (due_date, outcome, evidence) of one discharge."""
    with app.app_context():
        rows = db.session.scalars(select(FollowUp).where(FollowUp.discharge_id == discharge_id)).all()
        return {row.check: (row.due_date, row.outcome, row.evidence) for row in rows}


def missed_count(app):
    return count(app, Event, Event.type == "followup.missed")


def test_the_document_lists_the_discharge_routes(api, world):
    document = api.get("/api/v1/openapi.json").json
    assert {
        "/api/v1/discharges",
        "/api/v1/discharges/{discharge_id}",
        "/api/v1/discharges/{discharge_id}/visits",
    } <= set(document["paths"])
    assert "denominator_with_adt" in document["components"]["schemas"]["AdtRate"]["properties"]
    assert "discharge_id" in document["components"]["schemas"]["Stepdown"]["properties"]


def test_the_plans_case_managers_are_whom_a_missed_check_concerns(app, world, discharged):
    with app.app_context():
        discharge = db.session.get(Discharge, discharged)
        emails = [user.email for user in db.session.scalars(policy.discharge_mail_recipients(discharge))]
        assert emails == ["manager@example.org"]
        users = {key: db.session.get(User, world.users[key]) for key in ("manager", "manager2", "planner2")}
        assert policy.discharge_mailable_to(users["manager"], discharged)
        assert not policy.discharge_mailable_to(users["manager2"], discharged)
        assert not policy.discharge_mailable_to(users["planner2"], discharged)
