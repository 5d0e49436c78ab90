"""Capacity freshness in matching: a track whose seats nobody confirmed within the limit ranks after confirmed ones,
and says why."""

from datetime import timedelta

import pytest

from tests.support.offers import Scene


@pytest.fixture
def scene(api, world, app, clock):
    return Scene(api, world, app, clock)


def matches(scene, referral):
    response = scene.api.get("/api/v1/referrals/%s/matches" % referral["id"], token=scene.token("planner"))
    assert response.status_code == 200, response.json
    return response.json["items"]


def test_a_stale_seat_count_ranks_after_a_confirmed_one_and_says_so(scene, api, world, clock):
    # The nearer program would rank first on distance alone.
    near = scene.track(scene.program(name="Near IOP", zip="60601"))
    far = scene.track(scene.program(name="Far IOP", zip="60614"))
    clock.set((clock.now + timedelta(days=15)).isoformat())
    referral = scene.referral()
    stale_both = matches(scene, referral)
    assert all("call to check" in " ".join(m["reasons"]) for m in stale_both)
    # Confirming the farther track's seats puts it first; the other one says why it is second.
    confirmed = api.patch("/api/v1/tracks/%s" % far["id"], {"capacity": 9}, token=world.tokens["coordinator"])
    assert confirmed.status_code == 200
    ranked = matches(scene, referral)
    assert [m["track_id"] for m in ranked] == [far["id"], near["id"]]
    assert not any("call to check" in r for r in ranked[0]["reasons"])
    assert "seat count not confirmed for 15 days: ranked after confirmed tracks, call to check" in ranked[1]["reasons"]


def test_the_limit_is_a_setting(scene, app, clock):
    scene.track()
    clock.set((clock.now + timedelta(days=3)).isoformat())
    referral = scene.referral()
    assert not any("call to check" in r for m in matches(scene, referral) for r in m["reasons"])
    app.config["SEATS_CONFIRMATION_MAX_AGE_DAYS"] = 2
    assert all("call to check" in " ".join(m["reasons"]) for m in matches(scene, referral))


def test_an_accept_counts_as_confirming_the_seats(scene, clock):
    track = scene.track()
    clock.set((clock.now + timedelta(days=15)).isoformat())
    first = scene.referral()
    assert all("call to check" in " ".join(m["reasons"]) for m in matches(scene, first))
    offer = scene.offer(first, track).json
    assert scene.accept(offer, scene.intake_date(first, track)).status_code == 200
    waiting = scene.referral()
    assert not any("call to check" in r for m in matches(scene, waiting) for r in m["reasons"])
