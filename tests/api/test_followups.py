"""Follow-up plans through the API and the sweep: written on submit, moved on edit, closed on cancel, judged once."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from tests.support.followups import (
    DISCHARGE,
    attend,
    bulk_referrals,
    checks,
    day,
    end_placement,
    missed_events,
    offer,
    person,
    program_and_track,
    readmit,
    submit,
    sud,
    sweep,
)
from transitions import create_app
from transitions.core.db import db
from transitions.followups.models import FollowUp
from transitions.notify.models import Event

MH_PLAN = {"intake_scheduled": 1, "followup_7": 7, "followup_30": 30, "outcome_90": 90, "outcome_180": 180}
SUD_PLAN = dict(MH_PLAN, initiation_14=14, engagement_34=34)


def outcomes(app, referral_id):
    return {check: outcome for check, (_, outcome, _) in checks(app, referral_id).items()}


# ---------------------------------------------------------------- plans


def test_submitting_a_referral_writes_its_plan(api, world, app):
    mh = submit(api, world)
    su = submit(api, world, patient=person(1), **sud())
    assert {c: (due - DISCHARGE).days for c, (due, _, _) in checks(app, mh).items()} == MH_PLAN
    assert {c: (due - DISCHARGE).days for c, (due, _, _) in checks(app, su).items()} == SUD_PLAN
    listed = api.get("/api/v1/referrals/%s/followups" % mh, token=world.tokens["planner"])
    assert listed.status_code == 200
    items = listed.json["items"]
    assert [i["check"] for i in items] == ["intake_scheduled", "followup_7", "followup_30", "outcome_90", "outcome_180"]
    first = items[0]
    assert {"id", "referral_id", "check", "due_date", "outcome", "evaluated_at", "evidence"} <= set(first)
    assert first["due_date"] == "2026-12-04" and first["outcome"] is None and first["evaluated_at"] is None
    assert first["evidence"] is None and first["referral_id"] == mh
    # The window of a check closes at the end of its due day in the patient's time zone (Chicago).
    assert first["due_at"] == "2026-12-05T06:00:00Z"


def test_changing_the_discharge_date_moves_the_plan_and_reopens_judged_checks(api, world, app):
    referral_id = submit(api, world)
    sweep(app, "2026-12-06T00:00:00Z")
    assert outcomes(app, referral_id)["intake_scheduled"] == "missed"
    changed = api.patch(
        "/api/v1/referrals/%s" % referral_id, {"discharge_date": "2026-12-10"}, token=world.tokens["planner"]
    )
    assert changed.status_code == 200, changed.json
    moved = checks(app, referral_id)
    assert {c: (due - date(2026, 12, 10)).days for c, (due, _, _) in moved.items()} == MH_PLAN
    # Judged against the wrong window, so judged again once the new one closes.
    assert moved["intake_scheduled"][1] is None and moved["intake_scheduled"][2] is None
    assert sweep(app, "2026-12-11T12:00:00Z").startswith("evaluated 0 ")
    assert sweep(app, "2026-12-12T06:00:00Z").startswith("evaluated 1 ")


def test_changing_the_need_adds_or_closes_the_sud_checks(api, world, app):
    referral_id = submit(api, world)
    token = world.tokens["planner"]
    body = {"need": "substance_use", "diagnoses": ["F10.20"], "part2_consent": {"signed_on": "2026-11-20"}}
    assert api.patch("/api/v1/referrals/%s" % referral_id, body, token=token).status_code == 200
    assert set(checks(app, referral_id)) == set(SUD_PLAN)
    assert (
        api.patch(
            "/api/v1/referrals/%s" % referral_id, {"need": "mental_health", "diagnoses": ["F33.1"]}, token=token
        ).status_code
        == 200
    )
    now = checks(app, referral_id)
    assert now["initiation_14"][1:] == ("not_applicable", {"reason": "not_in_plan"})
    assert now["followup_7"][1] is None
    assert api.patch("/api/v1/referrals/%s" % referral_id, body, token=token).status_code == 200
    assert checks(app, referral_id)["initiation_14"][1] is None


def test_cancelling_closes_pending_checks_and_keeps_judged_ones(api, world, app):
    referral_id = submit(api, world)
    sweep(app, "2026-12-06T00:00:00Z")
    response = api.post(
        "/api/v1/referrals/%s/cancel" % referral_id, {"reason": "moved away"}, token=world.tokens["planner"]
    )
    assert response.status_code == 200
    result = checks(app, referral_id)
    assert result["intake_scheduled"][1] == "missed"
    for check in ("followup_7", "followup_30", "outcome_90", "outcome_180"):
        assert result[check][1:] == ("not_applicable", {"reason": "referral_cancelled"})
    assert sweep(app, "2027-12-01T00:00:00Z").startswith("evaluated 0 ")


def test_a_configured_plan_is_used(db_url, clock):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": db_url,
            "CLOCK": clock,
            "SECRET_KEY": "test",
            "FOLLOWUP_PLAN": {"followup_7": {"due_days": 10}, "outcome_90": {"due_days": 60}},
        }
    )
    from tests.conftest import ApiClient, World

    world = World(app)
    world.org("hospital", "hospital")
    world.user("planner", "discharge_planner", "hospital")
    referral_id = submit(ApiClient(app.test_client()), world)
    assert {c: (due - DISCHARGE).days for c, (due, _, _) in checks(app, referral_id).items()} == {
        "followup_7": 10,
        "outcome_90": 60,
    }
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_write_plans_writes_in_bulk_what_plan_referral_writes(api, world, app):
    from transitions.followups.plan import write_plans
    from transitions.referrals.models import Referral

    planned = submit(api, world, **sud())
    bare = bulk_referrals(app, 2, DISCHARGE, need="co_occurring", plan=False)
    with app.app_context():
        assert write_plans(db.session.scalars(select(Referral).where(Referral.id.in_(bare))).all()) == 14
        db.session.commit()
        rows = db.session.scalars(select(FollowUp)).all()
    by_referral = {}
    for row in rows:
        by_referral.setdefault(row.referral_id, {})[row.check] = (row.due_date, row.due_at, row.outcome)
    assert by_referral[bare[0]] == by_referral[bare[1]] == by_referral[planned]


# ---------------------------------------------------------------- the sweep


def test_a_check_is_judged_only_once_its_due_day_is_over_locally(api, world, app):
    referral_id = submit(api, world)
    # 23:00 UTC on day 1 is still 17:00 of day 1 in Chicago.
    assert sweep(app, "2026-12-04T23:00:00Z").startswith("evaluated 0 ")
    assert sweep(app, "2026-12-05T06:00:00Z").startswith("evaluated 1 ")
    assert outcomes(app, referral_id)["intake_scheduled"] == "missed"


def test_grace_hours_delay_the_judgement(db_url, clock):
    app = create_app(
        {"TESTING": True, "DATABASE_URL": db_url, "CLOCK": clock, "SECRET_KEY": "test", "FOLLOWUP_GRACE_HOURS": 12}
    )
    from tests.conftest import ApiClient, World

    world = World(app)
    world.org("hospital", "hospital")
    world.user("planner", "discharge_planner", "hospital")
    submit(ApiClient(app.test_client()), world)
    assert sweep(app, "2026-12-05T17:59:00Z").startswith("evaluated 0 ")
    assert sweep(app, "2026-12-05T18:00:00Z").startswith("evaluated 1 ")
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_facts_from_the_tables_decide_each_check(api, world, app):
    """A patient placed on time, seen on the discharge day and on day 7, then attending to day 90."""
    referral_id = submit(api, world, **sud())
    program_id, track_id = program_and_track(api, world)
    _, placement_id = offer(
        app, referral_id, program_id, track_id, intake_date=day(0), decided_at=datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    )
    attend(app, placement_id, 0, 7, 20, 33, 80)
    attend(app, placement_id, 2, 3, status="missed")
    attend(app, placement_id, 4, status="excused")
    assert sweep(app, "2027-03-10T00:00:00Z").startswith("evaluated 6 checks (met 6, missed 0")
    result = checks(app, referral_id)
    assert result["intake_scheduled"][1] == "met"
    assert result["followup_7"][1:] == (
        "met",
        {
            "reason": "attended",
            "window": {"from": "2026-12-04", "to": "2026-12-10"},
            "session": {
                "attendance_id": result["followup_7"][2]["session"]["attendance_id"],
                "date": "2026-12-10",
                "day": 7,
            },
        },
    )
    assert result["initiation_14"][1] == "met"
    assert result["engagement_34"][2]["reason"] == "engaged"
    assert [s["day"] for s in result["engagement_34"][2]["sessions"]] == [7, 20, 33]
    assert result["outcome_90"][2]["reason"] == "attending"
    assert result["outcome_180"][1] is None
    assert missed_events(app) == 0


def test_a_missed_check_is_escalated_once_and_shows_on_the_timeline(api, world, app):
    referral_id = submit(api, world)
    program_id, track_id = program_and_track(api, world)
    _, placement_id = offer(
        app, referral_id, program_id, track_id, intake_date=day(9), decided_at=datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
    )
    attend(app, placement_id, 9, 12)
    readmit(app, referral_id, 20)
    first = sweep(app, "2027-01-10T00:00:00Z")
    assert first.startswith("evaluated 3 checks (met 0, missed 3")
    assert sweep(app, "2027-01-10T00:00:00Z").startswith("evaluated 0 ")
    result = checks(app, referral_id)
    assert result["followup_30"][2]["reason"] == "readmitted"
    with app.app_context():
        ids = {row.check: row.id for row in db.session.scalars(select(FollowUp))}
    for check in ("intake_scheduled", "followup_7", "followup_30"):
        assert missed_events(app, ids[check]) == 1
    timeline = api.get("/api/v1/referrals/%s/timeline" % referral_id, token=world.tokens["manager"]).json["items"]
    missed = [e for e in timeline if e["type"] == "followup.missed"]
    assert {e["data"]["check"] for e in missed} == {"intake_scheduled", "followup_7", "followup_30"}
    assert all(set(e["data"]) == {"followup_id", "referral_id", "check"} for e in missed)
    assert all(e["at"] == "2027-01-10T00:00:00Z" for e in missed)


def test_the_sweep_works_in_batches(api, world, app):
    app.config["FOLLOWUP_SWEEP_BATCH"] = 3
    for index in range(4):
        submit(api, world, patient=person(index))
    assert sweep(app, "2026-12-20T00:00:00Z") == "evaluated 8 checks (met 0, missed 8, not_applicable 0) in 3 batches"
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Event).where(Event.type == "followup.missed")) == 8


def test_the_discharge_day_session_alone_misses_followup_7(api, world, app):
    referral_id = submit(api, world)
    program_id, track_id = program_and_track(api, world)
    _, placement_id = offer(
        app, referral_id, program_id, track_id, intake_date=day(0), decided_at=datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    )
    attend(app, placement_id, 0, 8)
    sweep(app, "2026-12-12T00:00:00Z")
    result = checks(app, referral_id)
    assert result["intake_scheduled"][1] == "met"
    assert result["followup_7"][1:] == (
        "missed",
        {"reason": "no_attended_session", "window": {"from": "2026-12-04", "to": "2026-12-10"}},
    )


def test_a_completed_iop_meets_the_outcome_checks(api, world, app):
    referral_id = submit(api, world)
    program_id, track_id = program_and_track(api, world)
    _, placement_id = offer(
        app, referral_id, program_id, track_id, intake_date=day(2), decided_at=datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    )
    attend(app, placement_id, 2, 5, 9, 30, 55)
    end_placement(app, placement_id, "completed", 56)
    sweep(app, "2027-06-10T00:00:00Z")
    assert outcomes(app, referral_id) == {check: "met" for check in MH_PLAN}


# ---------------------------------------------------------------- the API


@pytest.fixture
def judged(api, world, app):
    """Three referrals of acme-health members and one of another plan, swept on 2026-12-12."""
    ids = {
        "mh": submit(api, world, patient=person(1)),
        "sud": submit(api, world, patient=person(2), **sud()),
        "later": submit(api, world, patient=person(3), discharge_date="2026-12-20"),
        "other": submit(api, world, patient=person(4), coverage={"payer_id": "other-plan", "member_id": "O1"}),
    }
    sweep(app, "2026-12-12T00:00:00Z")
    return ids


def test_followups_list_filters_and_scope(api, world, judged):
    token = world.tokens["manager"]
    everything = api.get("/api/v1/followups?limit=500", token=token).json["items"]
    assert {i["referral_id"] for i in everything} == {judged["mh"], judged["sud"], judged["later"]}
    missed = api.get("/api/v1/followups?outcome=missed", token=token).json["items"]
    assert {(i["referral_id"], i["check"]) for i in missed} == {
        (judged[k], c) for k in ("mh", "sud") for c in ("intake_scheduled", "followup_7")
    }
    assert all(i["outcome"] == "missed" and i["evaluated_at"] == "2026-12-12T00:00:00Z" for i in missed)
    due = api.get("/api/v1/followups?due_before=2026-12-10&outcome=pending", token=token).json["items"]
    assert due == []
    due = api.get("/api/v1/followups?due_before=2026-12-21", token=token).json["items"]
    # due_before is inclusive: the later referral's intake_scheduled is due on 2026-12-21.
    assert {(i["referral_id"], i["check"]) for i in due} == {
        (judged[k], c) for k in ("mh", "sud") for c in ("intake_scheduled", "followup_7")
    } | {(judged["sud"], "initiation_14"), (judged["later"], "intake_scheduled")}
    by_check = api.get("/api/v1/followups?check=initiation_14&outcome=pending", token=token).json["items"]
    assert [i["referral_id"] for i in by_check] == [judged["sud"]]
    assert by_check[0]["part2_notice"] and "42 CFR part 2" in by_check[0]["part2_notice"]
    one = api.get("/api/v1/followups?referral_id=%s" % judged["mh"], token=token).json["items"]
    assert len(one) == 5 and one[0]["part2_notice"] is None
    other_plan = api.get("/api/v1/followups", token=world.tokens["manager2"]).json["items"]
    assert len(other_plan) == 5 and {i["referral_id"] for i in other_plan} == {judged["other"]}
    assert api.get("/api/v1/followups", token=world.tokens["planner2"]).json["items"] == []
    assert api.get("/api/v1/followups", token=world.tokens["coordinator"]).json["items"] == []


def test_followups_list_pages_and_validates(api, world, judged):
    token = world.tokens["admin"]
    seen, cursor = [], None
    while True:
        page = api.get("/api/v1/followups?limit=4" + ("&cursor=" + cursor if cursor else ""), token=token).json
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len({i["id"] for i in seen}) == 5 + 7 + 5 + 5
    assert [i["due_at"] for i in seen] == sorted(i["due_at"] for i in seen)
    for query in ("outcome=late", "check=followup_8", "due_before=tomorrow", "stauts=x", "limit=0", "cursor=zzz"):
        response = api.get("/api/v1/followups?" + query, token=token)
        assert response.status_code == (400 if query.startswith("cursor=") else 422), query
        assert response.mimetype == "application/problem+json"
    assert api.get("/api/v1/followups").status_code == 401


def test_referral_followups_are_scoped_like_the_referral(api, world, judged):
    path = "/api/v1/referrals/%s/followups" % judged["mh"]
    for role in ("admin", "planner", "manager"):
        assert api.get(path, token=world.tokens[role]).status_code == 200, role
    for role in ("planner2", "manager2", "coordinator"):
        assert api.get(path, token=world.tokens[role]).status_code == 404, role
    assert api.get("/api/v1/referrals/nope/followups", token=world.tokens["admin"]).status_code == 404


def test_case_managers_record_outreach(api, world, app, judged):
    items = api.get("/api/v1/referrals/%s/followups" % judged["mh"], token=world.tokens["manager"]).json["items"]
    followup_id = items[1]["id"]
    path = "/api/v1/followups/%s/contact" % followup_id
    body = {"note": "Called; appointment Thursday.", "reached": True}
    created = api.post(path, body, token=world.tokens["manager"], headers={"Idempotency-Key": "c-1"})
    assert created.status_code == 201, created.json
    assert created.json["followup_id"] == followup_id and created.json["reached"] is True
    replay = api.post(path, body, token=world.tokens["manager"], headers={"Idempotency-Key": "c-1"})
    assert replay.status_code == 201 and replay.json == created.json
    one = api.get("/api/v1/followups/%s" % followup_id, token=world.tokens["planner"]).json
    assert [c["note"] for c in one["contacts"]] == ["Called; appointment Thursday."]
    assert api.post(path, body, token=world.tokens["planner"]).status_code == 403
    assert api.post(path, body, token=world.tokens["coordinator"]).status_code == 403
    assert api.post(path, body, token=world.tokens["manager2"]).status_code == 404
    assert api.post("/api/v1/followups/nope/contact", body, token=world.tokens["manager"]).status_code == 404
    for bad in (
        {"note": "x"},
        {"reached": True},
        {"note": "", "reached": True},
        {"note": "x", "reached": "maybe"},
        {"note": "x", "reached": True, "extra": 1},
    ):
        response = api.post(path, bad, token=world.tokens["manager"])
        assert response.status_code == 422, bad
    timeline = api.get("/api/v1/referrals/%s/timeline" % judged["mh"], token=world.tokens["planner"]).json["items"]
    contacted = [e for e in timeline if e["type"] == "followup.contacted"]
    assert len(contacted) == 1 and "note" not in contacted[0]["data"]


def test_coordinators_see_outreach_happened_but_not_the_notes(api, world, app, judged):
    program_id, track_id = program_and_track(api, world)
    offer(app, judged["mh"], program_id, track_id, status="pending")
    items = api.get("/api/v1/referrals/%s/followups" % judged["mh"], token=world.tokens["manager"]).json["items"]
    api.post(
        "/api/v1/followups/%s/contact" % items[0]["id"],
        {"note": "Left a voicemail.", "reached": False},
        token=world.tokens["manager"],
    )
    seen = api.get("/api/v1/referrals/%s/followups" % judged["mh"], token=world.tokens["coordinator"])
    assert seen.status_code == 200
    contacts = seen.json["items"][0]["contacts"]
    assert len(contacts) == 1 and contacts[0]["note"] is None and contacts[0]["reached"] is False
