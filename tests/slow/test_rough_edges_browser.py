"""In headless Chromium: the roster's days ahead, the programs page's search and pages, the sign-out notice and the
icon (no 404 on any page), each page state checked with axe-core."""

import re

from tests.support import payloads
from tests.support.browser import NEEDS_CHROMIUM, PASSWORD, assert_accessible, sign_in
from tests.support.offers import Scene
from transitions.core.db import db
from transitions.directory import service as programs
from transitions.directory.schemas import TrackInSchema

pytestmark = NEEDS_CHROMIUM


def test_the_roster_shows_a_day_ahead_without_buttons_and_a_late_click_gets_a_notice(
    app, live, page, api, world, emails, clock
):
    app.config.update(WEB_IDLE_TIMEOUT_SECONDS=10**6, WEB_ABSOLUTE_TIMEOUT_SECONDS=10**6)
    scene = Scene(api, world, app, clock)
    _, placement = scene.placed(scene.referral(patient={"given_name": "Maria", "family_name": "Lopez"}), scene.track())
    assert placement["intake_date"] == "2026-12-03"  # today is Tuesday Dec 1 in Chicago
    sign_in(page, live.url, emails["coordinator"], PASSWORD)
    page.goto(live.url + "/roster")
    page.get_by_label("Another day").fill("2026-12-03")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    assert page.get_by_role("row", name=re.compile("Maria Lopez")).is_visible()
    assert page.get_by_text("This session is still ahead").is_visible()
    assert page.get_by_role("button", name=re.compile("^Attended")).count() == 0
    assert_accessible(page)

    # Thursday evening in Chicago: the buttons are there. The page is left open overnight... and the clock is set
    # back, so the click arrives for a day still ahead: a notice on the roster, not an error page.
    clock.set("2026-12-03T23:00:00Z")
    page.reload()
    attended = page.get_by_role("button", name="Attended — Maria Lopez")
    assert attended.is_visible()
    assert_accessible(page)
    clock.set("2026-12-02T23:00:00Z")
    attended.click()
    page.wait_for_load_state()
    assert "/roster" in page.url
    notice = page.get_by_role("status").filter(has_text="Attendance was not recorded")
    assert notice.is_visible() and "cannot be recorded ahead" in notice.inner_text()
    assert page.get_by_role("heading", name="Roster for Thu Dec 3, 2026").is_visible()
    assert_accessible(page)
    clock.set("2026-12-03T23:00:00Z")
    page.reload()
    page.get_by_role("button", name="Attended — Maria Lopez").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").filter(has_text="Maria Lopez: attended on Thu Dec 03.").is_visible()
    assert_accessible(page)
    assert not [f for f in page.failures if "/favicon" in f[1]]


def test_programs_are_searched_and_paged_and_sign_out_says_so(app, live, page, world, emails):
    with app.app_context():
        for number in range(1, 31):
            body = payloads.program(name="Program %02d" % number)
            body["city"] = "Evanston" if number % 2 else "Chicago"
            program = programs.create_program(world.orgs["provider"], body)
            programs.create_track(program, TrackInSchema().load(payloads.track()))
        db.session.commit()
    sign_in(page, live.url, emails["coordinator"], PASSWORD)
    page.goto(live.url + "/programs")
    assert page.get_by_text("Programs 1–25 of 30 · page 1 of 2").first.is_visible()
    assert page.locator("h2[id^=program-]").count() == 25
    assert_accessible(page)
    page.get_by_role("navigation", name="Pages of programs (top)").get_by_role("link", name="Next page").click()
    page.wait_for_load_state()
    assert page.locator("h2[id^=program-]").count() == 5
    pages = page.get_by_role("navigation", name="Pages of programs (bottom)")
    assert pages.get_by_role("link", name="Page 2", exact=True).get_attribute("aria-current") == "page"
    assert_accessible(page)
    search = page.get_by_role("search", name="Find a program by name, city or track")
    search.get_by_label("City", exact=True).fill("evanston")
    search.get_by_label("Program name").fill("program 1")
    search.get_by_role("button", name="Find").click()
    page.wait_for_load_state()
    names = page.locator("h2[id^=program-]").all_inner_texts()
    assert names == ["Program 11", "Program 13", "Program 15", "Program 17", "Program 19"]
    assert search.get_by_label("City", exact=True).input_value() == "evanston"
    assert_accessible(page)
    search.get_by_label("Track name").fill("weekend")
    search.get_by_role("button", name="Find").click()
    page.wait_for_load_state()
    assert page.get_by_text("No program matches").is_visible()
    assert_accessible(page)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/sign-in.*"))
    assert page.get_by_role("status").filter(has_text="You have signed out.").is_visible()
    assert_accessible(page)
    # Every page linked the icon, and no request of the whole visit was refused.
    assert page.locator('link[rel="icon"]').get_attribute("href") == "/static/favicon.svg"
    assert page.failures == []
    assert page.evaluate("async () => (await fetch('/favicon.ico')).status") == 200
