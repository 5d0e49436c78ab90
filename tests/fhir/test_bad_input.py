"""Whatever a client sends under /fhir/r4, the answer is a 4xx OperationOutcome, never a 500, and nothing is made."""

import pytest

from tests.fhir.bundles import EXT, referral_bundle, resource


def spoiled(change):
    bundle = referral_bundle()
    change(bundle)
    return bundle


BUNDLES = [
    [],
    None,
    "a string",
    {"resourceType": 7},
    {"resourceType": "Bundle", "type": "transaction"},
    {"resourceType": "Bundle", "type": "transaction", "entry": 5},
    {"resourceType": "Bundle", "type": "transaction", "entry": ["x"]},
    {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": None}]},
    {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {"resourceType": "Patient"}}]},
    spoiled(lambda b: b["entry"][0].pop("request")),
    spoiled(lambda b: resource(b, "Patient").update(name="Maria")),
    spoiled(lambda b: resource(b, "Patient").update(name=[])),
    spoiled(lambda b: resource(b, "Patient").update(birthDate="1990-13-45")),
    spoiled(lambda b: resource(b, "Patient").update(birthDate="2999-01-01")),
    spoiled(lambda b: resource(b, "Patient").update(gender="robot")),
    spoiled(lambda b: resource(b, "Patient").pop("address")),
    spoiled(lambda b: resource(b, "Encounter")["period"].update(end="next week")),
    spoiled(lambda b: resource(b, "Encounter").update({"class": {"code": "AMB"}})),
    spoiled(lambda b: resource(b, "Coverage").update(payor=[])),
    spoiled(lambda b: resource(b, "Coverage").pop("subscriberId")),
    spoiled(lambda b: resource(b, "ServiceRequest")["reasonCode"][0]["coding"][0].pop("code")),
    spoiled(lambda b: resource(b, "ServiceRequest")["reasonCode"][0].update(coding=[])),
    spoiled(lambda b: resource(b, "ServiceRequest").update(status="draft")),
    spoiled(lambda b: resource(b, "ServiceRequest").update(insurance=[{"reference": "Coverage/elsewhere"}])),
    spoiled(lambda b: resource(b, "ServiceRequest")["extension"][0]["extension"].pop()),
    spoiled(lambda b: resource(b, "ServiceRequest")["extension"][0]["extension"][1].update(valueTime="25:00:00")),
    spoiled(
        lambda b: resource(b, "ServiceRequest")["extension"].insert(0, {"url": EXT + "modality", "valueCode": "x"})
    ),
    spoiled(
        lambda b: resource(b, "ServiceRequest")["extension"].insert(
            0, {"url": EXT + "travel-limit", "valueDecimal": -1}
        )
    ),
    spoiled(lambda b: resource(b, "ServiceRequest")["extension"].insert(0, {"url": EXT + "need", "valueCode": "joy"})),
    spoiled(lambda b: resource(b, "Task").update(status="completed")),
    spoiled(
        lambda b: resource(b, "ServiceRequest").update(modifierExtension=[{"url": EXT + "x", "valueBoolean": True}])
    ),
    spoiled(lambda b: resource(b, "Task").update(focus={"reference": "urn:uuid:patient"})),
]


@pytest.mark.parametrize("body", BUNDLES, ids=range(len(BUNDLES)))
def test_no_bundle_is_a_server_error(fhir, api, world, body):
    response = fhir.post("", body, who="planner")
    assert 400 <= response.status_code < 500, response.json
    assert response.json["resourceType"] == "OperationOutcome"
    assert api.get("/api/v1/referrals", token=world.tokens["planner"]).json["items"] == []


SEARCHES = [
    "/Task?_count=abc",
    "/Task?_count=0",
    "/Task?_offset=-1",
    "/Task?_lastUpdated=gtyesterday",
    "/Task?_lastUpdated=2026-12-01",
    "/Task?status=requested&status=accepted",
    "/Task?focus=Patient/1",
    "/Task?_format=xml",
    "/Location?near=1|2|x",
    "/Location?near=91|0|5|mi",
    "/Location?near=1|2|5|furlongs",
    "/HealthcareService?active=maybe",
    "/Organization?colour=red",
    "/Task/%00",
]


@pytest.mark.parametrize("path", SEARCHES)
def test_no_search_is_a_server_error(fhir, path):
    response = fhir.get(path, who="planner")
    assert 400 <= response.status_code < 500, response.json
    assert response.json["resourceType"] == "OperationOutcome"


PATCHES = [
    {"status": "accepted"},
    [{"op": "move", "from": "/status", "path": "/x"}],
    [{"op": "replace", "path": "status", "value": "accepted"}],
    [{"op": "replace", "path": "/nothing/here", "value": 1}],
    [{"op": "remove", "path": "/input/7"}],
    [{"op": "test", "path": "/status", "value": "accepted"}],
    [{"op": "replace", "path": "/status"}],
    [{"op": "replace", "path": "/status", "value": "accepted"}, {"op": "add", "path": "/executionPeriod", "value": 3}],
    ["replace"],
]


@pytest.mark.parametrize("operations", PATCHES, ids=range(len(PATCHES)))
def test_no_patch_is_a_server_error(fhir, scene, operations):
    offer = scene.offered(scene.referral(), scene.track())
    response = fhir.patch("/Task/%s" % offer["id"], operations, who="coordinator")
    assert 400 <= response.status_code < 500, response.json
    assert response.json["resourceType"] == "OperationOutcome"
    assert scene.offer_now(offer)["status"] == "pending"
