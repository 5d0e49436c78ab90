"""The IOP directory: programs and tracks, derived hours, the 6-30 hour rule, seats, and who may edit."""

import pytest

from tests.support import payloads


@pytest.fixture
def program(api, world):
    response = api.post("/api/v1/programs", payloads.program(), token=world.tokens["coordinator"])
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def track(api, world, program):
    response = api.post(
        "/api/v1/programs/%s/tracks" % program["id"], payloads.track(), token=world.tokens["coordinator"]
    )
    assert response.status_code == 201, response.json
    return response.json


def test_program_gets_location_from_its_zip(program, world):
    assert program["organization_id"] == world.orgs["provider"]
    assert program["latitude"] == pytest.approx(41.886, abs=0.01)
    assert program["longitude"] == pytest.approx(-87.618, abs=0.01)
    assert program["active"] is True


def test_track_derives_hours_and_defaults_intake_days(track):
    assert track["hours_per_week"] == 9
    assert track["intake_days"] == ["mon", "wed", "thu"]
    assert (track["capacity"], track["occupied"], track["held"], track["open"]) == (8, 0, 0, 8)


def test_every_user_reads_the_directory(api, world, program, track):
    for role in ("admin", "planner", "manager", "coordinator", "coordinator2"):
        token = world.tokens[role]
        assert api.get("/api/v1/programs/%s" % program["id"], token=token).json["tracks"][0]["id"] == track["id"]
        assert api.get("/api/v1/tracks/%s" % track["id"], token=token).status_code == 200
        assert api.get("/api/v1/tracks/%s/availability" % track["id"], token=token).json == {
            "capacity": 8,
            "occupied": 0,
            "held": 0,
            "open": 8,
        }
        listed = api.get("/api/v1/programs/%s/tracks" % program["id"], token=token).json
        assert [t["id"] for t in listed["items"]] == [track["id"]]


def test_program_list_filters(api, world, program):
    token = world.tokens["planner"]
    api.post(
        "/api/v1/programs",
        payloads.program(name="Austin IOP", zip="78701", state="TX", services=["substance_use"]),
        token=world.tokens["coordinator"],
    )
    assert [p["name"] for p in api.get("/api/v1/programs?state=TX", token=token).json["items"]] == ["Austin IOP"]
    names = {p["name"] for p in api.get("/api/v1/programs?service=co_occurring", token=token).json["items"]}
    assert names == {"Lakeview Evening IOP"}
    assert len(api.get("/api/v1/programs", token=token).json["items"]) == 2


def test_only_the_owning_provider_and_admins_edit(api, world, program, track):
    for role in ("planner", "manager", "coordinator2"):
        token = world.tokens[role]
        assert api.patch("/api/v1/programs/%s" % program["id"], {"name": "Mine"}, token=token).status_code == 403
        assert api.patch("/api/v1/tracks/%s" % track["id"], {"capacity": 1}, token=token).status_code == 403
        assert api.post("/api/v1/programs/%s/tracks" % program["id"], payloads.track(), token=token).status_code == 403
    assert api.post("/api/v1/programs", payloads.program(), token=world.tokens["planner"]).status_code == 403
    renamed = api.patch(
        "/api/v1/programs/%s" % program["id"],
        {"name": "Renamed", "zip": "78701", "state": "TX"},
        token=world.tokens["admin"],
    )
    assert renamed.status_code == 200 and renamed.json["name"] == "Renamed"
    assert renamed.json["latitude"] == pytest.approx(30.27, abs=0.05)


def test_admin_creates_programs_for_a_provider(api, world):
    missing = api.post("/api/v1/programs", payloads.program(), token=world.tokens["admin"])
    assert missing.status_code == 422 and "organization_id" in missing.json["errors"]
    wrong_kind = api.post(
        "/api/v1/programs", payloads.program(organization_id=world.orgs["hospital"]), token=world.tokens["admin"]
    )
    assert wrong_kind.status_code == 422
    made = api.post(
        "/api/v1/programs", payloads.program(organization_id=world.orgs["provider2"]), token=world.tokens["admin"]
    )
    assert made.status_code == 201 and made.json["organization_id"] == world.orgs["provider2"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("zip", "99999"),
        ("zip", "ABCDE"),
        ("state", "XX"),
        ("services", []),
        ("services", ["yoga"]),
        ("min_age", -1),
        ("max_age", 200),
        ("gender", "other"),
        ("languages", ["english"]),
        ("payers", ["has space"]),
        ("accepts_from", ["jail"]),
        ("telehealth_states", ["ZZ"]),
        ("name", ""),
        ("name", "x" * 201),
        ("payers", ["p%d" % i for i in range(201)]),
        ("extra", True),
        ("services", ["mental_health", "mental_health"]),
    ],
)
def test_invalid_program_fields_are_422(api, world, field, value):
    response = api.post("/api/v1/programs", payloads.program(**{field: value}), token=world.tokens["coordinator"])
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]


def test_age_range_must_be_ordered(api, world, program):
    bad = api.post("/api/v1/programs", payloads.program(min_age=40, max_age=30), token=world.tokens["coordinator"])
    assert bad.status_code == 422 and "max_age" in bad.json["errors"]
    patch = api.patch("/api/v1/programs/%s" % program["id"], {"min_age": 70}, token=world.tokens["coordinator"])
    assert patch.status_code == 422


@pytest.mark.parametrize(
    "sessions, message",
    [
        ([{"day": "mon", "start": "09:00", "end": "11:00"}], "6 to 30 hours"),
        ([{"day": d, "start": "08:00", "end": "16:00"} for d in ("mon", "tue", "wed", "thu")], "6 to 30 hours"),
        ([{"day": "mon", "start": "25:00", "end": "26:00"}], "HH:MM"),
        ([{"day": "mon", "start": "12:00", "end": "09:00"}], "after start"),
        (
            [{"day": "mon", "start": "09:00", "end": "13:00"}, {"day": "mon", "start": "12:00", "end": "15:00"}],
            "overlap",
        ),
        ([{"day": "xyz", "start": "09:00", "end": "15:00"}], "one of"),
    ],
)
def test_invalid_sessions_are_422(api, world, program, sessions, message):
    response = api.post(
        "/api/v1/programs/%s/tracks" % program["id"],
        payloads.track(sessions=sessions),
        token=world.tokens["coordinator"],
    )
    assert response.status_code == 422
    assert message in str(response.json["errors"]), response.json


@pytest.mark.parametrize(
    "field, value",
    [
        ("modality", "hybrid"),
        ("timezone", "Central"),
        ("capacity", 0),
        ("intake_days", ["sun"]),
        ("intake_days", []),
        ("name", None),
    ],
)
def test_invalid_track_fields_are_422(api, world, program, field, value):
    response = api.post(
        "/api/v1/programs/%s/tracks" % program["id"],
        payloads.track(**{field: value}),
        token=world.tokens["coordinator"],
    )
    assert response.status_code == 422 and field in response.json["errors"], response.json


def test_track_update_recomputes_hours_and_keeps_intake_days_valid(api, world, track):
    token = world.tokens["coordinator"]
    response = api.patch(
        "/api/v1/tracks/%s" % track["id"],
        {
            "sessions": [
                {"day": "tue", "start": "09:00", "end": "12:00"},
                {"day": "thu", "start": "09:00", "end": "12:30"},
            ]
        },
        token=token,
    )
    assert response.status_code == 200, response.json
    assert response.json["hours_per_week"] == 6.5
    assert response.json["intake_days"] == ["thu"]
    bad = api.patch("/api/v1/tracks/%s" % track["id"], {"intake_days": ["mon"]}, token=token)
    assert bad.status_code == 422


def test_capacity_cannot_drop_below_occupied_plus_held(api, world, app, track):
    from transitions.core.db import db
    from transitions.directory.models import Track

    with app.app_context():
        row = db.session.get(Track, track["id"])
        row.occupied, row.held = 3, 2
        db.session.commit()
    token = world.tokens["coordinator"]
    refused = api.patch("/api/v1/tracks/%s" % track["id"], {"capacity": 4, "name": "Renamed"}, token=token)
    assert refused.status_code == 409 and refused.json["occupied"] == 3 and refused.json["held"] == 2
    unchanged = api.get("/api/v1/tracks/%s" % track["id"], token=token).json
    assert unchanged["capacity"] == 8 and unchanged["name"] == "Evening track"
    assert api.patch("/api/v1/tracks/%s" % track["id"], {"capacity": 5}, token=token).json["open"] == 0


def test_unknown_ids_are_404(api, world):
    token = world.tokens["planner"]
    for path in ("/api/v1/programs/nope", "/api/v1/tracks/%s" % ("x" * 80), "/api/v1/tracks/nope/availability"):
        assert api.get(path, token=token).status_code == 404


def test_a_patched_session_must_be_whole(api, world, track):
    # A PATCH may leave out top-level fields, never half of a session: that is a 422, not a crash.
    token = world.tokens["coordinator"]
    response = api.patch(
        "/api/v1/tracks/%s" % track["id"], {"sessions": [{"day": "tue", "start": "18:00"}]}, token=token
    )
    assert response.status_code == 422
    assert "sessions" in response.json["errors"]
    assert api.get("/api/v1/tracks/%s" % track["id"], token=token).json["sessions"] == track["sessions"]
