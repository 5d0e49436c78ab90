"""Referral intake: create, read, list with filters, update while not placed, cancel, timeline, duplicates."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.support import payloads
from transitions.core.pagination import keyset_page
from transitions.referrals.models import Referral


def create(api, world, token="planner", **overrides):
    return api.post("/api/v1/referrals", payloads.referral(**overrides), token=world.tokens[token])


def test_create_returns_the_referral_with_location_and_opaque_id(api, world):
    response = create(api, world)
    assert response.status_code == 201, response.json
    body = response.json
    assert len(body["id"]) == 36 and body["id"].count("-") == 4
    assert response.headers["Location"].endswith("/api/v1/referrals/%s" % body["id"])
    assert body["status"] == "submitted"
    assert body["patient"]["given_name"] == "Maria"
    assert body["coverage"] == {"payer_id": "acme-health", "member_id": "ACM123456", "self_pay": False}
    assert body["diagnoses"] == ["F33.1"]
    assert body["created_at"].endswith("Z")
    assert body["part2_notice"] is None


def test_diagnosis_codes_are_normalized(api, world):
    response = create(api, world, diagnoses=["f331", "F10.20"], need="co_occurring")
    assert response.status_code == 201, response.json
    assert response.json["diagnoses"] == ["F33.1", "F10.20"]


@pytest.mark.parametrize(
    "field, value, path",
    [
        ("diagnoses", ["F33"], "diagnoses"),  # a category, not billable
        ("diagnoses", ["Z99.999"], "diagnoses"),  # unknown
        ("diagnoses", [], "diagnoses"),
        ("diagnoses", ["F33.1", "f331"], "diagnoses"),  # duplicate once normalized
        ("need", "gambling", "need"),
        ("origin", "jail", "origin"),
        ("modality", "carrier_pigeon", "modality"),
        ("timezone", "Mars/Olympus", "timezone"),
        ("discharge_date", "2026-13-01", "discharge_date"),
        ("discharge_date", "2030-01-01", "discharge_date"),
        ("max_travel_miles", -3, "max_travel_miles"),
        ("max_travel_miles", "far", "max_travel_miles"),
        ("notes", "x" * 5001, "notes"),
        ("availability", [{"day": "mon", "start": "25:00", "end": "26:00"}], "availability"),
        ("availability", [{"day": "mon", "start": "18:00", "end": "17:00"}], "availability"),
        ("availability", [{"day": "funday", "start": "08:00", "end": "09:00"}], "availability"),
        (
            "availability",
            [{"day": "mon", "start": "08:00", "end": "12:00"}, {"day": "mon", "start": "11:00", "end": "13:00"}],
            "availability",
        ),
        ("coverage", {"payer_id": "acme-health"}, "coverage"),
        ("coverage", {"self_pay": True, "payer_id": "x"}, "coverage"),
        ("part2_consent", {"signed_on": "2027-01-01"}, "part2_consent"),
        ("part2_consent", {"signed_on": "0001-01-01"}, "part2_consent"),
        ("part2_consent", {"signed_on": "2024-01-01"}, "part2_consent"),
        ("part2_consent", {"signed_on": "2026-11-01", "expires_on": "2026-10-01"}, "part2_consent"),
        ("surprise", 1, "surprise"),
    ],
)
def test_invalid_fields_are_422_with_field_messages_and_create_nothing(api, world, field, value, path):
    response = create(api, world, **{field: value})
    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    assert path in response.json["errors"], response.json
    listing = api.get("/api/v1/referrals", token=world.tokens["planner"]).json
    assert listing["items"] == []


@pytest.mark.parametrize(
    "patient, path",
    [
        ({"zip": "00000"}, "zip"),
        ({"zip": "6061"}, "zip"),
        ({"birth_date": "2027-01-01"}, "birth_date"),
        ({"gender": "robot"}, "gender"),
        ({"language": "xx"}, "language"),
        ({"given_name": ""}, "given_name"),
        ({"family_name": "x" * 101}, "family_name"),
    ],
)
def test_invalid_patient_fields_are_nested_422(api, world, patient, path):
    response = create(api, world, patient=patient)
    assert response.status_code == 422
    assert path in response.json["errors"]["patient"], response.json


def test_mat_without_substance_need_is_422(api, world):
    response = create(api, world, needs_mat=True)
    assert response.status_code == 422 and "needs_mat" in response.json["errors"]


def test_missing_required_fields_are_listed(api, world):
    response = api.post("/api/v1/referrals", {}, token=world.tokens["planner"])
    assert response.status_code == 422
    for field in ("patient", "coverage", "origin", "need", "diagnoses", "discharge_date", "timezone"):
        assert field in response.json["errors"], field


def test_only_discharge_planners_create_referrals(api, world):
    for role in ("admin", "manager", "coordinator"):
        assert create(api, world, token=role).status_code == 403


def test_second_open_referral_for_same_patient_names_the_first(api, world):
    first = create(api, world).json
    again = create(api, world, patient={"given_name": "  MARIA ", "family_name": "lopez"})
    assert again.status_code == 409
    assert again.json["existing_referral_id"] == first["id"]
    assert first["id"] in again.json["detail"]
    # Another organization may refer the same person.
    assert create(api, world, token="planner2").status_code == 201
    # Once cancelled, a new referral is allowed.
    api.post("/api/v1/referrals/%s/cancel" % first["id"], {"reason": "wrong unit"}, token=world.tokens["planner"])
    assert create(api, world).status_code == 201


def test_changing_a_referrals_patient_to_one_with_an_open_referral_names_it(api, world):
    first = create(api, world).json
    second = create(api, world, patient={"given_name": "Ana"}).json
    patient = {**payloads.referral()["patient"], "given_name": "MARIA "}
    moved = api.patch("/api/v1/referrals/%s" % second["id"], {"patient": patient}, token=world.tokens["planner"])
    assert moved.status_code == 409, moved.json
    assert moved.json["existing_referral_id"] == first["id"]
    # The same patient spelled otherwise, or another change that keeps the patient, is no duplicate of itself.
    patient = {**payloads.referral()["patient"], "given_name": "ana"}
    kept = api.patch("/api/v1/referrals/%s" % second["id"], {"patient": patient}, token=world.tokens["planner"])
    assert kept.status_code == 200, kept.json
    dated = api.patch(
        "/api/v1/referrals/%s" % second["id"], {"discharge_date": "2026-12-05"}, token=world.tokens["planner"]
    )
    assert dated.status_code == 200, dated.json


def test_list_filters_and_pagination(api, world, clock):
    ids = []
    for index in range(5):
        clock.now += timedelta(minutes=1)
        body = create(
            api,
            world,
            patient={"given_name": "Pat%d" % index},
            need="substance_use" if index % 2 else "mental_health",
            diagnoses=["F10.20"] if index % 2 else ["F33.1"],
            discharge_date="2026-12-0%d" % (index + 1),
        ).json
        ids.append(body["id"])
    token = world.tokens["planner"]
    page1 = api.get("/api/v1/referrals?limit=2", token=token).json
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    page2 = api.get("/api/v1/referrals?limit=2&cursor=%s" % page1["next_cursor"], token=token).json
    page3 = api.get("/api/v1/referrals?limit=2&cursor=%s" % page2["next_cursor"], token=token).json
    assert page3["next_cursor"] is None
    seen = [r["id"] for r in page1["items"] + page2["items"] + page3["items"]]
    assert seen == list(reversed(ids))
    substance = api.get("/api/v1/referrals?need=substance_use", token=token).json["items"]
    assert {r["id"] for r in substance} == {ids[1], ids[3]}
    window = api.get("/api/v1/referrals?discharge_from=2026-12-02&discharge_to=2026-12-03", token=token).json
    assert {r["id"] for r in window["items"]} == {ids[1], ids[2]}
    assert api.get("/api/v1/referrals?status=cancelled", token=token).json["items"] == []


def test_keyset_pages_can_be_ordered_by_a_date(app, api, world):
    # No list orders by a date today; the cursor must still carry one when one does.
    ids = [
        create(api, world, patient={"given_name": "Pat%d" % index}, discharge_date="2026-12-0%d" % (5 - index)).json[
            "id"
        ]
        for index in range(3)
    ]
    pages, cursor = [], None
    with app.test_request_context():
        while True:
            rows, cursor = keyset_page(
                select(Referral), [Referral.discharge_date, Referral.id], {"limit": 2, "cursor": cursor}
            )
            pages.append([row.id for row in rows])
            if cursor is None:
                break
    assert pages == [[ids[2], ids[1]], [ids[0]]]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=abc", "cursor=!!!", "cursor=WzFd", "status=lost", "discharge_from=yesterday", "bogus=1"]
)
def test_bad_list_queries_are_422(api, world, query):
    response = api.get("/api/v1/referrals?" + query, token=world.tokens["planner"])
    assert response.status_code == (400 if query.startswith("cursor=") else 422), response.json


def test_limit_is_capped_not_refused(api, world):
    response = api.get("/api/v1/referrals?limit=100000", token=world.tokens["planner"])
    assert response.status_code == 200


def test_update_until_placed_and_timeline(api, world):
    referral = create(api, world).json
    token = world.tokens["planner"]
    response = api.patch(
        "/api/v1/referrals/%s" % referral["id"],
        {"discharge_date": "2026-12-05", "patient": {**payloads.referral()["patient"], "phone": None}},
        token=token,
    )
    assert response.status_code == 200, response.json
    assert response.json["discharge_date"] == "2026-12-05"
    assert response.json["patient"]["phone"] is None
    bad = api.patch("/api/v1/referrals/%s" % referral["id"], {"need": "nope"}, token=token)
    assert bad.status_code == 422
    assert api.get("/api/v1/referrals/%s" % referral["id"], token=token).json["discharge_date"] == "2026-12-05"
    cancelled = api.post("/api/v1/referrals/%s/cancel" % referral["id"], {"reason": "transferred"}, token=token)
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    again = api.post("/api/v1/referrals/%s/cancel" % referral["id"], {}, token=token)
    assert again.status_code == 409 and again.json["current_status"] == "cancelled"
    late = api.patch("/api/v1/referrals/%s" % referral["id"], {"notes": "x"}, token=token)
    assert late.status_code == 409
    timeline = api.get("/api/v1/referrals/%s/timeline" % referral["id"], token=token).json["items"]
    assert [event["type"] for event in timeline] == ["referral.submitted", "referral.updated", "referral.cancelled"]
    assert timeline[-1]["from_status"] == "submitted" and timeline[-1]["to_status"] == "cancelled"
    assert all(event["actor_user_id"] == world.users["planner"] and event["at"].endswith("Z") for event in timeline)


def test_substance_use_referral_carries_part2_notice_outside_its_org(api, world):
    referral = create(
        api,
        world,
        need="substance_use",
        diagnoses=["F11.20"],
        needs_mat=True,
        part2_consent={"signed_on": "2026-11-30"},
    ).json
    assert referral["part2_notice"] is None  # the referring org itself
    assert referral["part2_consent"]["current"] is True
    seen_by_plan = api.get("/api/v1/referrals/%s" % referral["id"], token=world.tokens["manager"]).json
    assert "42 CFR part 2" in seen_by_plan["part2_notice"]
    listed = api.get("/api/v1/referrals", token=world.tokens["manager"]).json["items"]
    assert "42 CFR part 2" in listed[0]["part2_notice"]


def test_self_pay_referral_is_not_shown_to_any_plan(api, world):
    referral = create(api, world, coverage={"self_pay": True}).json
    assert referral["coverage"]["self_pay"] is True
    assert api.get("/api/v1/referrals/%s" % referral["id"], token=world.tokens["manager"]).status_code == 404


@pytest.mark.parametrize(
    "diagnoses, expected",
    [
        (["F33.1", "F33"], ["F33: not billable: use a more specific code"]),
        (["Z99.999"], ["Z99.999: unknown ICD-10-CM code"]),
        (["F33.1", 7], ["item 2: Not a valid string."]),
        (["F33.1", "F33.1234567890"], ["item 2: A diagnosis code is at most 10 characters."]),
    ],
)
def test_a_bad_diagnosis_is_a_list_of_messages_as_the_spec_says(api, world, diagnoses, expected):
    response = create(api, world, diagnoses=diagnoses)
    assert response.status_code == 422, response.json
    assert response.json["errors"] == {"diagnoses": expected}
