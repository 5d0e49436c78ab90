"""Who reaches what: every role against every offer and placement endpoint, and nothing changes when refused."""

import pytest

from tests.support.offers import Scene

ROLES = ("admin", "planner", "planner2", "manager", "manager2", "coordinator", "coordinator2")

# Allowed callers get past scope and then trip a deliberate rule (422) or succeed (200); the rest are
# refused by role (403) or cannot see the object (404).
EXPECTED = {
    #               get  accept decline withdraw placement attendance discharge revoke readmission list
    "admin": (200, 422, 200, 200, 200, 422, 200, 200, 422, 200),
    "planner": (200, 403, 403, 200, 200, 403, 403, 200, 422, 200),
    "planner2": (404, 403, 403, 404, 404, 403, 403, 404, 404, 200),
    "manager": (403, 403, 403, 403, 200, 403, 403, 403, 422, 403),
    "manager2": (403, 403, 403, 403, 404, 403, 403, 403, 404, 403),
    "coordinator": (200, 422, 200, 403, 200, 422, 200, 403, 403, 200),
    "coordinator2": (404, 404, 404, 403, 404, 404, 404, 403, 403, 200),
}
SEES_OFFERS = {"admin", "planner", "coordinator"}


@pytest.fixture
def setting(api, world, app, clock):
    scene = Scene(api, world, app, clock)
    track = scene.track(capacity=10)
    offers = {key: scene.offered(scene.sud_referral(), track) for key in ("accept", "decline", "withdraw")}
    revocable = scene.sud_referral()
    scene.offered(revocable, track)
    _, placement = scene.placed(scene.referral(), track)
    return scene, offers, revocable, placement


@pytest.mark.parametrize("role", ROLES)
def test_every_offer_and_placement_endpoint_respects_scope(api, world, setting, role):
    scene, offers, revocable, placement = setting
    token = world.tokens[role]
    got = (
        api.get("/api/v1/offers/%s" % offers["accept"]["id"], token=token).status_code,
        api.post(
            "/api/v1/offers/%s/accept" % offers["accept"]["id"], {"intake_date": "2026-12-04"}, token=token
        ).status_code,
        api.post("/api/v1/offers/%s/decline" % offers["decline"]["id"], {"reason": "other"}, token=token).status_code,
        api.post("/api/v1/offers/%s/withdraw" % offers["withdraw"]["id"], {}, token=token).status_code,
        api.get("/api/v1/placements/%s" % placement["id"], token=token).status_code,
        api.post(
            "/api/v1/placements/%s/attendance" % placement["id"],
            {"date": "2026-12-04", "status": "attended"},
            token=token,
        ).status_code,
        api.post(
            "/api/v1/placements/%s/discharge" % placement["id"], {"outcome": "completed"}, token=token
        ).status_code,
        api.post("/api/v1/referrals/%s/consent/revoke" % revocable["id"], {}, token=token).status_code,
        api.post(
            "/api/v1/referrals/%s/readmission" % placement["referral_id"], {"date": "2026-12-30"}, token=token
        ).status_code,
        api.get("/api/v1/offers", token=token).status_code,
    )
    assert got == EXPECTED[role]
    listed = api.get("/api/v1/offers?limit=500", token=token)
    if listed.status_code == 200:
        ids = {o["id"] for o in listed.json["items"]}
        assert (offers["accept"]["id"] in ids) == (role in SEES_OFFERS)
    # A refusal changed nothing.
    statuses = {key: scene.offer_now(offer)["status"] for key, offer in offers.items()}
    assert statuses["accept"] == "pending"
    assert statuses["decline"] == ("declined" if EXPECTED[role][2] == 200 else "pending")
    assert statuses["withdraw"] == ("withdrawn" if EXPECTED[role][3] == 200 else "pending")
    referral = scene.get_referral(placement["referral_id"])
    assert referral["status"] == ("completed" if EXPECTED[role][6] == 200 else "placed")


@pytest.mark.parametrize("role", ["planner2", "manager2", "coordinator2"])
def test_strangers_learn_nothing_from_a_404(api, world, setting, role):
    scene, offers, _, placement = setting
    for path in ("/api/v1/offers/%s" % offers["accept"]["id"], "/api/v1/placements/%s" % placement["id"]):
        response = api.get(path, token=world.tokens[role])
        if response.status_code == 404:
            text = response.get_data(as_text=True)
            assert "Patient" not in text and placement["referral_id"] not in text
