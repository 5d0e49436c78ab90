"""Placements through the API: attendance and lapse warnings, IOP discharge, readmissions, audit."""

import pytest
from sqlalchemy import select

from tests.support.offers import Scene, invariant_problems
from transitions.core.db import db
from transitions.core.models import AuditRecord
from transitions.notify.models import Event


@pytest.fixture
def scene(api, world, app, clock):
    return Scene(api, world, app, clock)


@pytest.fixture
def placed(scene, clock):
    """A referral (discharged Thu 2026-12-03) placed on the Mon/Wed/Thu evening track from that day; clock on 12-20."""
    track = scene.track(capacity=2)
    referral = scene.referral()
    offer, placement = scene.placed(referral, track)
    clock.set("2026-12-20T15:00:00Z")
    return {"track": track, "referral": referral, "offer": offer, "placement": placement}


def attend(api, world, placement, day, status, who="coordinator", **kwargs):
    return api.post(
        "/api/v1/placements/%s/attendance" % placement["id"],
        {"date": day, "status": status},
        token=world.tokens[who],
        **kwargs,
    )


def lapse_events(app, placement_id):
    with app.app_context():
        rows = db.session.scalars(
            select(Event).where(Event.type == "attendance.lapsed", Event.subject_id == placement_id).order_by(Event.seq)
        ).all()
        out = [dict(e.data) for e in rows]
        db.session.remove()
    return out


# ---------------------------------------------------------------- attendance


def test_first_attended_session_makes_the_referral_attending(api, world, scene, placed):
    placement = placed["placement"]
    missed = attend(api, world, placement, "2026-12-03", "missed")
    assert missed.status_code == 201 and missed.json["referral_status"] == "placed"
    response = attend(api, world, placement, "2026-12-07", "attended")
    assert response.status_code == 201, response.json
    body = response.json
    assert body["date"] == "2026-12-07" and body["status"] == "attended" and body["placement_id"] == placement["id"]
    assert body["referral_status"] == "attending" and body["missed_in_a_row"] == 0 and body["lapsed"] is False
    assert scene.get_referral(placed["referral"])["status"] == "attending"
    attend(api, world, placement, "2026-12-09", "attended")
    again = api.get("/api/v1/placements/%s" % placement["id"], token=world.tokens["coordinator"]).json
    assert [(a["date"], a["status"]) for a in again["attendance"]] == [
        ("2026-12-03", "missed"),
        ("2026-12-07", "attended"),
        ("2026-12-09", "attended"),
    ]
    assert again["sessions_attended"] == 2
    types = scene.timeline_types(placed["referral"])
    assert types.count("referral.attending") == 1 and types.count("attendance.recorded") == 3


@pytest.mark.parametrize(
    "day, message",
    [
        ("2026-12-04", "this track meets on mon, wed, thu"),  # a Friday
        ("2026-11-30", "before the intake date"),  # a Monday before intake
        ("2026-12-21", "ahead of the session"),  # a Monday, tomorrow
    ],
)
def test_attendance_on_a_date_that_is_not_a_session_is_422(api, world, placed, day, message):
    response = attend(api, world, placed["placement"], day, "attended")
    assert response.status_code == 422, response.json
    assert any(message in m for m in response.json["errors"]["date"])


@pytest.mark.parametrize(
    "body",
    [
        {"date": "2026-12-07"},
        {"status": "attended"},
        {"date": "2026-12-07", "status": "late"},
        {"date": "07/12/2026", "status": "attended"},
        {"date": "2026-12-07", "status": "attended", "hours": 3},
    ],
)
def test_attendance_body_validation(api, world, placed, body):
    response = api.post(
        "/api/v1/placements/%s/attendance" % placed["placement"]["id"], body, token=world.tokens["coordinator"]
    )
    assert response.status_code == 422


def test_one_record_per_session_date(api, world, placed):
    first = attend(api, world, placed["placement"], "2026-12-07", "missed")
    again = attend(api, world, placed["placement"], "2026-12-07", "attended")
    assert again.status_code == 409 and again.json["attendance_id"] == first.json["id"]


def test_the_session_day_is_the_tracks_local_day(api, world, scene, clock):
    """A track in Honolulu: at 2026-12-08T05:00Z it is still Monday 12-07 there."""
    track = scene.track(timezone="Pacific/Honolulu")
    referral = scene.referral(timezone="Pacific/Honolulu", availability=None, modality="either")
    _, placement = scene.placed(referral, track)
    clock.set("2026-12-08T05:00:00Z")
    assert attend(api, world, placement, "2026-12-07", "attended").status_code == 201
    assert attend(api, world, placement, "2026-12-09", "attended").status_code == 422


def test_two_missed_in_a_row_warn_once_per_run(api, world, app, placed):
    placement = placed["placement"]
    results = {}
    for day, status in [
        ("2026-12-03", "attended"),
        ("2026-12-07", "missed"),
        ("2026-12-09", "missed"),
        ("2026-12-10", "missed"),
        ("2026-12-14", "attended"),
        ("2026-12-16", "missed"),
        ("2026-12-17", "excused"),
        ("2026-12-21", "missed"),
    ]:
        if day == "2026-12-21":
            api.client.application.config["CLOCK"].set("2026-12-22T15:00:00Z")
        response = attend(api, world, placement, day, status)
        assert response.status_code == 201, response.json
        results[day] = (response.json["lapsed"], response.json["missed_in_a_row"])
    assert results["2026-12-09"] == (True, 2)
    assert results["2026-12-10"] == (False, 3)
    assert results["2026-12-16"] == (False, 1)
    assert results["2026-12-21"] == (True, 2)  # the excused session neither breaks nor extends the run
    events = lapse_events(app, placement["id"])
    assert [e["missed_in_a_row"] for e in events] == [2, 2]
    assert set(events[0]) == {"placement_id", "referral_id", "program_id", "missed_in_a_row", "attendance_ids"}


def test_lapse_threshold_is_configurable_and_late_entries_count(api, world, app, placed):
    app.config["LAPSE_MISSED_IN_A_ROW"] = 3
    placement = placed["placement"]
    attend(api, world, placement, "2026-12-07", "missed")
    attend(api, world, placement, "2026-12-10", "missed")
    assert lapse_events(app, placement["id"]) == []
    late = attend(api, world, placement, "2026-12-09", "missed")  # filled in afterwards, between the two
    assert late.json["lapsed"] is True
    assert len(lapse_events(app, placement["id"])) == 1
    attend(api, world, placement, "2026-12-14", "missed")
    assert len(lapse_events(app, placement["id"])) == 1


def test_who_may_record_attendance(api, world, placed):
    placement = placed["placement"]
    assert attend(api, world, placement, "2026-12-07", "attended", who="coordinator2").status_code == 404
    assert attend(api, world, placement, "2026-12-07", "attended", who="planner").status_code == 403
    assert attend(api, world, placement, "2026-12-07", "attended", who="manager").status_code == 403
    assert (
        api.post(
            "/api/v1/placements/nope/attendance",
            {"date": "2026-12-07", "status": "attended"},
            token=world.tokens["coordinator"],
        ).status_code
        == 404
    )
    assert attend(api, world, placement, "2026-12-07", "attended", who="admin").status_code == 201


def test_attendance_is_idempotent_with_a_key(api, world, placed):
    headers = {"Idempotency-Key": "att-1"}
    first = attend(api, world, placed["placement"], "2026-12-07", "attended", headers=headers)
    again = attend(api, world, placed["placement"], "2026-12-07", "attended", headers=headers)
    assert first.status_code == again.status_code == 201 and first.json == again.json


# ---------------------------------------------------------------- IOP discharge


@pytest.mark.parametrize(
    "outcome, status",
    [
        ("completed", "completed"),
        ("dropped_out", "dropped_out"),
        ("readmitted", "readmitted"),
        ("transferred", "completed"),
    ],
)
def test_discharge_frees_the_seat_and_ends_the_referral(api, world, scene, app, placed, outcome, status):
    placement = placed["placement"]
    attend(api, world, placement, "2026-12-07", "attended")
    assert scene.seats(placed["track"])["occupied"] == 1
    response = api.post(
        "/api/v1/placements/%s/discharge" % placement["id"], {"outcome": outcome}, token=world.tokens["coordinator"]
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "discharged" and body["outcome"] == outcome
    assert body["discharged_at"] == "2026-12-20T15:00:00Z" and body["referral_status"] == status
    assert scene.seats(placed["track"])["occupied"] == 0
    assert scene.get_referral(placed["referral"])["status"] == status
    assert scene.timeline_types(placed["referral"])[-2:] == ["placement.discharged", "referral.%s" % status]
    again = api.post(
        "/api/v1/placements/%s/discharge" % placement["id"], {"outcome": outcome}, token=world.tokens["coordinator"]
    )
    assert again.status_code == 409
    assert attend(api, world, placement, "2026-12-09", "attended").status_code == 409
    assert invariant_problems(app) == []


def test_discharge_before_any_session(api, world, scene, placed):
    response = api.post(
        "/api/v1/placements/%s/discharge" % placed["placement"]["id"],
        {"outcome": "dropped_out"},
        token=world.tokens["coordinator"],
    )
    assert response.status_code == 200 and response.json["referral_status"] == "dropped_out"


def test_discharge_validation_and_scope(api, world, placed):
    path = "/api/v1/placements/%s/discharge" % placed["placement"]["id"]
    assert api.post(path, {"outcome": "graduated"}, token=world.tokens["coordinator"]).status_code == 422
    assert api.post(path, {}, token=world.tokens["coordinator"]).status_code == 422
    assert api.post(path, {"outcome": "completed"}, token=world.tokens["coordinator2"]).status_code == 404
    assert api.post(path, {"outcome": "completed"}, token=world.tokens["planner"]).status_code == 403


# ---------------------------------------------------------------- readmission


@pytest.mark.parametrize(
    "admitted, days, classification",
    [
        ("2026-10-20", 0, "transfer"),
        ("2026-10-22", 2, "transfer"),
        ("2026-10-23", 3, "readmission_30"),
        ("2026-11-19", 30, "readmission_30"),
        ("2026-11-20", 31, "later"),
    ],
)
def test_readmission_is_classified_by_days_after_discharge(api, world, scene, app, admitted, days, classification):
    referral = scene.referral(discharge_date="2026-10-20")
    response = api.post(
        "/api/v1/referrals/%s/readmission" % referral["id"],
        {"date": admitted, "facility": "Mercy Psychiatric"},
        token=world.tokens["planner"],
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["classification"] == classification and body["days_after_discharge"] == days
    assert body["date"] == admitted and body["facility"] == "Mercy Psychiatric"
    assert body["referral_status"] == "readmitted"
    with app.app_context():
        event = db.session.scalars(select(Event).where(Event.type == "referral.readmitted")).one()
        assert event.data == {
            "referral_id": referral["id"],
            "readmission_id": body["id"],
            "classification": classification,
            "days_after_discharge": days,
        }
        assert event.from_status == "submitted" and event.to_status == "readmitted"
        db.session.remove()


def test_readmission_while_placed_ends_the_placement(api, world, scene, app, placed):
    response = api.post(
        "/api/v1/referrals/%s/readmission" % placed["referral"]["id"],
        {"date": "2026-12-12"},
        token=world.tokens["manager"],
    )
    assert response.status_code == 201, response.json
    assert response.json["classification"] == "readmission_30" and response.json["referral_status"] == "readmitted"
    placement = api.get("/api/v1/placements/%s" % placed["placement"]["id"], token=world.tokens["coordinator"]).json
    assert placement["status"] == "discharged" and placement["outcome"] == "readmitted"
    assert scene.seats(placed["track"])["occupied"] == 0
    assert invariant_problems(app) == []


def test_readmission_while_offered_withdraws_the_offers(api, world, scene, app, clock):
    track = scene.track()
    referral = scene.referral(discharge_date="2026-11-28")
    offer = scene.offered(referral, track)
    response = api.post(
        "/api/v1/referrals/%s/readmission" % referral["id"], {"date": "2026-12-01"}, token=world.tokens["planner"]
    )
    assert response.status_code == 201 and response.json["referral_status"] == "readmitted"
    assert scene.offer_now(offer)["status"] == "withdrawn" and scene.seats(track)["held"] == 0


def test_readmission_after_the_referral_ended_is_recorded_without_a_state_change(api, world, scene, placed):
    api.post(
        "/api/v1/placements/%s/discharge" % placed["placement"]["id"],
        {"outcome": "completed"},
        token=world.tokens["coordinator"],
    )
    response = api.post(
        "/api/v1/referrals/%s/readmission" % placed["referral"]["id"],
        {"date": "2026-12-19"},
        token=world.tokens["planner"],
    )
    assert response.status_code == 201 and response.json["referral_status"] == "completed"
    assert scene.timeline_types(placed["referral"])[-1] == "referral.readmitted"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"date": "2026-12-02"}, "date"),  # before the discharge on 12-03
        ({"date": "2026-12-21"}, "date"),  # tomorrow
        ({}, "date"),
        ({"date": "2026-12-05", "facility": "x" * 201}, "facility"),
        ({"date": "2026-12-05", "ward": "B"}, "ward"),
    ],
)
def test_readmission_validation(api, world, placed, body, field):
    response = api.post(
        "/api/v1/referrals/%s/readmission" % placed["referral"]["id"], body, token=world.tokens["planner"]
    )
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]


def test_who_may_report_a_readmission(api, world, scene):
    referral = scene.referral(discharge_date="2026-11-20")
    path = "/api/v1/referrals/%s/readmission" % referral["id"]
    body = {"date": "2026-11-25"}
    assert api.post(path, body, token=world.tokens["coordinator"]).status_code == 403
    assert api.post(path, body, token=world.tokens["planner2"]).status_code == 404
    assert api.post(path, body, token=world.tokens["manager2"]).status_code == 404
    assert api.post(path, body, token=world.tokens["manager"]).status_code == 201
    assert api.post(path, body, token=world.tokens["admin"]).status_code == 201


# ---------------------------------------------------------------- reading placements


def test_placement_reads_are_scoped_and_audited(api, world, app, placed):
    path = "/api/v1/placements/%s" % placed["placement"]["id"]
    expected = {
        "admin": 200,
        "planner": 200,
        "manager": 200,
        "coordinator": 200,
        "planner2": 404,
        "manager2": 404,
        "coordinator2": 404,
    }
    assert {who: api.get(path, token=world.tokens[who]).status_code for who in expected} == expected
    assert api.get(path).status_code == 401
    with app.app_context():
        rows = db.session.scalars(select(AuditRecord).where(AuditRecord.object_id == placed["placement"]["id"])).all()
        seen = {(r.action, r.user_id, r.outcome) for r in rows}
        db.session.remove()
    assert ("placement.read", world.users["manager"], "allowed") in seen
    assert ("placement.read", world.users["coordinator2"], "denied") in seen


def test_placement_lists(api, world, scene, placed):
    other = scene.referral(who="planner2", coverage={"payer_id": "medicaid-il", "member_id": "M1"})
    scene.placed(other, placed["track"], who="planner2")

    def listed(who, query=""):
        response = api.get("/api/v1/placements" + query, token=world.tokens[who])
        assert response.status_code == 200, response.json
        return [p["referral_id"] for p in response.json["items"]]

    assert sorted(listed("coordinator", "?status=active")) == sorted([placed["referral"]["id"], other["id"]])
    assert listed("planner") == [placed["referral"]["id"]]
    assert listed("manager") == [placed["referral"]["id"]]
    assert listed("coordinator2") == []
    assert listed("coordinator", "?status=discharged") == []
    assert api.get("/api/v1/placements?status=gone", token=world.tokens["coordinator"]).status_code == 422


def test_sud_placements_carry_the_part2_notice_outside_the_referring_org(api, world, scene, clock):
    referral = scene.sud_referral()
    _, placement = scene.placed(referral, scene.track())
    assert "42 CFR part 2" in placement["part2_notice"]
    own = api.get("/api/v1/placements/%s" % placement["id"], token=world.tokens["planner"]).json
    assert own["part2_notice"] is None


def test_a_placed_referral_ends_through_its_placement_not_a_cancel(api, world, scene, app, placed):
    response = api.post("/api/v1/referrals/%s/cancel" % placed["referral"]["id"], {}, token=world.tokens["planner"])
    assert response.status_code == 409 and response.json["current_status"] == "placed"
    assert scene.seats(placed["track"])["occupied"] == 1
    assert invariant_problems(app) == []
