"""Offers through the API: holds, parallel offers, accept/decline/withdraw, expiry, consent gate, cascade, scope."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.support.offers import Scene, invariant_problems
from transitions.core.db import db
from transitions.core.models import AuditRecord
from transitions.matching import engine as matching
from transitions.matching import facts
from transitions.notify.models import Event
from transitions.offers import batch as offers_batch
from transitions.offers import service as offers_service


@pytest.fixture
def scene(api, world, app, clock):
    return Scene(api, world, app, clock)


def sweep(app, clock):
    with app.app_context():
        result = offers_service.expire_due_offers(clock.now)
        db.session.commit()
        db.session.remove()
    return result


def events_of(app, type_):
    with app.app_context():
        rows = db.session.scalars(select(Event).where(Event.type == type_).order_by(Event.seq)).all()
        out = [(e.referral_id, e.subject_id, dict(e.data)) for e in rows]
        db.session.remove()
    return out


# ---------------------------------------------------------------- create


def test_offer_holds_a_seat_and_marks_the_referral_offered(api, world, scene, app):
    track = scene.track(capacity=2)
    referral = scene.referral()
    response = scene.offer(referral, track)
    assert response.status_code == 201, response.json
    body = response.json
    assert response.headers["Location"].endswith("/api/v1/offers/%s" % body["id"])
    assert body["status"] == "pending" and body["referral_id"] == referral["id"]
    assert body["track_id"] == track["id"] and body["program_id"] == track["program_id"]
    assert body["expires_at"] == "2026-12-03T15:00:00Z" and body["created_at"] == "2026-12-01T15:00:00Z"
    assert body["placement_id"] is None and body["referral"]["status"] == "offered"
    assert scene.seats(track) == {"capacity": 2, "occupied": 0, "held": 1, "open": 1}
    assert scene.get_referral(referral)["status"] == "offered"
    assert scene.timeline_types(referral)[-2:] == ["referral.offered", "offer.created"]
    created = events_of(app, "offer.created")[0][2]
    assert set(created) == {"offer_id", "referral_id", "track_id", "program_id", "expires_at"}
    assert invariant_problems(app) == []


def test_offer_ttl_is_configurable(api, world, scene, app):
    app.config["OFFER_TTL_HOURS"] = 6
    body = scene.offered(scene.referral(), scene.track())
    assert body["expires_at"] == "2026-12-01T21:00:00Z"


def test_no_open_seat_is_409_and_changes_nothing(api, world, scene, app):
    track = scene.track(capacity=1)
    scene.offered(scene.referral(), track)
    late = scene.referral()
    response = scene.offer(late, track)
    assert response.status_code == 409, response.json
    assert response.json["detail"] == "No open seat on this track."
    assert scene.seats(track)["held"] == 1
    assert scene.get_referral(late)["status"] == "submitted"


def test_a_track_failing_the_rules_is_422_naming_them(api, world, scene):
    program = scene.program(payers=["someone-else"], self_pay=False)
    morning = scene.track(
        program, sessions=[{"day": d, "start": "09:00", "end": "12:00"} for d in ("mon", "tue", "thu")]
    )
    response = scene.offer(scene.referral(), morning)
    assert response.status_code == 422, response.json
    assert response.json["failed"] == ["payer", "schedule"]
    assert "payer" in response.json["detail"] and "schedule" in response.json["detail"]
    assert any("coverage" in message for message in response.json["errors"]["track_id"])
    assert scene.seats(morning)["held"] == 0


def test_an_inactive_track_is_422(api, world, scene):
    track = scene.track()
    api.patch("/api/v1/tracks/%s" % track["id"], {"active": False}, token=world.tokens["coordinator"])
    response = scene.offer(scene.referral(), track)
    assert response.status_code == 422 and response.json["failed"] == ["inactive"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "track_id"),
        ({"track_id": ""}, "track_id"),
        ({"track_id": "no-such-track"}, "track_id"),
        ({"track_id": 7}, "track_id"),
        ({"track_id": "x", "surprise": 1}, "surprise"),
    ],
)
def test_bad_offer_bodies_are_422(api, world, scene, body, field):
    referral = scene.referral()
    response = api.post("/api/v1/referrals/%s/offers" % referral["id"], body, token=world.tokens["planner"])
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]


def test_malformed_json_is_400(api, world, scene):
    referral = scene.referral()
    response = api.post(
        "/api/v1/referrals/%s/offers" % referral["id"],
        data="{nope",
        content_type="application/json",
        headers={"Authorization": "Bearer " + world.tokens["planner"]},
    )
    assert response.status_code == 400


def test_who_may_make_an_offer(api, world, scene):
    track = scene.track()
    referral = scene.referral()
    assert scene.offer(referral, track, who="coordinator").status_code == 403
    assert scene.offer(referral, track, who="manager").status_code == 403
    assert scene.offer(referral, track, who="planner2").status_code == 404
    assert scene.offer("no-such-referral", track).status_code == 404
    assert api.post("/api/v1/referrals/%s/offers" % referral["id"], {"track_id": track["id"]}).status_code == 401
    assert scene.offer(referral, track, who="admin").status_code == 201


def test_up_to_the_limit_of_parallel_offers_to_different_programs(api, world, scene, app):
    tracks = [scene.track(scene.program(name="Program %d" % i)) for i in range(4)]
    referral = scene.referral()
    offers = [scene.offered(referral, track) for track in tracks[:3]]
    over = scene.offer(referral, tracks[3])
    assert over.status_code == 409 and len(over.json["pending_offers"]) == 3
    sibling = scene.track({"id": tracks[0]["program_id"]}, name="Sibling track")
    assert scene.withdraw(offers[2]).status_code == 200
    same_program = scene.offer(referral, sibling)
    assert same_program.status_code == 409 and "this program" in same_program.json["detail"]
    assert invariant_problems(app) == []


def test_offers_only_from_a_state_that_allows_them(api, world, scene):
    referral = scene.referral()
    api.post("/api/v1/referrals/%s/cancel" % referral["id"], {}, token=world.tokens["planner"])
    response = scene.offer(referral, scene.track())
    assert response.status_code == 409
    assert response.json["current_status"] == "cancelled" and "cancelled" in response.json["detail"]


def test_idempotent_offer_replays_without_a_second_hold(api, world, scene):
    track = scene.track()
    referral = scene.referral()
    first = scene.offer(referral, track, headers={"Idempotency-Key": "offer-1"})
    again = scene.offer(referral, track, headers={"Idempotency-Key": "offer-1"})
    assert first.status_code == again.status_code == 201
    assert again.json["id"] == first.json["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert scene.seats(track)["held"] == 1


# ---------------------------------------------------------------- accept


def test_accept_places_and_withdraws_the_other_offers(api, world, scene, app):
    mine = scene.track(capacity=1)
    theirs = scene.track(scene.program(who="coordinator2", name="Other"), who="coordinator2")
    referral = scene.referral()
    first = scene.offered(referral, mine)
    second = scene.offered(referral, theirs)
    response = scene.accept(first, "2026-12-03")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "accepted" and body["intake_date"] == "2026-12-03" and body["placement_id"]
    assert body["decided_by"] == world.users["coordinator"]
    assert scene.seats(mine) == {"capacity": 1, "occupied": 1, "held": 0, "open": 0}
    assert scene.seats(theirs)["held"] == 0
    assert scene.offer_now(second)["status"] == "withdrawn"
    assert scene.get_referral(referral)["status"] == "placed"
    placement = api.get("/api/v1/placements/%s" % body["placement_id"], token=world.tokens["coordinator"]).json
    assert placement["offer_id"] == first["id"] and placement["intake_date"] == "2026-12-03"
    assert placement["status"] == "active" and placement["referral_status"] == "placed"
    assert scene.timeline_types(referral)[-3:] == ["offer.accepted", "offer.withdrawn", "referral.placed"]
    withdrawn = [data for _, subject, data in events_of(app, "offer.withdrawn") if subject == second["id"]]
    assert withdrawn[0]["reason"] == "accepted_elsewhere"
    assert invariant_problems(app) == []


@pytest.mark.parametrize(
    "intake, message",
    [
        ("2026-12-04", "this track takes new patients on"),  # a Friday
        ("2026-12-02", "before the discharge date"),  # Wednesday, but before discharge
        ("2027-06-03", "within 90 days"),
    ],
)
def test_accept_with_a_bad_intake_date_is_422(api, world, scene, intake, message):
    offer = scene.offered(scene.referral(), scene.track())
    response = scene.accept(offer, intake)
    assert response.status_code == 422, response.json
    assert any(message in m for m in response.json["errors"]["intake_date"])
    assert scene.offer_now(offer)["status"] == "pending"


def test_intake_cannot_be_in_the_past_in_the_tracks_time_zone(api, world, scene, clock):
    referral = scene.referral(discharge_date="2026-11-25")
    offer = scene.offered(referral, scene.track())
    response = scene.accept(offer, "2026-11-30")  # a Monday, after discharge, but yesterday
    assert response.status_code == 422 and "in the past" in response.json["errors"]["intake_date"][0]
    assert scene.accept(offer, "2026-12-02").status_code == 200


def test_accept_body_validation(api, world, scene):
    offer = scene.offered(scene.referral(), scene.track())
    for body in ({}, {"intake_date": "soon"}, {"intake_date": "2026-12-03", "extra": True}):
        response = api.post("/api/v1/offers/%s/accept" % offer["id"], body, token=world.tokens["coordinator"])
        assert response.status_code == 422, body


def test_who_may_accept(api, world, scene):
    offer = scene.offered(scene.referral(), scene.track())
    assert scene.accept(offer, "2026-12-03", who="coordinator2").status_code == 404
    assert scene.accept(offer, "2026-12-03", who="planner").status_code == 403
    assert scene.accept(offer, "2026-12-03", who="manager").status_code == 403
    assert scene.accept("no-such-offer", "2026-12-03").status_code == 404
    assert scene.offer_now(offer)["status"] == "pending"
    assert scene.accept(offer, "2026-12-03", who="admin").status_code == 200


def test_accepting_twice_or_after_a_decision_is_409(api, world, scene):
    referral = scene.referral()
    offer = scene.offered(referral, scene.track())
    assert scene.accept(offer, "2026-12-03").status_code == 200
    again = scene.accept(offer, "2026-12-03")
    assert again.status_code == 409 and again.json["offer_status"] == "accepted"
    declined = scene.offered(scene.referral(), scene.track())
    scene.decline(declined)
    assert scene.accept(declined, "2026-12-03").status_code == 409
    assert scene.decline(offer).status_code == 409
    assert scene.withdraw(offer).status_code == 409


def test_a_placed_referral_cannot_be_offered_again(api, world, scene):
    referral = scene.referral()
    scene.placed(referral, scene.track())
    response = scene.offer(referral, scene.track(scene.program(name="Another")))
    assert response.status_code == 409 and response.json["current_status"] == "placed"


# ---------------------------------------------------------------- decline and withdraw


def test_decline_frees_the_seat_and_requeues_the_referral(api, world, scene, app):
    track = scene.track(capacity=1)
    referral = scene.referral()
    offer = scene.offered(referral, track)
    response = scene.decline(offer, "schedule", note="Evening group is full until January.")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "declined" and response.json["decline_reason"] == "schedule"
    assert response.json["decline_note"] == "Evening group is full until January."
    assert scene.seats(track)["held"] == 0
    assert scene.get_referral(referral)["status"] == "submitted"
    assert scene.timeline_types(referral)[-2:] == ["offer.declined", "referral.requeued"]
    declined = events_of(app, "offer.declined")[0][2]
    assert declined["reason"] == "schedule" and "note" not in declined  # free text stays out of events
    assert scene.offer(referral, track).status_code == 201


def test_decline_with_other_offers_pending_keeps_the_referral_offered(api, world, scene):
    referral = scene.referral()
    first = scene.offered(referral, scene.track())
    scene.offered(referral, scene.track(scene.program(name="Second")))
    scene.decline(first)
    assert scene.get_referral(referral)["status"] == "offered"


@pytest.mark.parametrize(
    "body", [{}, {"reason": "bored"}, {"reason": "other", "note": "x" * 2001}, {"reason": "other", "color": "red"}]
)
def test_decline_body_validation(api, world, scene, body):
    offer = scene.offered(scene.referral(), scene.track())
    response = api.post("/api/v1/offers/%s/decline" % offer["id"], body, token=world.tokens["coordinator"])
    assert response.status_code == 422


def test_who_may_decline(api, world, scene):
    offer = scene.offered(scene.referral(), scene.track())
    assert scene.decline(offer, who="coordinator2").status_code == 404
    assert scene.decline(offer, who="planner").status_code == 403
    assert scene.offer_now(offer)["status"] == "pending"


def test_withdraw_frees_the_seat(api, world, scene, app):
    track = scene.track()
    referral = scene.referral()
    offer = scene.offered(referral, track)
    assert scene.withdraw(offer, who="planner2").status_code == 404
    assert scene.withdraw(offer, who="coordinator").status_code == 403
    assert scene.withdraw(offer, who="manager").status_code == 403
    response = scene.withdraw(offer)
    assert response.status_code == 200 and response.json["status"] == "withdrawn"
    assert scene.seats(track)["held"] == 0
    assert scene.get_referral(referral)["status"] == "submitted"
    assert scene.withdraw(offer).status_code == 409
    assert (
        api.post("/api/v1/offers/%s/withdraw" % offer["id"], {"why": "x"}, token=world.tokens["planner"]).status_code
        == 422
    )


def test_cancelling_a_referral_frees_its_held_seats(api, world, scene, app):
    track = scene.track()
    referral = scene.referral()
    offer = scene.offered(referral, track)
    api.post("/api/v1/referrals/%s/cancel" % referral["id"], {}, token=world.tokens["planner"])
    assert scene.seats(track)["held"] == 0
    assert scene.offer_now(offer)["status"] == "withdrawn"
    assert invariant_problems(app) == []


# ---------------------------------------------------------------- expiry


def test_an_offer_past_its_time_is_expired_everywhere_without_a_sweep(api, world, scene, app, clock):
    track = scene.track(capacity=1)
    referral = scene.referral()
    offer = scene.offered(referral, track)
    clock.now += timedelta(hours=47, minutes=59)
    assert scene.offer_now(offer)["status"] == "pending"
    clock.now += timedelta(minutes=1)
    assert scene.offer_now(offer)["status"] == "expired"
    assert scene.offer_now(offer, who="coordinator")["status"] == "expired"
    inbox = api.get("/api/v1/offers?status=pending", token=world.tokens["coordinator"]).json["items"]
    assert inbox == []
    expired = api.get("/api/v1/offers?status=expired", token=world.tokens["coordinator"]).json["items"]
    assert [o["id"] for o in expired] == [offer["id"]]
    late = scene.accept(offer, "2026-12-03")
    assert late.status_code == 409 and late.json["offer_status"] == "expired"
    assert scene.decline(offer).status_code == 409
    assert scene.withdraw(offer).status_code == 409
    # The seat is free for someone else, straight away.
    other = scene.referral()
    taken = scene.offer(other, track)
    assert taken.status_code == 201, taken.json
    assert scene.seats(track) == {"capacity": 1, "occupied": 0, "held": 1, "open": 0}
    assert [data["offer_id"] for _, _, data in events_of(app, "offer.expired")] == [offer["id"]]
    assert invariant_problems(app) == []
    # The first referral is settled by the sweep (or by its own next change).
    assert scene.get_referral(referral)["status"] == "offered"
    result = sweep(app, clock)
    assert result.expired == [] and result.requeued == [referral["id"]]
    assert scene.get_referral(referral)["status"] == "submitted"


def test_the_sweep_makes_expiry_durable(api, world, scene, app, clock):
    track = scene.track()
    referral = scene.referral()
    offer = scene.offered(referral, track)
    assert sweep(app, clock).expired == []
    clock.now += timedelta(hours=49)
    result = sweep(app, clock)
    assert result.expired == [offer["id"]] and result.requeued == [referral["id"]]
    assert str(result) == "expired 1 offers, cascaded 0, requeued 1 referrals"
    assert scene.seats(track)["held"] == 0
    assert scene.get_referral(referral)["status"] == "submitted"
    assert scene.timeline_types(referral)[-2:] == ["offer.expired", "referral.requeued"]
    assert sweep(app, clock).expired == []  # a second pass finds nothing
    assert invariant_problems(app) == []


def test_a_referrals_own_due_offer_is_expired_before_it_gets_a_new_one(api, world, scene, app, clock):
    first_track = scene.track()
    referral = scene.referral()
    first = scene.offered(referral, first_track)
    clock.now += timedelta(hours=49)
    second = scene.offered(referral, scene.track({"id": first_track["program_id"]}, name="Same program"))
    assert scene.offer_now(first)["status"] == "expired"
    assert scene.seats(first_track)["held"] == 0
    assert second["status"] == "pending"
    assert invariant_problems(app) == []


# ---------------------------------------------------------------- Part 2 consent


def test_substance_use_without_current_consent_cannot_be_offered(api, world, scene, clock):
    track = scene.track()
    unsigned = scene.sud_referral(part2_consent=None)
    response = scene.offer(unsigned, track)
    assert response.status_code == 409 and response.json["rule"] == "part2_consent"
    lapsed = scene.sud_referral(part2_consent={"signed_on": "2026-01-05", "expires_on": "2026-11-30"})
    assert scene.offer(lapsed, track).status_code == 409
    assert scene.offer(scene.sud_referral(), track).status_code == 201
    assert scene.seats(track)["held"] == 1


def test_revoking_consent_withdraws_pending_offers(api, world, scene, app):
    tracks = [scene.track(), scene.track(scene.program(name="Second"))]
    referral = scene.sud_referral()
    offers = [scene.offered(referral, t) for t in tracks]
    assert offers[0]["part2_notice"] is None  # the planner is inside the referring org
    assert "42 CFR part 2" in scene.offer_now(offers[0], who="coordinator")["part2_notice"]
    assert (
        api.post(
            "/api/v1/referrals/%s/consent/revoke" % referral["id"], {}, token=world.tokens["coordinator"]
        ).status_code
        == 403
    )
    assert (
        api.post("/api/v1/referrals/%s/consent/revoke" % referral["id"], {}, token=world.tokens["planner2"]).status_code
        == 404
    )
    response = api.post("/api/v1/referrals/%s/consent/revoke" % referral["id"], token=world.tokens["planner"])
    assert response.status_code == 200, response.json
    assert response.json["status"] == "submitted"
    assert response.json["part2_consent"]["revoked_at"] == "2026-12-01T15:00:00Z"
    assert response.json["part2_consent"]["current"] is False
    assert [scene.offer_now(o)["status"] for o in offers] == ["withdrawn", "withdrawn"]
    assert [scene.seats(t)["held"] for t in tracks] == [0, 0]
    assert scene.offer(referral, tracks[0]).status_code == 409
    again = api.post("/api/v1/referrals/%s/consent/revoke" % referral["id"], {}, token=world.tokens["planner"])
    assert again.status_code == 200
    reasons = {data["reason"] for _, _, data in events_of(app, "offer.withdrawn")}
    assert reasons == {"consent_revoked"}
    assert "referral.consent_revoked" in scene.timeline_types(referral)


def test_revoking_without_a_consent_is_409(api, world, scene):
    referral = scene.referral()
    response = api.post("/api/v1/referrals/%s/consent/revoke" % referral["id"], {}, token=world.tokens["planner"])
    assert response.status_code == 409


def test_consent_revoked_before_accept_blocks_the_placement(api, world, scene, app):
    referral = scene.sud_referral()
    offer = scene.offered(referral, scene.track())
    with app.app_context():
        from transitions.referrals.models import Referral

        row = db.session.get(Referral, referral["id"])
        row.consent_expires_on = row.consent_signed_on  # expired yesterday, as of the clock
        db.session.commit()
        db.session.remove()
    response = scene.accept(offer, "2026-12-03")
    assert response.status_code == 409 and response.json["rule"] == "part2_consent"


# ---------------------------------------------------------------- auto-cascade


def cascade_world(scene):
    """Two programs the referral fits, the nearer one ranked first."""
    near = scene.track(scene.program(name="Near", zip="60614"))
    far = scene.track(scene.program(name="Far", zip="60601"))
    return near, far


def test_decline_cascades_to_the_next_best_match(api, world, scene, app):
    near, far = cascade_world(scene)
    referral = scene.referral(auto_cascade=True)
    first = scene.offered(referral, near)
    scene.decline(first, "at_capacity")
    offers = api.get(
        "/api/v1/offers?referral_id=%s&status=pending" % referral["id"], token=world.tokens["planner"]
    ).json["items"]
    assert [o["track_id"] for o in offers] == [far["id"]]
    assert offers[0]["created_by"] is None
    assert scene.get_referral(referral)["status"] == "offered"
    created = [data for _, _, data in events_of(app, "offer.created") if data.get("cascade")]
    assert created == [{**created[0], "after_offer_id": first["id"], "track_id": far["id"]}]
    # Nothing left to cascade to: the referral goes back to submitted.
    scene.decline(offers[0], "payer")
    assert scene.get_referral(referral)["status"] == "submitted"
    assert invariant_problems(app) == []


def test_expiry_cascades_through_the_sweep(api, world, scene, app, clock):
    near, far = cascade_world(scene)
    referral = scene.referral(auto_cascade=True)
    first = scene.offered(referral, near)
    clock.now += timedelta(hours=49)
    result = sweep(app, clock)
    assert result.expired == [first["id"]] and len(result.cascaded) == 1 and result.requeued == []
    assert scene.offer_now(result.cascaded[0])["track_id"] == far["id"]
    assert scene.seats(near)["held"] == 0 and scene.seats(far)["held"] == 1


def test_cascade_uses_the_ranking_and_skips_full_tracks(api, world, scene, app, monkeypatch):
    near, far = cascade_world(scene)
    full = scene.track(scene.program(name="Full"), capacity=1)
    scene.offered(scene.referral(), full)
    referral = scene.referral(auto_cascade=True)
    first = scene.offered(referral, near)

    def ranked(track_id):
        return facts.Evaluation(ok=True, track=SimpleNamespace(track_id=track_id))

    monkeypatch.setattr(
        matching,
        "ranked_matches",
        lambda referral, limit, as_of: matching.MatchResult(
            items=[ranked(near["id"]), ranked(full["id"]), ranked(far["id"])], excluded={}, near_misses=[]
        ),
    )
    scene.decline(first)
    pending = api.get(
        "/api/v1/offers?referral_id=%s&status=pending" % referral["id"], token=world.tokens["planner"]
    ).json["items"]
    assert [o["track_id"] for o in pending] == [far["id"]]


def test_without_a_ranking_the_referral_is_requeued(api, world, scene, monkeypatch):
    near, far = cascade_world(scene)

    def ranking_fails(referral, limit, as_of):
        raise RuntimeError("the ranking is unavailable")

    monkeypatch.setattr(matching, "ranked_matches", ranking_fails)
    referral = scene.referral(auto_cascade=True)
    scene.decline(scene.offered(referral, near))
    assert scene.get_referral(referral)["status"] == "submitted"


def test_withdrawal_never_cascades(api, world, scene):
    near, far = cascade_world(scene)
    referral = scene.referral(auto_cascade=True)
    scene.withdraw(scene.offered(referral, near))
    assert scene.get_referral(referral)["status"] == "submitted"
    assert scene.seats(far)["held"] == 0


# ---------------------------------------------------------------- reading offers


def test_each_side_reads_and_lists_only_its_offers(api, world, scene):
    mine = scene.track()
    theirs = scene.track(scene.program(who="coordinator2", name="Theirs"), who="coordinator2")
    ours = scene.referral(share_notes=False)
    other_org = scene.referral(who="planner2")
    to_mine = scene.offered(ours, mine)
    to_theirs = scene.offered(ours, theirs)
    from_elsewhere = scene.offered(other_org, mine, who="planner2")

    def listed(who, query=""):
        response = api.get("/api/v1/offers" + query, token=world.tokens[who])
        assert response.status_code == 200, response.json
        return {o["id"] for o in response.json["items"]}

    assert listed("coordinator", "?status=pending") == {to_mine["id"], from_elsewhere["id"]}
    assert listed("coordinator2") == {to_theirs["id"]}
    assert listed("planner") == {to_mine["id"], to_theirs["id"]}
    assert listed("planner2") == {from_elsewhere["id"]}
    assert listed("admin") == {to_mine["id"], to_theirs["id"], from_elsewhere["id"]}
    assert listed("planner", "?program_id=%s" % theirs["program_id"]) == {to_theirs["id"]}
    assert listed("coordinator", "?status=accepted") == set()
    assert api.get("/api/v1/offers", token=world.tokens["manager"]).status_code == 403
    assert api.get("/api/v1/offers?stauts=pending", token=world.tokens["coordinator"]).status_code == 422
    assert api.get("/api/v1/offers?status=maybe", token=world.tokens["coordinator"]).status_code == 422
    assert scene.get_offer(to_theirs, who="coordinator").status_code == 404
    assert scene.get_offer(from_elsewhere, who="planner").status_code == 404
    assert scene.get_offer(to_mine, who="manager").status_code == 403
    assert scene.get_offer("nope", who="planner").status_code == 404


def test_coordinators_see_the_minimum_necessary_referral(api, world, scene):
    offer = scene.offered(scene.referral(), scene.track())
    seen = scene.get_offer(offer, who="coordinator").json["referral"]
    assert "member_id" not in seen["coverage"] and seen["notes"] is None
    assert "organization_id" not in seen
    inbox = api.get("/api/v1/offers?status=pending", token=world.tokens["coordinator"]).json["items"]
    assert "member_id" not in inbox[0]["referral"]["coverage"]
    full = scene.get_offer(offer, who="planner").json["referral"]
    assert full["coverage"]["member_id"] == "ACM123456" and full["notes"]


def test_offer_lists_page_with_cursors(api, world, scene):
    referrals = [scene.referral() for _ in range(3)]
    track = scene.track()
    for referral in referrals:
        scene.offered(referral, track)
    first = api.get("/api/v1/offers?limit=2", token=world.tokens["coordinator"]).json
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = api.get("/api/v1/offers?limit=2&cursor=%s" % first["next_cursor"], token=world.tokens["coordinator"]).json
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert api.get("/api/v1/offers?cursor=garbage", token=world.tokens["coordinator"]).status_code == 400


def test_offer_reads_and_writes_are_audited(api, world, scene, app):
    offer = scene.offered(scene.referral(), scene.track())
    scene.get_offer(offer, who="coordinator")
    scene.get_offer(offer, who="coordinator2")
    with app.app_context():
        rows = db.session.scalars(select(AuditRecord).where(AuditRecord.object_id == offer["id"])).all()
        seen = {(r.action, r.user_id, r.outcome) for r in rows}
        db.session.remove()
    assert ("offer.create", world.users["planner"], "allowed") in seen
    assert ("offer.read", world.users["coordinator"], "allowed") in seen
    assert ("offer.read", world.users["coordinator2"], "denied") in seen


def test_capacity_cannot_drop_below_held_seats(api, world, scene):
    track = scene.track(capacity=3)
    scene.offered(scene.referral(), track)
    scene.offered(scene.referral(), track)
    response = api.patch("/api/v1/tracks/%s" % track["id"], {"capacity": 1}, token=world.tokens["coordinator"])
    assert response.status_code == 409
    assert (
        api.patch("/api/v1/tracks/%s" % track["id"], {"capacity": 2}, token=world.tokens["coordinator"]).status_code
        == 200
    )
    assert scene.offer(scene.referral(), track).status_code == 409


def test_nul_characters_are_refused_not_crashed_on(api, world, scene):
    """PostgreSQL text cannot hold NUL: the API refuses it up front (400), never a database error."""
    track = scene.track()
    referral = scene.referral()
    offer = scene.offered(referral, track)
    planner, coordinator = world.tokens["planner"], world.tokens["coordinator"]
    responses = [
        api.post("/api/v1/referrals/%s/offers" % referral["id"], {"track_id": "a\u0000b"}, token=planner),
        api.post("/api/v1/offers/%s/decline" % offer["id"], {"reason": "other", "note": "a\u0000b"}, token=coordinator),
        api.get("/api/v1/offers/a%00b", token=planner),
        api.get("/api/v1/placements/a%00b", token=planner),
        api.get("/api/v1/offers?referral_id=a%00b", token=planner),
        api.get("/api/v1/placements?program_id=a%00b", token=planner),
        api.post("/api/v1/referrals/a%00b/offers", {"track_id": track["id"]}, token=planner),
        api.post("/api/v1/referrals/a%00b/readmission", {"date": "2026-12-01"}, token=planner),
        api.post(
            "/api/v1/referrals/%s/readmission" % referral["id"],
            {"date": "2026-12-05", "facility": "x\u0000"},
            token=planner,
        ),
    ]
    assert [r.status_code for r in responses] == [400] * len(responses)
    assert all(r.json["detail"] == "NUL characters are not allowed." for r in responses)
    assert scene.offer_now(offer)["status"] == "pending"


# ---------------------------------------------------------------- the system's own withdrawals


def test_offers_withdrawn_because_another_was_accepted_are_credited_to_the_system(api, world, scene):
    mine = scene.track(capacity=1)
    theirs = scene.track(scene.program(who="coordinator2", name="Other"), who="coordinator2")
    referral = scene.referral()
    first = scene.offered(referral, mine)
    second = scene.offered(referral, theirs)
    assert scene.accept(first, scene.intake_date(referral, mine)).status_code == 200
    timeline = {event["type"]: event for event in scene.timeline(referral)}
    accepted, withdrawn = timeline["offer.accepted"], timeline["offer.withdrawn"]
    assert accepted["actor_user_id"] == world.users["coordinator"]
    assert withdrawn["subject_id"] == second["id"] and withdrawn["data"]["reason"] == "accepted_elsewhere"
    assert (withdrawn["actor_user_id"], withdrawn["actor_organization_id"]) == (None, None)
    assert scene.offer_now(second)["decided_by"] is None
    assert scene.offer_now(first)["decided_by"] == world.users["coordinator"]


# ---------------------------------------------------------------- many offers at once (an applied allocation)


def batch(app, who_id, pairs, now):
    """create_offers for [(referral, track)] as the user with id who_id, committed: (offer ids, refusals)."""
    with app.app_context():
        from transitions.directory.models import Track
        from transitions.identity.models import User

        actor = db.session.get(User, who_id)
        loaded = [(r["id"], db.session.get(Track, t["id"])) for r, t in pairs]
        result = offers_batch.create_offers(actor, loaded, now)
        db.session.commit()
        db.session.remove()
    return result


def test_a_batch_offers_as_one_by_one_would_and_never_oversells(app, world, scene, clock):
    track = scene.track(capacity=2)
    referrals = [scene.referral() for _ in range(3)]
    offered, refused = batch(app, world.users["manager"], [(r, track) for r in referrals], clock.now)
    assert list(offered) == [r["id"] for r in referrals[:2]]
    assert refused == {referrals[2]["id"]: "No open seat on this track."}
    assert scene.seats(track) == {"capacity": 2, "occupied": 0, "held": 2, "open": 0}
    for referral in referrals[:2]:
        assert scene.get_referral(referral)["status"] == "offered"
        timeline = scene.timeline(referral)
        assert [e["type"] for e in timeline][-2:] == ["referral.offered", "offer.created"]
        assert {e["actor_user_id"] for e in timeline[-2:]} == {world.users["manager"]}
        assert timeline[-1]["data"] == {
            "offer_id": offered[referral["id"]],
            "referral_id": referral["id"],
            "track_id": track["id"],
            "program_id": track["program_id"],
            "expires_at": "2026-12-03T15:00:00Z",
        }
        offer = scene.offer_now({"id": offered[referral["id"]]})
        assert offer["status"] == "pending" and offer["created_by"] == world.users["manager"]
    assert scene.get_referral(referrals[2])["status"] == "submitted"
    assert "offer.created" not in scene.timeline_types(referrals[2])
    assert invariant_problems(app) == []


def test_a_batch_frees_due_holds_and_refuses_what_a_single_offer_refuses(app, world, scene, clock):
    track = scene.track(capacity=1)
    stale = scene.offered(scene.referral(), track)
    clock.now += timedelta(hours=49)  # the stale hold is due; nothing has swept it
    other = scene.track(scene.program(name="Second"))
    already = scene.referral()
    scene.offered(already, other)
    unconsented = scene.referral(need="co_occurring", diagnoses=["F33.1", "F10.20"])
    fresh = scene.referral()
    pairs = [(fresh, track), (already, other), (unconsented, other)]
    offered, refused = batch(app, world.users["manager"], pairs, clock.now)
    assert list(offered) == [fresh["id"]]
    assert refused[already["id"]] == "This referral already has a pending offer to this program."
    assert "Part 2 consent" in refused[unconsented["id"]]
    assert scene.offer_now(stale)["status"] == "expired"
    assert scene.seats(track) == {"capacity": 1, "occupied": 0, "held": 1, "open": 0}
    expired = [(rid, subject) for rid, subject, _ in events_of(app, "offer.expired")]
    assert expired == [(stale["referral_id"], stale["id"])]
    assert invariant_problems(app) == []


def test_an_applied_allocation_audits_each_offer_it_makes(api, world, scene, app):
    track = scene.track(capacity=2)
    for _ in range(2):
        scene.referral()
    applied = api.post("/api/v1/allocations", {"apply": True}, token=world.tokens["manager"])
    assert applied.status_code == 200, applied.json
    offer_ids = {a["offer_id"] for a in applied.json["assignments"]}
    assert len(offer_ids) == 2 and None not in offer_ids
    with app.app_context():
        audited = db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "offer.create", AuditRecord.object_id.in_(offer_ids))
        ).all()
        assert {row.object_id for row in audited} == offer_ids
        assert {row.user_id for row in audited} == {world.users["manager"]}
        db.session.remove()
    assert scene.seats(track)["held"] == 2
