"""Leads in matching: unconfirmed programs within reach that fit every known fact, listed with their phone numbers
only when a referral has few matches."""

import pytest

from tests.api.test_directory_import import line, run_import, write
from tests.support.offers import Scene

FACILITIES = [
    line("Lakeview Fits", codes="MH * OIT * MD * ADLT * SP", phone="312-555-0101"),
    line("No Medicaid", street="2 Main St", codes="MH * OIT * PI * ADLT * SP"),
    line("English Only", street="3 Main St", codes="MH * OIT * MD * ADLT"),
    line("Men Only", street="4 Main St", codes="MH * OIT * MD * ADLT * MALE * SP"),
    line("Substance Use Only", street="5 Main St", codes="SA * OIT * MD * ADLT * SP"),
    line("Youth Only", street="6 Main St", codes="MH * OIT * MD * CHLD * SP"),
    line("Too Far", street="7 Main St", zip_code="78701", state="TX", codes="MH * OIT * MD * ADLT * SP"),
]
MEDICAID = {"payer_id": "medicaid-il", "member_id": "IL123"}


@pytest.fixture
def scene(api, world, app, clock):
    return Scene(api, world, app, clock)


def matches(scene, referral):
    response = scene.api.get("/api/v1/referrals/%s/matches" % referral["id"], token=scene.token("planner"))
    assert response.status_code == 200, response.json
    return response.json


def test_leads_fit_every_known_fact_and_carry_a_phone(app, scene, tmp_path):
    run_import(app, write(tmp_path, FACILITIES))
    body = matches(scene, scene.referral(coverage=MEDICAID))
    assert body["items"] == []
    assert [lead["program_name"] for lead in body["leads"]] == ["Lakeview Fits"]
    lead = body["leads"][0]
    assert lead["phone"] == "312-555-0101" and lead["modality"] == "in_person" and lead["distance_miles"] < 20
    assert any("call them" in reason for reason in lead["reasons"])


def test_no_leads_when_there_are_enough_matches(app, scene, tmp_path):
    run_import(app, write(tmp_path, FACILITIES))
    for name in ("One", "Two", "Three"):
        scene.track(scene.program(name=name))
    body = matches(scene, scene.referral(coverage=MEDICAID))
    assert len(body["items"]) == 3 and body["leads"] == []


def test_the_threshold_is_a_setting(app, scene, tmp_path):
    run_import(app, write(tmp_path, FACILITIES))
    scene.track(scene.program(name="One"))
    referral = scene.referral(coverage=MEDICAID)
    assert [lead["program_name"] for lead in matches(scene, referral)["leads"]] == ["Lakeview Fits"]
    app.config["MATCH_LEADS_BELOW"] = 1
    assert matches(scene, referral)["leads"] == []
