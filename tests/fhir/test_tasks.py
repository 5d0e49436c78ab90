"""The referral's Task and each offer's child Task follow the referral through the JSON API's workflow, and an IOP
coordinator decides its offer through FHIR exactly as through the API."""

from datetime import timedelta

RELEASED_FIELDS = ("status", "statusReason", "executionPeriod")


def task(fhir, task_id, who="planner"):
    response = fhir.get("/Task/%s" % task_id, who=who)
    assert response.status_code == 200, response.json
    return response.json


def statuses(fhir, referral, offer, who="planner"):
    return task(fhir, referral["id"], who)["status"], task(fhir, offer["id"], who)["status"]


def test_offer_accept_attendance_and_discharge(fhir, scene, api, world, clock):
    track = scene.track()
    referral = scene.referral()
    offer = scene.offered(referral, track)
    child = task(fhir, offer["id"], "coordinator")
    assert child["status"] == "requested" and child["partOf"] == [{"reference": "Task/%s" % referral["id"]}]
    assert child["owner"] == {"reference": "Organization/%s" % world.orgs["provider"]}
    assert child["input"][0]["valueReference"] == {"reference": "HealthcareService/%s" % track["id"]}
    assert task(fhir, referral["id"])["status"] == "requested"
    intake = scene.intake_date(referral, track)
    accepted = fhir.patch(
        "/Task/%s" % offer["id"],
        [
            {"op": "replace", "path": "/status", "value": "accepted"},
            {"op": "add", "path": "/executionPeriod", "value": {"start": intake}},
        ],
        who="coordinator",
    )
    assert accepted.status_code == 200, accepted.json
    assert (accepted.json["status"], accepted.json["executionPeriod"]) == ("accepted", {"start": intake})
    assert scene.offer_now(offer)["status"] == "accepted"  # the API sees the same acceptance
    referral_task = task(fhir, referral["id"])
    assert (referral_task["status"], referral_task["businessStatus"]["coding"][0]["code"]) == ("accepted", "placed")
    placement_id = scene.offer_now(offer)["placement_id"]
    token = world.tokens["coordinator"]
    clock.set(intake + "T23:59:00Z")  # the evening session is over in Chicago
    assert (
        api.post(
            "/api/v1/placements/%s/attendance" % placement_id, {"date": intake, "status": "attended"}, token=token
        ).status_code
        == 201
    )
    assert task(fhir, referral["id"])["status"] == "in-progress"
    assert (
        api.post("/api/v1/placements/%s/discharge" % placement_id, {"outcome": "completed"}, token=token).status_code
        == 200
    )
    assert statuses(fhir, referral, offer) == ("completed", "accepted")


def test_decline_by_put_withdraw_expiry_and_cancel(fhir, scene, clock, world):
    tracks = [scene.track(scene.program(name="P%d" % i)) for i in range(3)]
    referral = scene.referral()
    declined, withdrawn, expiring = (scene.offered(referral, t) for t in tracks)
    body = task(fhir, declined["id"], "coordinator")
    body["status"] = "rejected"
    body["statusReason"] = {"coding": [{"code": "schedule"}], "text": "Evening groups are full until January."}
    put = fhir.put("/Task/%s" % declined["id"], body, who="coordinator")
    assert put.status_code == 200, put.json
    assert put.json["statusReason"]["coding"][0]["code"] == "schedule"
    assert scene.offer_now(declined)["decline_note"] == "Evening groups are full until January."
    assert scene.withdraw(withdrawn).status_code == 200
    assert task(fhir, withdrawn["id"])["status"] == "cancelled"
    clock.now = clock.now + timedelta(hours=49)
    assert task(fhir, expiring["id"])["status"] == "failed"
    assert task(fhir, referral["id"])["status"] == "requested"
    other = scene.referral()
    pending = scene.offered(other, tracks[0])
    cancel = scene.api.post(
        "/api/v1/referrals/%s/cancel" % other["id"], {"reason": "moved"}, token=world.tokens["planner"]
    )
    assert cancel.status_code == 200
    assert statuses(fhir, other, pending) == ("cancelled", "cancelled")


def test_a_coordinator_changes_nothing_but_its_decision(fhir, scene):
    offer = scene.offered(scene.referral(), scene.track())
    path = "/Task/%s" % offer["id"]
    owner = fhir.patch(
        path, [{"op": "replace", "path": "/owner/reference", "value": "Organization/x"}], who="coordinator"
    )
    assert owner.status_code == 422 and owner.json["issue"][0]["expression"] == ["Task.owner"]
    completed = fhir.patch(path, [{"op": "replace", "path": "/status", "value": "completed"}], who="coordinator")
    assert completed.status_code == 422 and completed.json["issue"][0]["expression"] == ["Task.status"]
    no_date = fhir.patch(path, [{"op": "replace", "path": "/status", "value": "accepted"}], who="coordinator")
    assert no_date.status_code == 422 and no_date.json["issue"][0]["expression"] == ["Task.executionPeriod.start"]
    bad_reason = fhir.patch(
        path,
        [
            {"op": "replace", "path": "/status", "value": "rejected"},
            {"op": "add", "path": "/statusReason", "value": {"coding": [{"code": "bored"}]}},
        ],
        who="coordinator",
    )
    assert bad_reason.status_code == 422 and bad_reason.json["issue"][0]["expression"] == ["Task.statusReason"]
    not_a_patch = fhir.patch(path, {"status": "accepted"}, who="coordinator")
    assert not_a_patch.status_code == 422
    reject = [
        {"op": "replace", "path": "/status", "value": "rejected"},
        {"op": "add", "path": "/statusReason", "value": {"coding": [{"code": "other"}]}},
    ]
    assert fhir.patch(path, reject, who="planner").status_code == 403
    assert fhir.patch(path, reject, who="coordinator2").status_code == 404
    assert scene.offer_now(offer)["status"] == "pending"
    assert fhir.patch(path, reject, who="coordinator").status_code == 200
    assert scene.offer_now(offer)["status"] == "declined"


def test_task_search_by_focus_status_owner_and_last_updated_pages(fhir, scene, clock, world):
    track = scene.track(capacity=10)
    referrals = [scene.referral() for _ in range(3)]
    offers = [scene.offered(r, track) for r in referrals]
    focus = fhir.get("/Task?focus=ServiceRequest/%s" % referrals[0]["id"], who="planner").json
    assert focus["total"] == 2 and {e["resource"]["id"] for e in focus["entry"]} == {
        referrals[0]["id"],
        offers[0]["id"],
    }
    owned = fhir.get("/Task?owner=Organization/%s&status=requested" % world.orgs["provider"], who="coordinator").json
    assert {e["resource"]["id"] for e in owned["entry"]} == {o["id"] for o in offers}
    first = fhir.get("/Task?_count=2", who="planner").json
    assert first["total"] == 6 and len(first["entry"]) == 2
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    seen = [e["resource"]["id"] for e in first["entry"]]
    while next_url:
        page = fhir.client.get(next_url, headers={"Authorization": "Bearer %s" % world.tokens["planner"]}).json
        seen += [e["resource"]["id"] for e in page["entry"]]
        next_url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert sorted(seen) == sorted([r["id"] for r in referrals] + [o["id"] for o in offers])
    later = (clock.now + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert fhir.get("/Task?_lastUpdated=gt%s" % later, who="planner").json["total"] == 0
    assert fhir.get("/Task?stauts=requested", who="planner").status_code == 400
