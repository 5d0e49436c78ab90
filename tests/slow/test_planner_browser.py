"""The discharge planner's path in headless Chromium (issue 16): the usability budget (a typical referral to three
offers), the week grid as one keyboard control, the time-zone select at 1366 px, the notes limit, and what would
widen the options; axe-core over every page state reached."""

import re

from tests.support import payloads
from tests.support.browser import NEEDS_CHROMIUM, PASSWORD, assert_accessible, sign_in
from transitions.core.db import db
from transitions.offers.models import Offer
from transitions.referrals.models import Referral

pytestmark = NEEDS_CHROMIUM

# The budget (issue 16): from the empty form to three offers sent.
MAX_INTERACTIONS, MAX_PAGE_LOADS = 25, 3
EVENINGS = [{"day": day, "start": "18:00", "end": "20:00"} for day in ("mon", "wed", "thu")]


def add_track(api, world, program_name, zip_code="60601", **track):
    program = api.post(
        "/api/v1/programs", payloads.program(name=program_name, zip=zip_code), token=world.tokens["coordinator"]
    )
    assert program.status_code == 201, program.json
    response = api.post(
        "/api/v1/programs/%s/tracks" % program.json["id"],
        payloads.track(**{"sessions": EVENINGS, **track}),
        token=world.tokens["coordinator"],
    )
    assert response.status_code == 201, response.json
    return response.json


class Budget:
    """Counts what the planner does: each click and each field entry, and each page the tab loads."""

    def __init__(self, page):
        self.page, self.interactions, self.loads = page, 0, 0
        page.on("framenavigated", lambda frame: self._loaded(frame))

    def _loaded(self, frame):
        if frame == self.page.main_frame:
            self.loads += 1

    def fill(self, label, value):
        self.interactions += 1
        self.page.get_by_label(label).fill(value)

    def choose(self, label, value):
        self.interactions += 1
        self.page.get_by_label(label).select_option(value)

    def click(self, locator):
        self.interactions += 1
        locator.click()


def test_typical_referral_to_three_offers_within_25_interactions_and_3_page_loads(
    app, live, page, emails, api, world, record_property, capsys
):
    for name in ("Lakeview Evening IOP", "Riverside IOP", "Northside IOP"):
        add_track(api, world, name)
    sign_in(page, live.url, emails["planner"], PASSWORD)
    budget = Budget(page)
    page.goto(live.url + "/referrals/new")  # the empty form: page 1
    assert_accessible(page)
    budget.fill("Given name", "Maria")
    budget.fill("Family name", "Lopez")
    budget.fill("Birth date", "1990-04-12")
    budget.choose("Gender", "female")
    budget.fill("Home ZIP code", "60614")
    budget.choose("Health plan", "acme-health")
    budget.fill("Member id", "ACM123456")
    budget.choose("Discharged from", "inpatient_psych")
    budget.choose("Care needed", "mental_health")
    budget.fill("ICD-10-CM diagnosis codes", "F33.1")
    budget.fill("Discharge date", "2026-12-03")
    # Evenings Monday to Thursday: the weekday evenings, then Friday's button clears Friday.
    budget.click(page.get_by_role("button", name="Weekday evenings"))
    budget.click(page.get_by_role("button", name="Fri", exact=True))
    assert page.get_by_label("Thursday 20:00 to 21:00").is_checked()
    assert not page.get_by_label("Friday 18:00 to 19:00").is_checked()
    budget.click(page.get_by_label("The patient signed the consent"))  # signed today, the date filled in
    assert_accessible(page)
    budget.click(page.get_by_role("button", name="Submit referral and see matches"))  # page 2
    page.wait_for_url(re.compile(r".*/referrals/[0-9a-f-]{36}$"))
    assert_accessible(page)
    for name in ("Lakeview Evening IOP", "Riverside IOP", "Northside IOP"):
        budget.click(page.get_by_label(name))
    budget.click(page.get_by_role("button", name="Send offers"))  # page 3
    page.get_by_text("Offers sent to").wait_for()
    assert_accessible(page)
    notice = page.get_by_role("status").filter(has_text="Offers sent to").inner_text()
    assert re.fullmatch(r"Offers sent to [\w ]+, [\w ]+ and [\w ]+\.", notice.strip()), notice
    assert page.get_by_text("Choose up to").count() == 0
    referral_id = page.url.rsplit("/", 1)[1]
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert [w["day"] for w in referral.availability] == ["mon", "tue", "wed", "thu"]
        assert referral.consent_signed_on is not None
        assert db.session.query(Offer).filter_by(referral_id=referral_id, status="pending").count() == 3
    record_property("interactions", budget.interactions)
    record_property("page_loads", budget.loads)
    with capsys.disabled():
        print(
            "\nplanner budget: %d interactions (at most %d), %d page loads (at most %d)"
            % (budget.interactions, MAX_INTERACTIONS, budget.loads, MAX_PAGE_LOADS)
        )
    assert budget.interactions <= MAX_INTERACTIONS and budget.loads <= MAX_PAGE_LOADS


# What has the focus, by its aria-label, else its id, else its text.
ACTIVE = """() => { const el = document.activeElement;
  return el && (el.getAttribute('aria-label') || el.id || el.textContent.trim()); }"""


def test_the_week_grid_is_one_tab_stop_worked_with_arrow_keys_with_a_skip_link(app, live, page, emails):
    sign_in(page, live.url, emails["planner"], PASSWORD)
    page.goto(live.url + "/referrals/new")
    # The skip link passes the grid in one Enter.
    page.get_by_label("Only the hours marked below (in the patient's time zone)").focus()
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE) == "Skip the week grid"
    assert page.get_by_role("link", name="Skip the week grid").is_visible()  # shown when focused
    assert_accessible(page)
    page.keyboard.press("Enter")
    assert page.evaluate(ACTIVE) == "modality"  # the next field after the grid
    # Into the grid: one Tab from the last quick fill; arrows move; Space and Shift+arrow mark.
    page.get_by_role("button", name="Clear", exact=True).focus()
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE) == "Monday 06:00 to 07:00"
    for _ in range(11):
        page.keyboard.press("ArrowDown")
    assert page.evaluate(ACTIVE) == "Monday 17:00 to 18:00"
    page.keyboard.press("Space")
    for _ in range(3):
        page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    assert page.evaluate(ACTIVE) == "Tuesday 20:00 to 21:00"
    marked = page.eval_on_selector_all("#availability-grid input:checked", "boxes => boxes.map(b => b.value)")
    assert marked == ["mon-17", "mon-18", "mon-19", "mon-20", "tue-20"]
    # Up from the first hour reaches the day's button; Enter on it clears that day.
    page.keyboard.press("ArrowLeft")
    for _ in range(20):
        page.keyboard.press("ArrowUp")
    assert page.evaluate(ACTIVE) == "Mon"
    page.keyboard.press("Enter")
    assert page.eval_on_selector_all("#availability-grid input:checked", "b => b.map(x => x.value)") == ["tue-20"]
    # One Tab leaves the grid: 126 checkboxes are one stop.
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE) == "modality"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(ACTIVE) == "Mon"  # back where the grid was left
    assert_accessible(page)


def test_the_time_zone_select_is_not_clipped_at_1366_px(app, live, page, emails):
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, live.url, emails["planner"], PASSWORD)
    page.goto(live.url + "/referrals/new")
    overflow = page.evaluate(
        """() => {
          const select = document.getElementById('timezone');
          const style = getComputedStyle(select);
          const context = document.createElement('canvas').getContext('2d');
          context.font = style.font;
          // The room for text: the box less its padding and the drop-down arrow (about 24 px in Chromium).
          const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 24;
          return Array.from(select.options).map(o => [o.text, context.measureText(o.text).width - room])
            .filter(([text, over]) => over > 0);
        }"""
    )
    assert overflow == []
    assert_accessible(page)


def test_notes_say_how_much_is_left_and_an_oversized_form_keeps_what_was_typed(app, live, page, emails):
    sign_in(page, live.url, emails["planner"], PASSWORD)
    page.goto(live.url + "/referrals/new")
    notes = page.get_by_label("Notes for the care team (optional)")
    assert notes.get_attribute("maxlength") == "5000"
    notes.fill("Prefers evening groups.")
    assert page.locator(".notes-count").inner_text() == "4977 characters left."
    notes.fill("x" * 6000)  # the browser stops at the limit, and the page says so
    assert len(notes.input_value()) == 5000
    assert page.locator(".notes-count").inner_text() == "No characters left."
    # A browser that lets more through (the limit removed): the form is stopped before it is sent, nothing lost.
    page.evaluate("document.getElementById('notes').removeAttribute('maxlength')")
    page.evaluate("document.getElementById('notes').value = 'y'.repeat(300000)")
    page.get_by_label("Given name").fill("Maria")
    url = page.url
    page.get_by_role("button", name="Submit referral and see matches").click()
    assert page.get_by_role("alert").filter(has_text="The form is too large to send").is_visible()
    assert page.url == url and len(notes.input_value()) == 300000
    assert page.get_by_label("Given name").input_value() == "Maria"
    assert_accessible(page)


def test_few_matches_show_what_would_widen_them_and_the_edit_form_takes_one_click(app, live, page, emails, api, world):
    add_track(api, world, "Northside IOP")
    add_track(api, world, "Anywhere Telehealth IOP", modality="telehealth")
    add_track(
        api,
        world,
        "Lakeview",
        name="Evening IOP",
        sessions=[
            {"day": "mon", "start": "18:00", "end": "20:00"},
            {"day": "tue", "start": "18:00", "end": "21:30"},
            {"day": "thu", "start": "18:00", "end": "20:00"},
        ],
    )
    body = payloads.referral(
        modality="in_person",
        availability=[{"day": d, "start": "17:00", "end": "21:00"} for d in ("mon", "tue", "wed", "thu")],
    )
    created = api.post("/api/v1/referrals", body, token=world.tokens["planner"])
    assert created.status_code == 201, created.json
    sign_in(page, live.url, emails["planner"], PASSWORD)
    page.goto(live.url + "/referrals/%s" % created.json["id"])
    widen = page.get_by_role("region", name="What would widen the options")
    assert widen.get_by_role("link", name="Allow telehealth: +1 program").is_visible()
    near = page.get_by_role("region", name="Near misses").inner_text()
    assert "Evening IOP at Lakeview: its Tuesday session ends 21:30, after the patient's window (ends 21:00)" in near
    assert "Maria" not in near
    assert_accessible(page)
    widen.get_by_role("link", name="Allow telehealth: +1 program").click()
    assert page.get_by_label("How").input_value() == "either"
    assert_accessible(page)
    page.get_by_role("button", name="Save changes and see matches").click()
    page.get_by_text("Referral updated.").wait_for()
    assert page.get_by_label("Anywhere Telehealth IOP").is_visible()
    assert_accessible(page)


def test_error_states_of_the_planner_forms_are_plain_and_accessible(app, live, page, emails, api, world):
    sign_in(page, live.url, emails["planner"], PASSWORD)
    page.goto(live.url + "/referrals/new")
    page.get_by_label("ICD-10-CM diagnosis codes").fill("F33 ZZZ")
    page.get_by_role("button", name="Submit referral and see matches").click()
    summary = page.locator("#error-summary").inner_text()
    assert "Health plan: Choose the patient's health plan, or Self-pay." in summary
    assert "F33 is a category, not a billable code" in summary and "ZZZ is not an ICD-10-CM code." in summary
    assert "payer_id" not in summary and "Missing data" not in summary
    assert_accessible(page)
    # The duplicate patient: words and a link, no id.
    created = api.post("/api/v1/referrals", payloads.referral(), token=world.tokens["planner"])
    assert created.status_code == 201, created.json
    page.goto(live.url + "/referrals/new")
    for label, value in (("Given name", "Maria"), ("Family name", "Lopez"), ("Birth date", "1990-04-12")):
        page.get_by_label(label).fill(value)
    page.get_by_label("Gender").select_option("female")
    page.get_by_label("Home ZIP code").fill("60614")
    page.get_by_label("Health plan").select_option("*self-pay")
    page.get_by_label("Discharged from").select_option("inpatient_psych")
    page.get_by_label("Care needed").select_option("mental_health")
    page.get_by_label("ICD-10-CM diagnosis codes").fill("F33.1")
    page.get_by_label("Discharge date").fill("2026-12-03")
    page.get_by_label("Any time").check()
    page.get_by_role("button", name="Submit referral and see matches").click()
    summary = page.locator("#error-summary")
    assert "already has an open referral from your organization (waiting for a seat)" in summary.inner_text()
    assert created.json["id"] not in summary.inner_text()
    assert_accessible(page)
    summary.get_by_role("link", name="Open the existing referral").click()
    page.wait_for_url(live.url + "/referrals/%s" % created.json["id"])
    # The edit form with a bad value.
    page.get_by_role("link", name="Change the referral").click()
    assert_accessible(page)
    page.get_by_label("Farthest travel (miles)").fill("900")
    page.get_by_role("button", name="Save changes and see matches").click()
    assert "Enter between 1 and 500 miles." in page.locator("#error-summary").inner_text()
    assert_accessible(page)
