from tests.support import payloads


def test_program_track_referral_round_trip(api, world):
    r = api.post("/api/v1/programs", payloads.program(), token=world.tokens["coordinator"])
    assert r.status_code == 201, r.json
    program_id = r.json["id"]
    r = api.post("/api/v1/programs/%s/tracks" % program_id, payloads.track(), token=world.tokens["coordinator"])
    assert r.status_code == 201, r.json
    assert r.json["hours_per_week"] == 9
    r = api.post("/api/v1/referrals", payloads.referral(), token=world.tokens["planner"])
    assert r.status_code == 201, r.json
    rid = r.json["id"]
    r = api.get("/api/v1/referrals/%s" % rid, token=world.tokens["manager"])
    assert r.status_code == 200, r.json
    r = api.get("/api/v1/referrals/%s" % rid, token=world.tokens["manager2"])
    assert r.status_code == 404, r.json
    r = api.get("/api/v1/referrals/%s/timeline" % rid, token=world.tokens["planner"])
    assert r.status_code == 200 and r.json["items"][0]["type"] == "referral.submitted", r.json
