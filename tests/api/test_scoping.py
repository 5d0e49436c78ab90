"""Who sees what: every role against referrals of three referring orgs, through every referral endpoint."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.support import payloads
from transitions.core.db import db
from transitions.offers.models import Offer

ROLES = ("admin", "planner", "planner2", "planner3", "manager", "manager2", "coordinator", "coordinator2")


@pytest.fixture
def scene(api, world, app):
    """Referrals from three orgs and plans, one of them offered to the first provider's program."""
    world.org("hospital3", "hospital")
    world.user("planner3", "discharge_planner", "hospital3")
    refs = {}
    specs = {
        "h1_acme": ("planner", {"coverage": {"payer_id": "acme-health", "member_id": "A1"}}),
        "h1_other": ("planner", {"coverage": {"payer_id": "other-plan", "member_id": "O1"}}),
        "h1_self": ("planner", {"coverage": {"self_pay": True}}),
        "h2_acme": (
            "planner2",
            {
                "coverage": {"payer_id": "acme-health", "member_id": "A2"},
                "need": "substance_use",
                "diagnoses": ["F10.20"],
                "part2_consent": {"signed_on": "2026-11-20"},
            },
        ),
        "h3_none": ("planner3", {"coverage": {"payer_id": "nobody-follows", "member_id": "N1"}}),
    }
    for index, (key, (planner, overrides)) in enumerate(specs.items()):
        body = payloads.referral(patient={"given_name": "Person%d" % index}, **overrides)
        response = api.post("/api/v1/referrals", body, token=world.tokens[planner])
        assert response.status_code == 201, response.json
        refs[key] = response.json["id"]
    program = api.post("/api/v1/programs", payloads.program(), token=world.tokens["coordinator"]).json
    track = api.post(
        "/api/v1/programs/%s/tracks" % program["id"], payloads.track(), token=world.tokens["coordinator"]
    ).json
    with app.app_context():
        db.session.add(
            Offer(
                referral_id=refs["h2_acme"],
                track_id=track["id"],
                program_id=program["id"],
                status="pending",
                expires_at=datetime.now(UTC) + timedelta(hours=48),
            )
        )
        db.session.commit()
    return refs


def expected_visible(refs):
    everything = set(refs.values())
    return {
        "admin": everything,
        "planner": {refs["h1_acme"], refs["h1_other"], refs["h1_self"]},
        "planner2": {refs["h2_acme"]},
        "planner3": {refs["h3_none"]},
        "manager": {refs["h1_acme"], refs["h2_acme"]},
        "manager2": {refs["h1_other"]},
        "coordinator": {refs["h2_acme"]},
        "coordinator2": set(),
    }


def may_change(role, referral_key):
    owner = {"h1": "planner", "h2": "planner2", "h3": "planner3"}[referral_key[:2]]
    return role in ("admin", owner)


@pytest.mark.parametrize("role", ROLES)
def test_lists_show_exactly_what_the_role_may_see(api, world, scene, role):
    listed = api.get("/api/v1/referrals?limit=500", token=world.tokens[role]).json["items"]
    assert {r["id"] for r in listed} == expected_visible(scene)[role]


@pytest.mark.parametrize("role", ROLES)
def test_every_referral_endpoint_respects_scope(api, world, scene, role):
    token = world.tokens[role]
    visible = expected_visible(scene)[role]
    leaks = []
    for key, referral_id in scene.items():
        can_see = referral_id in visible
        read = api.get("/api/v1/referrals/%s" % referral_id, token=token)
        timeline = api.get("/api/v1/referrals/%s/timeline" % referral_id, token=token)
        for response in (read, timeline):
            if response.status_code != (200 if can_see else 404):
                leaks.append((key, response.request.path, response.status_code))
        update = api.patch("/api/v1/referrals/%s" % referral_id, {"notes": "edited by %s" % role}, token=token)
        expected_update = 200 if may_change(role, key) else (403 if can_see else 404)
        if update.status_code != expected_update:
            leaks.append((key, "update", update.status_code))
        if not can_see and read.status_code == 404:
            assert "Person" not in read.get_data(as_text=True)
    assert leaks == []


@pytest.mark.parametrize("role", ["planner", "manager", "coordinator2", "planner3"])
def test_cancel_by_anyone_but_the_owner_changes_nothing(api, world, scene, role):
    response = api.post("/api/v1/referrals/%s/cancel" % scene["h2_acme"], {}, token=world.tokens[role])
    assert response.status_code in (403, 404)
    status = api.get("/api/v1/referrals/%s" % scene["h2_acme"], token=world.tokens["planner2"]).json["status"]
    assert status == "submitted"


def test_offered_provider_sees_the_minimum_necessary(api, world, scene):
    body = api.get("/api/v1/referrals/%s" % scene["h2_acme"], token=world.tokens["coordinator"]).json
    assert "member_id" not in body["coverage"]
    assert body["notes"] is None
    assert "42 CFR part 2" in body["part2_notice"]
    assert body["patient"]["family_name"] == "Lopez"
    full = api.get("/api/v1/referrals/%s" % scene["h2_acme"], token=world.tokens["manager"]).json
    assert full["coverage"]["member_id"] == "A2" and full["notes"]


def test_shared_notes_reach_the_provider(api, world, scene):
    api.patch("/api/v1/referrals/%s" % scene["h2_acme"], {"share_notes": True}, token=world.tokens["planner2"])
    body = api.get("/api/v1/referrals/%s" % scene["h2_acme"], token=world.tokens["coordinator"]).json
    assert body["notes"] == payloads.referral()["notes"]


def test_a_plan_without_payer_ids_sees_nothing(api, world, scene):
    world.org("empty_plan", "health_plan")
    world.user("empty_manager", "case_manager", "empty_plan")
    assert api.get("/api/v1/referrals", token=world.tokens["empty_manager"]).json["items"] == []


def test_listing_filters_cannot_widen_scope(api, world, scene):
    token = world.tokens["manager2"]
    listed = api.get("/api/v1/referrals?payer_id=acme-health", token=token).json["items"]
    assert listed == []
