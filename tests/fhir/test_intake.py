"""Referral intake as a transaction Bundle: the same referral as POST /api/v1/referrals, the same refusals, each
naming the FHIR element, and nothing created by a refused Bundle."""

import json

import pytest

from tests.fhir.bundles import EXT, referral_bundle, resource
from tests.support import payloads

VOLATILE = ("id", "created_at", "updated_at")


def submitted(fhir, bundle, who="planner", **kwargs):
    response = fhir.post("", bundle, who=who, **kwargs)
    assert response.status_code == 200, response.json
    return response


def referral_id(response):
    return response.json["entry"][0]["response"]["location"].split("/")[1]


def referral_count(api, world):
    return len(api.get("/api/v1/referrals?limit=500", token=world.tokens["planner"]).json["items"])


def comparable(body):
    body = {key: value for key, value in body.items() if key not in VOLATILE}
    body["patient"] = {key: value for key, value in body["patient"].items() if key != "given_name"}
    return body


def test_a_bundle_reads_back_through_the_api_as_the_same_referral_the_api_takes(fhir, api, world):
    response = submitted(fhir, referral_bundle(given="Ana"))
    assert response.json["type"] == "transaction-response"
    kinds = [e["response"]["location"].split("/")[0] for e in response.json["entry"]]
    assert kinds == ["Patient", "Encounter", "Coverage", "ServiceRequest", "Task"]
    assert all(e["response"]["status"] == "201 Created" for e in response.json["entry"])
    through_fhir = api.get("/api/v1/referrals/%s" % referral_id(response), token=world.tokens["planner"]).json
    through_api = api.post(
        "/api/v1/referrals", payloads.referral(patient={"given_name": "Bea"}), token=world.tokens["planner"]
    ).json
    assert through_fhir["patient"]["given_name"] == "Ana"
    assert comparable(through_fhir) == comparable(through_api)


def test_a_referral_submitted_through_the_api_reads_as_fhir(fhir, api, world):
    referral = api.post("/api/v1/referrals", payloads.referral(), token=world.tokens["planner"]).json
    rid = referral["id"]
    patient = fhir.get("/Patient/%s" % rid, who="planner").json
    assert patient["name"] == [{"family": "Lopez", "given": ["Maria"]}]
    assert (patient["birthDate"], patient["gender"]) == ("1990-04-12", "female")
    assert patient["address"][0]["postalCode"] == "60614"
    request = fhir.get("/ServiceRequest/%s" % rid, who="planner").json
    assert request["reasonCode"][0]["coding"][0] == {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.1"}
    assert request["insurance"] == [{"reference": "Coverage/%s" % rid}]
    assert {e["url"].rsplit("/", 1)[1] for e in request["extension"]} >= {
        "need",
        "modality",
        "timezone",
        "availability",
    }
    coverage = fhir.get("/Coverage/%s" % rid, who="planner").json
    assert (coverage["payor"][0]["identifier"]["value"], coverage["subscriberId"]) == ("acme-health", "ACM123456")
    assert fhir.get("/Encounter/%s" % rid, who="planner").json["period"]["end"] == referral["discharge_date"]
    task = fhir.get("/Task/%s" % rid, who="planner").json
    assert (task["status"], task["focus"]["reference"]) == ("requested", "ServiceRequest/%s" % rid)
    assert fhir.get("/Consent/%s" % rid, who="planner").status_code == 404  # no Part 2 consent given


def test_need_is_derived_from_the_codes_and_defaults_follow_the_api(fhir, api, world):
    bundle = referral_bundle(codes=("F33.1", "F10.20"), coverage=False, consent="2026-11-28")
    request = resource(bundle, "ServiceRequest")
    request["extension"] = []  # no windows, time zone, modality, travel limit or MAT: the API's defaults
    body = api.get("/api/v1/referrals/%s" % referral_id(submitted(fhir, bundle)), token=world.tokens["planner"]).json
    assert body["need"] == "co_occurring"
    assert body["coverage"]["self_pay"] is True
    assert (body["modality"], body["needs_mat"], body["availability"]) == ("either", False, None)
    assert body["timezone"] == "America/Chicago"  # the ZIP code's
    assert body["part2_consent"]["signed_on"] == "2026-11-28"


def _spoil(change):
    bundle = referral_bundle()
    change(bundle)
    return bundle


BAD_BUNDLES = {
    "batch": (lambda b: b.update(type="batch"), 422, "Bundle.type"),
    "collection": (lambda b: b.update(type="collection"), 422, "Bundle.type"),
    "two patients": (
        lambda b: b["entry"].append(json.loads(json.dumps(b["entry"][0]))),
        422,
        "Bundle.entry[5].resource",
    ),
    "unresolved reference": (
        lambda b: resource(b, "ServiceRequest").update(subject={"reference": "urn:uuid:nobody"}),
        422,
        "ServiceRequest.subject",
    ),
    "no reasonCode": (lambda b: resource(b, "ServiceRequest").pop("reasonCode"), 422, "ServiceRequest.reasonCode"),
    "codes from another system": (
        lambda b: resource(b, "ServiceRequest")["reasonCode"][0]["coding"][0].update(system="http://snomed.info/sct"),
        422,
        "ServiceRequest.reasonCode[0].coding[0].system",
    ),
    "unknown ICD-10-CM code": (
        lambda b: resource(b, "ServiceRequest")["reasonCode"][0]["coding"][0].update(code="F99.99"),
        422,
        "ServiceRequest.reasonCode[0].coding[0].code",
    ),
    "encounter without an end": (lambda b: resource(b, "Encounter")["period"].pop("end"), 422, "Encounter.period.end"),
    "patient without a birth date": (lambda b: resource(b, "Patient").pop("birthDate"), 422, "Patient.birthDate"),
    "unknown ZIP": (
        lambda b: resource(b, "Patient")["address"][0].update(postalCode="00000"),
        422,
        "Patient.address[0].postalCode",
    ),
    "no resourceType": (lambda b: b.pop("resourceType"), 422, "resourceType"),
    "unknown resourceType": (lambda b: b.update(resourceType="Bundel"), 422, "resourceType"),
    "an element FHIR does not have": (
        lambda b: resource(b, "Patient").update(shoeSize=42),
        422,
        "Bundle.entry[0].resource",
    ),
    "bad time zone extension": (
        lambda b: (
            resource(b, "ServiceRequest")["extension"].append({"url": EXT + "timezone", "valueCode": "Mars/Base"})
            or resource(b, "ServiceRequest")["extension"].reverse()
        ),
        422,
        "ServiceRequest.extension('%stimezone')" % EXT,
    ),
}


@pytest.mark.parametrize("case", BAD_BUNDLES)
def test_bad_bundles_are_refused_naming_the_element_and_create_nothing(fhir, api, world, case):
    change, status, element = BAD_BUNDLES[case]
    response = fhir.post("", _spoil(change), who="planner")
    assert response.status_code == status, response.json
    assert response.mimetype == "application/fhir+json"
    assert response.json["resourceType"] == "OperationOutcome"
    expressions = [e for issue in response.json["issue"] for e in issue.get("expression", [])]
    assert any(e.startswith(element) for e in expressions), expressions
    assert referral_count(api, world) == 0


def test_xml_is_415_and_malformed_json_400(fhir, api, world):
    xml = fhir.post(
        "", "<Bundle xmlns='http://hl7.org/fhir'/>", who="planner", headers={"Content-Type": "application/fhir+xml"}
    )
    assert (xml.status_code, xml.json["resourceType"]) == (415, "OperationOutcome")
    broken = fhir.post("", '{"resourceType": "Bundle",', who="planner")
    assert (broken.status_code, broken.json["resourceType"]) == (400, "OperationOutcome")
    assert referral_count(api, world) == 0


def test_the_same_bundle_twice_is_a_409_without_a_key_and_a_replay_with_one(fhir, api, world):
    bundle = referral_bundle()
    first = fhir.post("", bundle, who="planner", headers={"Idempotency-Key": "k-1"})
    again = fhir.post("", bundle, who="planner", headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert again.mimetype == "application/fhir+json"
    changed = fhir.post("", referral_bundle(), who="planner", headers={"Idempotency-Key": "k-1"})
    assert changed.status_code == 409
    duplicate = fhir.post("", bundle, who="planner")
    assert (duplicate.status_code, duplicate.json["issue"][0]["code"]) == (409, "conflict")
    assert referral_count(api, world) == 1


def test_authentication_and_roles(fhir, world):
    assert fhir.get("/metadata").status_code == 200
    assert fhir.get("/Task").status_code == 401
    assert fhir.post("", referral_bundle()).status_code == 401
    refused = fhir.post("", referral_bundle(), who="coordinator")
    assert (refused.status_code, refused.json["issue"][0]["code"]) == (403, "forbidden")
    wrong_method = fhir.client.delete("/fhir/r4/Task/1", headers={"Authorization": "Bearer " + world.tokens["planner"]})
    assert (wrong_method.status_code, wrong_method.json["resourceType"]) == (405, "OperationOutcome")
    assert set(wrong_method.headers["Allow"].split(", ")) == {"GET", "PATCH", "PUT"}
    unknown = fhir.get("/Medication/1", who="planner")
    assert (unknown.status_code, unknown.json.get("resourceType")) == (404, "OperationOutcome"), unknown.json
