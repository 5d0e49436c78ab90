"""The planner's pages (issue 16): what would widen the options, why #1 is above #2, editing a referral, payers
offered, errors in plain words, the duplicate-patient message and the offer sentences."""

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select

from tests.support import payloads
from transitions.core.db import db
from transitions.offers.models import Offer
from transitions.referrals.models import Referral

EVENINGS_MON_THU = ["%s-%d" % (day, hour) for day in ("mon", "tue", "wed", "thu") for hour in range(17, 21)]


def text(response):
    return response.get_data(as_text=True)


def referral_form(**overrides):
    form = {
        "patient.given_name": "Maria",
        "patient.family_name": "Lopez",
        "patient.birth_date": "1990-04-12",
        "patient.gender": "female",
        "patient.language": "es",
        "patient.zip": "60614",
        "coverage.payer_id": "acme-health",
        "coverage.member_id": "ACM123456",
        "origin": "inpatient_psych",
        "need": "mental_health",
        "diagnoses": "F33.1",
        "discharge_date": "2026-12-03",
        "modality": "in_person",
        "max_travel_miles": "20",
        "availability_mode": "times",
        "availability": EVENINGS_MON_THU,  # 17:00-21:00, Monday to Thursday
    }
    form.update(overrides)
    return form


def submit(planner, **overrides):
    response = planner.post("/referrals/new", referral_form(**overrides))
    assert response.status_code == 302, text(response)
    return response.headers["Location"].rsplit("/", 1)[1]


def add_track(api, world, program_name, zip_code="60601", **track):
    program = api.post(
        "/api/v1/programs", payloads.program(name=program_name, zip=zip_code), token=world.tokens["coordinator"]
    )
    assert program.status_code == 201, program.json
    body = payloads.track(**track)
    response = api.post("/api/v1/programs/%s/tracks" % program.json["id"], body, token=world.tokens["coordinator"])
    assert response.status_code == 201, response.json
    return response.json


def sessions(*rows):
    return [{"day": day, "start": start, "end": end} for day, start, end in rows]


# Six hours a week (a track's least), inside the patient's evenings.
EVENINGS = sessions(("mon", "18:00", "20:00"), ("wed", "18:00", "20:00"), ("thu", "18:00", "20:00"))


@pytest.fixture
def sparse_directory(api, world):
    """One program that fits; each other one misses by a single change the page should name."""
    return {
        "fits": add_track(api, world, "Northside IOP", sessions=EVENINGS),
        "late": add_track(
            api,
            world,
            "Lakeview",
            name="Evening IOP",
            sessions=sessions(("mon", "18:00", "20:00"), ("tue", "18:00", "21:30"), ("thu", "18:00", "20:00")),
        ),
        "far": add_track(api, world, "Naperville IOP", zip_code="60540", sessions=EVENINGS),
        "telehealth": add_track(api, world, "Anywhere Telehealth IOP", modality="telehealth", sessions=EVENINGS),
        "saturday": add_track(
            api,
            world,
            "Weekend IOP",
            sessions=sessions(("mon", "18:00", "20:00"), ("wed", "18:00", "20:00"), ("sat", "09:00", "11:00")),
        ),
    }


def widenings(page):
    """{label: (programs added, edit link)} of the page's "What would widen the options"."""
    section = page.split('id="widen-h"', 1)[1].split("</section>", 1)[0]
    found = {}
    for href, label, count in re.findall(r'<a href="([^"]+)">([^<]+?): \+(\d+) programs?</a>', section):
        found[label] = (int(count), href.replace("&amp;", "&"))
    return found


def test_few_matches_say_which_single_change_adds_how_many_programs(as_user, sparse_directory):
    planner = as_user("planner")
    referral_id = submit(planner)
    page = text(planner.get("/referrals/%s" % referral_id))
    assert "Northside IOP" in page and "Naperville IOP</label>" not in page
    found = widenings(page)
    assert found["Allow telehealth"][0] == 1
    assert found["Travel 30 miles instead of 20"][0] == 1
    assert found["Add Saturday mornings (08:00–13:00)"][0] == 1
    # Any time of day adds the late Tuesday session's track and the Saturday one: two programs.
    assert found["Any time of day"][0] == 2
    assert found["Add Tuesday evenings (17:00–22:00)"][0] == 1
    # Most added first.
    assert list(found)[0] == "Any time of day"
    # Near misses in plain words, no patient name in them.
    assert (
        "Evening IOP at Lakeview: its Tuesday session ends 21:30, after the patient&#39;s window (ends 21:00)" in page
    )
    assert "Naperville IOP: 27.6 miles away, beyond the 20-mile limit" in page
    # The exclusion counts say why, as the rules do, not by code.
    assert "<li>1 track: farther than the patient can travel</li>" in page
    assert "<li>1 track: modality does not fit the patient&#39;s preference</li>" in page


def test_a_widening_is_one_click_from_the_edit_form_with_the_change_filled_in(app, as_user, sparse_directory):
    planner = as_user("planner")
    referral_id = submit(planner)
    found = widenings(text(planner.get("/referrals/%s" % referral_id)))
    href = found["Travel 30 miles instead of 20"][1]
    assert urlsplit(href).path == "/referrals/%s/edit" % referral_id
    form = text(planner.get(href))
    assert 'name="max_travel_miles" type="number" value="30"' in form
    assert "nothing is saved until you save it" in form
    # Saving it changes the referral through the API's update command; the new program now matches.
    args = dict(parse_qsl(urlsplit(href).query))
    response = planner.post(
        "/referrals/%s/edit" % referral_id,
        {
            "discharge_date": "2026-12-03",
            "timezone": "America/Chicago",
            "modality": "in_person",
            "max_travel_miles": args["max_travel_miles"],
            "availability_mode": "times",
            "availability": EVENINGS_MON_THU,
        },
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Referral, referral_id).max_travel_miles == 30
    page = text(planner.get("/referrals/%s" % referral_id))
    assert "Naperville IOP</label>" in page and "Referral updated." in page
    # The Saturday widening links to the grid with Saturday morning added to the evenings already marked.
    saturday = widenings(page)["Add Saturday mornings (08:00–13:00)"][1]
    cells = [value for key, value in parse_qsl(urlsplit(saturday).query) if key == "availability"]
    assert set(cells) == set(EVENINGS_MON_THU) | {"sat-%d" % hour for hour in range(8, 13)}
    edit = text(planner.get(saturday))
    assert 'value="sat-9" aria-label="Saturday 09:00 to 10:00" checked' in edit


def test_many_matches_show_no_widening(as_user, api, world):
    for name in ("One IOP", "Two IOP", "Three IOP"):
        add_track(api, world, name, sessions=EVENINGS)
    planner = as_user("planner")
    page = text(planner.get("/referrals/%s" % submit(planner)))
    assert page.count('name="track_id"') == 3
    assert "What would widen the options" not in page and "Near misses" not in page


def test_each_match_says_why_it_ranks_above_the_next_and_only_its_own_reasons(as_user, api, world):
    add_track(api, world, "Thursday Start IOP", sessions=EVENINGS, intake_days=["thu"])
    add_track(api, world, "Monday Start IOP", sessions=EVENINGS, intake_days=["mon"])
    add_track(api, world, "Far Monday IOP", zip_code="60101", sessions=EVENINGS, intake_days=["mon"])
    planner = as_user("planner")
    page = text(planner.get("/referrals/%s" % submit(planner)))
    order = [name for name in re.findall(r'<label for="pick-[^"]+">([^<]+)</label>', page)]
    assert order == ["Thursday Start IOP", "Monday Start IOP", "Far Monday IOP"]
    assert "<strong>Above #2:</strong> starts 4 days earlier" in page
    assert "<strong>Above #3:</strong> closer (3.0 miles against 18.4)" in page
    # The reasons every match shares are said once, above the table; each row keeps what sets it apart.
    shared = page.split('class="shared-reasons"', 1)[1].split("</p>", 1)[0]
    assert "treats mental health" in shared and "accepts acme-health" in shared
    rows = page.split("<tbody>", 1)[1]
    assert "accepts acme-health" not in rows and "in person, 18.4 miles away" in rows


def test_the_edit_form_changes_discharge_hours_travel_and_modality(app, as_user, sparse_directory):
    planner = as_user("planner")
    referral_id = submit(planner)
    form = text(planner.get("/referrals/%s/edit" % referral_id))
    assert 'value="2026-12-03"' in form and 'value="tue-17" aria-label="Tuesday 17:00 to 18:00" checked' in form
    response = planner.post(
        "/referrals/%s/edit" % referral_id,
        {
            "discharge_date": "2026-12-10",
            "timezone": "America/Chicago",
            "modality": "either",
            "availability_mode": "any",
        },
    )
    assert response.status_code == 302, text(response)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert str(referral.discharge_date) == "2026-12-10" and referral.modality == "either"
        assert referral.availability is None and referral.max_travel_miles is None
    bad = planner.post(
        "/referrals/%s/edit" % referral_id,
        {"discharge_date": "2030-01-01", "modality": "either", "availability_mode": "times", "max_travel_miles": "far"},
    )
    assert bad.status_code == 422
    page = text(bad)
    assert "Enter the miles as a number, e.g. 20." in page
    assert "The discharge date must be within a year of today." in page
    assert "Mark the hours the patient can attend" in page


def test_another_organizations_referral_cannot_be_edited(as_user):
    planner = as_user("planner")
    referral_id = submit(planner)
    other = as_user("planner2")
    assert other.get("/referrals/%s/edit" % referral_id).status_code == 404
    assert other.post("/referrals/%s/edit" % referral_id, {"modality": "either"}).status_code == 404


def test_the_health_plan_is_chosen_from_the_payers_known_with_self_pay(app, as_user, sparse_directory):
    planner = as_user("planner")
    page = text(planner.get("/referrals/new"))
    select_html = page.split('<select id="coverage-payer_id"', 1)[1].split("</select>", 1)[0]
    options = re.findall(r'<option value="([^"]*)"', select_html)
    # The world's health plan follows acme-health (named after the plan); the programs accept medicaid-il too.
    assert options[0] == "" and "acme-health" in options and "medicaid-il" in options
    assert options[-1] == "*self-pay" and "Self-pay (no coverage)" in select_html
    assert re.search(r'<option value="acme-health">[^<]+\(acme-health\)</option>', select_html)
    referral_id = submit(planner, **{"coverage.payer_id": "*self-pay", "coverage.member_id": ""})
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert referral.self_pay and referral.payer_id is None


def test_form_errors_are_plain_words_linked_to_their_fields(app, as_user):
    planner = as_user("planner")
    response = planner.post(
        "/referrals/new", referral_form(**{"coverage.payer_id": "", "diagnoses": "F33 ZZZ", "patient.family_name": ""})
    )
    assert response.status_code == 422
    page = text(response)
    assert '<a href="#coverage-payer_id">Health plan</a>: Choose the patient&#39;s health plan, or Self-pay.' in page
    assert '<a href="#patient-family_name">Family name</a>: Family name is required.' in page
    # One message per bad code, each its own item.
    assert "<li>F33 is a category, not a billable code: choose a more specific code (look it up below).</li>" in page
    assert "<li>ZZZ is not an ICD-10-CM code.</li>" in page
    words = re.sub(r"<[^>]+>", "", page)
    for code_speak in ("payer_id", "self_pay", "Length must be", "Missing data for required field"):
        assert code_speak not in words
    empty = text(planner.post("/referrals/new", referral_form(diagnoses="")))
    assert "Enter at least one diagnosis code (25 at most)." in empty


def test_a_duplicate_patient_is_said_in_words_with_a_link(as_user):
    planner = as_user("planner")
    first = submit(planner)
    response = planner.post("/referrals/new", referral_form())
    assert response.status_code == 409
    page = text(response)
    assert "This patient already has an open referral from your organization (waiting for a seat)." in page
    assert '<a href="/referrals/%s">Open the existing referral</a>' % first in page
    summary = page.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    assert first not in re.sub(r'href="[^"]*"', "", summary)  # no UUID in the words


def test_offers_sent_are_one_sentence_and_a_full_slate_offers_no_chooser(app, as_user, api, world):
    tracks = [add_track(api, world, name, sessions=EVENINGS) for name in ("A IOP", "B IOP", "C IOP")]
    planner = as_user("planner")
    referral_id = submit(planner)
    response = planner.post("/referrals/%s/offers" % referral_id, {"track_id": [t["id"] for t in tracks]})
    assert response.status_code == 302
    page = text(planner.get("/referrals/%s" % referral_id))
    assert "Offers sent to A IOP, B IOP and C IOP." in page
    assert "Choose up to 0" not in page and 'name="track_id"' not in page
    assert "3 offers are pending, the most at once. Withdraw one to offer another program." in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Offer)) == 3


def test_one_offer_is_one_sentence(as_user, api, world):
    track = add_track(api, world, "A IOP", sessions=EVENINGS)
    planner = as_user("planner")
    referral_id = submit(planner)
    planner.post("/referrals/%s/offers" % referral_id, {"track_id": [track["id"]]})
    page = text(planner.get("/referrals/%s" % referral_id))
    assert "Offer sent to A IOP." in page and "Choose up to 2 more programs" in page


def test_a_form_over_the_size_limit_is_a_page_that_says_why(app, as_user):
    planner = as_user("planner")
    response = planner.post("/referrals/new", referral_form(notes="x" * (app.config["MAX_CONTENT_LENGTH"] + 10)))
    assert response.status_code == 413
    page = text(response)
    assert "The form was too large to send" in page and "your browser keeps what you typed" in page
    assert "at most 5,000 characters" in page
    notes = text(planner.post("/referrals/new", referral_form(notes="y" * 5001)))
    assert "Notes can be at most 5,000 characters." in notes and "y" * 5001 in notes
