"""Every time on a page is in the viewer's organization's zone, named: a planner in Chicago and a coordinator in
Los Angeles see the same offer's expiry each in their own zone, never UTC beside local time."""

import re
from datetime import UTC, datetime

import pytest

from tests.support.offers import Scene
from transitions.core.db import db
from transitions.identity.models import Organization


@pytest.fixture
def scene(api, world, app, clock):
    return Scene(api, world, app, clock)


def set_zone(app, world, org_key, zone):
    with app.app_context():
        db.session.get(Organization, world.orgs[org_key]).timezone = zone
        db.session.commit()


def test_each_viewer_sees_the_offers_times_in_their_organizations_zone(app, world, scene, as_user, clock):
    clock.now = datetime(2026, 1, 12, 15, 0, tzinfo=UTC)  # winter: CST is UTC-6, PST UTC-8
    set_zone(app, world, "hospital", "America/Chicago")
    set_zone(app, world, "provider", "America/Los_Angeles")
    referral = scene.referral()
    offer = scene.offered(referral, scene.track(timezone="America/New_York"))
    expires = datetime.fromisoformat(offer["expires_at"].replace("Z", "+00:00"))

    planner_page = as_user("planner").get("/referrals/%s" % referral["id"]).get_data(as_text=True)
    coordinator_page = as_user("coordinator").get("/offers").get_data(as_text=True)

    assert re.search(r"\d{2}:\d{2} CST", planner_page)
    assert not re.search(r"\d{2}:\d{2} (UTC|PST|EST)\b", planner_page)
    assert re.search(r"\d{2}:\d{2} PST", coordinator_page)
    assert not re.search(r"\d{2}:\d{2} (UTC|CST|EST)\b", coordinator_page)  # not the track's zone, not UTC
    shown = {"America/Chicago": expires.hour - 6, "America/Los_Angeles": expires.hour - 8}
    assert "%02d:%02d CST" % (shown["America/Chicago"] % 24, expires.minute) in planner_page
    assert "%02d:%02d PST" % (shown["America/Los_Angeles"] % 24, expires.minute) in coordinator_page


def test_an_organization_without_a_zone_sees_utc_named(app, world, scene, as_user):
    scene.referral()
    page = as_user("planner").get("/referrals").get_data(as_text=True)
    assert re.search(r"\d{2}:\d{2} UTC", page)


def test_the_organizations_api_takes_and_shows_a_zone_and_refuses_an_unknown_one(api, world):
    admin = world.tokens["admin"]
    created = api.post(
        "/api/v1/organizations", {"name": "Lakeview", "kind": "hospital", "timezone": "America/Denver"}, token=admin
    )
    assert created.status_code == 201 and created.json["timezone"] == "America/Denver"
    default = api.post("/api/v1/organizations", {"name": "Elm", "kind": "hospital"}, token=admin)
    assert default.json["timezone"] == "UTC"
    bad = api.patch("/api/v1/organizations/%s" % default.json["id"], {"timezone": "Mars/Olympus"}, token=admin)
    assert bad.status_code == 422 and "timezone" in bad.json["errors"]
    moved = api.patch("/api/v1/organizations/%s" % default.json["id"], {"timezone": "Europe/Berlin"}, token=admin)
    assert moved.status_code == 200 and moved.json["timezone"] == "Europe/Berlin"
