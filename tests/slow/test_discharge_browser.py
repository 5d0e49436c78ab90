"""In headless Chromium: a case manager finds a discharge without referral on the board ("No step-down arranged"),
records a follow-up visit from the card, opens the discharge's page and the metrics; every page state passes
axe-core."""

import re

from tests.support.browser import NEEDS_CHROMIUM, PASSWORD, assert_accessible, sign_in
from tests.support.hl7msgs import adt, in1

pytestmark = NEEDS_CHROMIUM


def test_a_case_manager_calls_the_member_and_records_the_visit(app, api, world, emails, clock, live, page):
    admin = world.tokens["admin"]
    api.patch("/api/v1/organizations/%s" % world.orgs["hospital"], {"hl7_facility_ids": ["GENHOSP"]}, token=admin)
    clock.set("2026-12-02T20:00:00Z")
    sent = api.client.post(
        "/api/v1/adt",
        data=adt(extra_segments=(in1(),)),
        headers={"Authorization": "Bearer %s" % world.tokens["planner"], "Content-Type": "application/hl7-v2"},
    )
    assert sent.status_code == 200
    clock.set("2026-12-05T15:00:00Z")
    sign_in(page, live.url, emails["manager"], PASSWORD)
    page.goto(live.url + "/board")
    column = page.locator("#column-no_step_down")
    assert "Maria Lopez" in column.inner_text() and "No step-down arranged" in column.inner_text()
    assert_accessible(page)
    column.get_by_label("Follow-up visit on").fill("2026-12-04")
    column.get_by_role("button", name="Record visit").click()
    page.wait_for_load_state()
    assert page.get_by_text("Visit on Dec 04 recorded for Maria Lopez.").is_visible()
    assert_accessible(page)
    page.locator("#column-no_step_down").get_by_role("link", name="Maria Lopez").click()
    page.wait_for_url(re.compile(r".*/discharges/[0-9a-f-]{36}$"))
    assert page.get_by_role("heading", name=re.compile("Maria Lopez")).is_visible()
    assert "(day 2)" in page.inner_text("body")
    assert_accessible(page)
    page.goto(live.url + "/metrics?from=2026-12-01&to=2026-12-31")
    assert "Discharges without referral" in page.inner_text("body")
    assert_accessible(page)
