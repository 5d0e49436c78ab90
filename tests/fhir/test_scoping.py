"""Every FHIR read and search against every role: what the JSON API shows, nothing more (0 leaks); the minimum
necessary for a provider; the Part 2 labels and notice on every resource that discloses a substance-use referral."""

import pytest

ROLES = ("admin", "planner", "planner2", "manager", "manager2", "coordinator", "coordinator2")
READS = ("ServiceRequest", "Patient", "Encounter", "Coverage", "Consent", "Task")
SEES_REFERRAL = {"admin", "planner", "manager", "coordinator"}
SEES_OFFER = {"admin", "planner", "coordinator"}
OUTSIDE_REFERRING_ORG = {"admin", "manager", "coordinator"}


@pytest.fixture
def setting(scene):
    track = scene.track()
    referral = scene.sud_referral()
    offer = scene.offered(referral, track)
    unseen = scene.referral(who="planner2", coverage={"self_pay": True})
    return referral, offer, unseen


@pytest.mark.parametrize("role", ROLES)
def test_every_read_and_search_respects_scope(fhir, setting, role):
    referral, offer, unseen = setting
    for kind in READS:
        response = fhir.get("/%s/%s" % (kind, referral["id"]), who=role)
        # A provider sees no consent, as through the API (the minimum necessary to decide on an offer).
        sees = role in SEES_REFERRAL and not (kind == "Consent" and role == "coordinator")
        assert response.status_code == (200 if sees else 404), (kind, response.json)
    child = fhir.get("/Task/%s" % offer["id"], who=role)
    assert child.status_code == (200 if role in SEES_OFFER else 404)
    if role != "admin":
        assert fhir.get("/Patient/%s" % unseen["id"], who=role).status_code == (200 if role == "planner2" else 404)
    allowed = set()
    if role in SEES_REFERRAL:
        allowed.add(referral["id"])
    if role in SEES_OFFER:
        allowed.add(offer["id"])
    if role in ("admin", "planner2"):
        allowed.add(unseen["id"])
    for query in (
        "",
        "?status=requested",
        "?focus=ServiceRequest/%s" % referral["id"],
        "?part-of=Task/%s" % referral["id"],
    ):
        found = fhir.get("/Task" + query, who=role).json
        ids = {entry["resource"]["id"] for entry in found["entry"]}
        assert ids <= allowed, (query, ids - allowed)
        assert found["total"] == len(ids)
    assert {e["resource"]["id"] for e in fhir.get("/Task", who=role).json["entry"]} == allowed


@pytest.mark.parametrize("role", sorted(SEES_REFERRAL))
def test_part2_labels_the_notice_and_the_providers_minimum(fhir, setting, role):
    referral, offer, _ = setting
    for kind in (*READS, "Task-offer"):
        path = "/Task/%s" % offer["id"] if kind == "Task-offer" else "/%s/%s" % (kind, referral["id"])
        if (kind == "Task-offer" and role not in SEES_OFFER) or (kind == "Consent" and role == "coordinator"):
            continue
        resource = fhir.get(path, who=role).json
        labels = {label["code"] for label in resource["meta"]["security"]}
        assert {"42CFRPart2", "R"} <= labels, kind
        notices = [e for e in resource.get("extension", []) if e["url"].endswith("/part2-notice")]
        assert bool(notices) == (role in OUTSIDE_REFERRING_ORG), kind
        assert ("NORDSCLCD" in labels) == (role in OUTSIDE_REFERRING_ORG), kind
    coverage = fhir.get("/Coverage/%s" % referral["id"], who=role).json
    request = fhir.get("/ServiceRequest/%s" % referral["id"], who=role).json
    if role == "coordinator":
        assert "subscriberId" not in coverage and "note" not in request
    else:
        assert coverage["subscriberId"] and request["note"]


def test_a_mental_health_referral_carries_no_part2_label(fhir, scene):
    referral = scene.referral()
    response = fhir.get("/ServiceRequest/%s" % referral["id"], who="planner")
    assert "security" not in response.json["meta"], response.json


def test_fhir_reads_write_the_api_audit_rows(fhir, api, world, setting):
    referral, offer, _ = setting
    assert fhir.get("/Patient/%s" % referral["id"], who="manager").status_code == 200
    assert fhir.get("/Patient/%s" % referral["id"], who="manager2").status_code == 404
    rows = api.get("/api/v1/audit?object_id=%s&limit=500" % referral["id"], token=world.tokens["admin"]).json["items"]
    seen = {(row["user_id"], row["action"], row["outcome"]) for row in rows}
    assert (world.users["manager"], "referral.read", "allowed") in seen
    assert (world.users["manager2"], "referral.read", "denied") in seen


@pytest.mark.parametrize("role", ROLES)
def test_organizations_are_the_directory_and_your_own(fhir, world, role):
    own = {
        "admin": "admin",
        "planner": "hospital",
        "planner2": "hospital2",
        "manager": "plan",
        "manager2": "plan2",
        "coordinator": "provider",
        "coordinator2": "provider2",
    }[role]
    allowed = {world.orgs["provider"], world.orgs["provider2"], world.orgs[own]}
    if role == "admin":
        allowed = set(world.orgs.values())
    listed = {entry["resource"]["id"] for entry in fhir.get("/Organization?_count=500", who=role).json["entry"]}
    assert listed == allowed
    for key, organization_id in world.orgs.items():
        expected = 200 if organization_id in allowed else 404
        assert fhir.get("/Organization/%s" % organization_id, who=role).status_code == expected, key
