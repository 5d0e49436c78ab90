"""Minimum necessary on the timeline: a provider sees there only what it may see elsewhere."""

import json

import pytest

from tests.support.offers import Scene

SECRET_REASON = "family says patient relapsed MARKER-7f3a"


@pytest.fixture
def scene(api, world, app, clock):
    return Scene(api, world, app, clock)


def readable(scene, who, kind, object_id):
    return scene.api.get("/api/v1/%ss/%s" % (kind, object_id), token=scene.token(who)).status_code == 200


def assert_nothing_hidden_leaks(scene, referral, who):
    """Every offer and placement the viewer's timeline names, as subject or in data, is one it may read directly."""
    timeline = scene.timeline(referral, who=who)
    assert timeline, "the provider still sees the referral's status changes"
    for event in timeline:
        assert event["subject_type"] in {"referral", "offer", "placement"}, event
        named = [(event["subject_type"], event["subject_id"])] if event["subject_type"] != "referral" else []
        named += [
            (kind, event["data"]["%s_id" % kind])
            for kind in ("offer", "placement")
            if event["data"].get("%s_id" % kind)
        ]
        for kind, object_id in named:
            assert readable(scene, who, kind, object_id), (event, kind, object_id)
    return timeline


def test_a_provider_never_sees_competing_offers_or_the_planners_cancel_reason(scene):
    mine, theirs = scene.track(who="coordinator"), scene.track(who="coordinator2")
    referral = scene.referral()
    my_offer = scene.offer(referral, mine).json
    their_offer = scene.offer(referral, theirs).json
    assert scene.decline(their_offer, reason="at_capacity", who="coordinator2").status_code == 200
    cancelled = scene.api.post(
        "/api/v1/referrals/%s/cancel" % referral["id"], {"reason": SECRET_REASON}, token=scene.token("planner")
    )
    assert cancelled.status_code == 200, cancelled.json

    seen = assert_nothing_hidden_leaks(scene, referral, "coordinator")
    text = json.dumps(seen)
    assert SECRET_REASON not in text and their_offer["id"] not in text
    assert my_offer["id"] in {event["subject_id"] for event in seen}
    assert "referral.cancelled" in [event["type"] for event in seen]

    full = json.dumps(scene.timeline(referral, who="planner"))
    assert SECRET_REASON in full and their_offer["id"] in full
    assert SECRET_REASON in json.dumps(scene.timeline(referral, who="manager"))


def test_the_provider_that_lost_sees_no_trace_of_the_winners_placement(scene):
    mine, theirs = scene.track(who="coordinator"), scene.track(who="coordinator2")
    referral = scene.referral()
    scene.offer(referral, mine)
    their_offer = scene.offer(referral, theirs).json
    accepted = scene.accept(their_offer, scene.intake_date(referral, theirs), who="coordinator2")
    assert accepted.status_code == 200, accepted.json

    seen = assert_nothing_hidden_leaks(scene, referral, "coordinator")
    text = json.dumps(seen)
    assert their_offer["id"] not in text and accepted.json["placement_id"] not in text
    assert "referral.placed" in [event["type"] for event in seen]

    winner = [(e["type"], e["subject_id"]) for e in assert_nothing_hidden_leaks(scene, referral, "coordinator2")]
    assert ("offer.accepted", their_offer["id"]) in winner
