"""End to end in headless Chromium: planner -> coordinator -> case manager, CSRF, session expiry, org scoping."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.support import payloads
from tests.support.browser import NEEDS_CHROMIUM, PASSWORD, assert_accessible, sign_in, sign_out
from transitions.core.db import db
from transitions.offers.models import Offer, Placement
from transitions.referrals.models import Referral

pytestmark = NEEDS_CHROMIUM


@pytest.fixture
def track(api, world):
    program = api.post("/api/v1/programs", payloads.program(), token=world.tokens["coordinator"])
    assert program.status_code == 201, program.json
    response = api.post(
        "/api/v1/programs/%s/tracks" % program.json["id"], payloads.track(), token=world.tokens["coordinator"]
    )
    assert response.status_code == 201, response.json
    return response.json


def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def board_column(page, name):
    """The board column (waiting, offered, placed, attending, ended) whose cards include this member."""
    for key in ("waiting", "offered", "placed", "attending", "ended"):
        if page.locator("#column-%s" % key).get_by_role("link", name=name).count():
            return key
    return None


def test_planner_refers_coordinator_accepts_case_manager_sees_the_move(app, live, page, emails, track):
    # The planner signs in with the keyboard alone: the email field has focus, Tab, Enter.
    page.goto(live.url + "/")
    assert "/sign-in" in page.url
    # autofocus lands a moment after load; on a busy machine typing could otherwise start before it does.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'email'")
    page.keyboard.type(emails["planner"])
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(live.url + "/referrals")

    page.get_by_role("link", name="New referral").first.click()
    page.get_by_label("Given name").fill("Maria")
    page.get_by_label("Family name").fill("Lopez")
    page.get_by_label("Birth date").fill("1990-04-12")
    page.get_by_label("Gender").select_option("female")
    page.get_by_label("Preferred language").select_option("es")
    page.get_by_label("Home ZIP code").fill("60614")
    page.get_by_label("Health plan").select_option("acme-health")
    page.get_by_label("Member id").fill("ACM123456")
    page.get_by_label("Discharged from").select_option("inpatient_psych")
    page.get_by_label("Care needed").select_option("mental_health")
    # The code search (JavaScript) adds the code it finds to the diagnoses field.
    page.get_by_label("Search codes by code or words").fill("major depressive recurrent moderate")
    page.get_by_role("button", name=re.compile(r"^Add F33\.1,")).click()
    assert page.get_by_label("ICD-10-CM diagnosis codes").input_value() == "F33.1"
    page.get_by_label("Discharge date").fill("2026-12-03")
    page.get_by_role("button", name="Weekday evenings").click()  # marks Mon-Fri 17:00-22:00 on the week grid
    assert page.get_by_label("Wednesday 18:00 to 19:00").is_checked()
    page.get_by_label("Farthest travel (miles)").fill("20")
    assert_accessible(page)
    page.get_by_role("button", name="Submit referral and see matches").click()

    page.wait_for_url(re.compile(r".*/referrals/[0-9a-f-]{36}$"))
    assert_accessible(page)
    assert page.get_by_role("heading", name=re.compile("Maria Lopez")).is_visible()
    matches = page.locator("table.matches")
    assert "Lakeview Evening IOP" in matches.inner_text()
    assert "every session fits the patient's week" in matches.inner_text()
    page.get_by_label("Lakeview Evening IOP").check()
    page.get_by_role("button", name="Send offers").click()
    assert page.get_by_text("Offer sent to Lakeview Evening IOP.").is_visible()
    assert_accessible(page)
    referral_id = page.url.rsplit("/", 1)[1]
    assert count(app, Offer, Offer.referral_id == referral_id, Offer.status == "pending") == 1
    sign_out(page)

    sign_in(page, live.url, emails["manager"], PASSWORD)
    page.wait_for_url(live.url + "/board")
    assert board_column(page, "Maria Lopez") == "offered"
    sign_out(page)

    sign_in(page, live.url, emails["coordinator"], PASSWORD)
    page.wait_for_url(live.url + "/offers")
    card = page.locator("article.offer-card", has_text="Maria Lopez")
    intake = card.get_by_label(re.compile("Intake date"))
    options = intake.locator("option").all_inner_texts()
    assert options[0] == "Thu Dec 3, 2026" and all(day[:3] in ("Mon", "Wed", "Thu") for day in options)
    intake.select_option("2026-12-03")
    card.get_by_role("button", name="Accept").click()
    assert page.get_by_text("Accepted: Maria Lopez starts on Thu Dec 03.").is_visible()
    assert count(app, Placement, Placement.referral_id == referral_id) == 1
    sign_out(page)

    sign_in(page, live.url, emails["manager"], PASSWORD)
    page.wait_for_url(live.url + "/board")
    assert board_column(page, "Maria Lopez") == "placed"
    page.locator("#column-placed").get_by_role("link", name="Maria Lopez").click()
    assert page.get_by_text("Offer accepted").first.is_visible()


def test_forms_without_the_sessions_csrf_token_are_refused(app, live, page, emails):
    sign_in(page, live.url, emails["planner"], PASSWORD)
    page.goto(live.url + "/referrals/new")
    page.get_by_label("Given name").fill("Forged")
    page.evaluate("document.querySelector('form.referral-form input[name=csrf_token]').value = 'forged'")
    page.get_by_role("button", name="Submit referral and see matches").click()
    assert page.get_by_role("heading", name="This form could not be accepted").is_visible()
    assert count(app, Referral) == 0
    # Without any token: the sign-out form, stripped of it, does not sign anyone out.
    page.goto(live.url + "/referrals")
    page.evaluate("document.querySelector('.whoami input[name=csrf_token]').remove()")
    with page.expect_response(lambda response: response.url.endswith("/sign-out")) as posted:
        page.get_by_role("button", name="Sign out").click()
    assert posted.value.status == 403
    page.goto(live.url + "/referrals")
    assert page.url == live.url + "/referrals"  # still signed in


def test_an_idle_session_expires_and_sign_in_returns_to_the_page(app, live, page, emails, clock):
    sign_in(page, live.url, emails["planner"], PASSWORD)
    page.goto(live.url + "/referrals?status=submitted")
    clock.now += timedelta(minutes=16)
    page.get_by_role("link", name="New referral").first.click()
    assert "/sign-in" in page.url
    assert page.get_by_role("status").get_by_text("signed out after 15 minutes without activity").is_visible()
    page.get_by_label("Email").fill(emails["planner"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live.url + "/referrals/new")


def test_a_user_never_sees_another_orgs_referral(app, live, page, emails, api, world):
    created = api.post(
        "/api/v1/referrals", payloads.referral(patient={"given_name": "Confidential"}), token=world.tokens["planner"]
    )
    assert created.status_code == 201
    for who, path in (("planner2", "/referrals"), ("manager2", "/board")):
        sign_in(page, live.url, emails[who], PASSWORD)
        page.goto(live.url + path)
        assert "Confidential" not in page.content()
        response = page.goto(live.url + "/referrals/%s" % created.json["id"])
        assert response.status == 404 and page.get_by_role("heading", name="Not found").is_visible()
        assert "Confidential" not in page.content()
        sign_out(page)
    sign_in(page, live.url, emails["manager"], PASSWORD)  # the patient's own plan does see it
    page.goto(live.url + "/board")
    assert board_column(page, "Confidential Lopez") == "waiting"


UNLABELLED = """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea, button'))
  .filter(el => !((el.labels && el.labels.length) || el.getAttribute('aria-label')
                  || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim())))
  .map(el => el.outerHTML.slice(0, 120))"""


def test_every_control_has_a_label_and_every_page_a_heading(app, live, page, emails, api, world, track):
    referral = api.post("/api/v1/referrals", payloads.referral(), token=world.tokens["planner"]).json
    offer = api.post(
        "/api/v1/referrals/%s/offers" % referral["id"], {"track_id": track["id"]}, token=world.tokens["planner"]
    )
    assert offer.status_code == 201, offer.json
    pages = {
        "planner": ["/referrals", "/referrals/new", "/referrals/%s" % referral["id"]],
        "coordinator": ["/offers", "/programs", "/roster", "/tracks/%s/edit" % track["id"]],
        "manager": ["/board", "/members/%s" % referral["id"], "/metrics"],
    }
    for who, paths in pages.items():
        sign_in(page, live.url, emails[who], PASSWORD)
        for path in paths:
            page.goto(live.url + path)
            assert page.evaluate(UNLABELLED) == [], path
            assert page.locator("h1").count() == 1, path
            assert page.locator("main#main").count() == 1, path
        sign_out(page)
