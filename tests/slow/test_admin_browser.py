"""The admin pages in headless Chromium: an admin registers a hospital's feed, makes a planner, reads the ADT inbox
and a stored message; axe-core finds nothing on any state a page reaches (empty, with errors, filled)."""

import re

from tests.support.browser import NEEDS_CHROMIUM, assert_accessible, sign_in
from tests.support.hl7msgs import adt

pytestmark = NEEDS_CHROMIUM


def test_an_admin_sets_up_a_feed_and_a_user_and_reads_the_inbox(app, api, world, live, page, emails):
    sign_in(page, live.url, emails["admin"], "correct horse battery staple")

    # Organizations: a bad form first (errors beside the fields), then a good one.
    page.goto(live.url + "/admin/organizations")
    assert_accessible(page)
    page.get_by_label("Kind").select_option("health_plan")
    page.get_by_label("HL7 facility ids").fill("NOT ALLOWED!")
    page.get_by_role("button", name="Create organization").click()
    page.wait_for_load_state()
    assert page.locator("#name-error").inner_text().strip() == "This is required."
    assert "letters, digits" in page.locator("#hl7_facility_ids-error").inner_text()
    assert page.get_by_label("HL7 facility ids").input_value() == "NOT ALLOWED!"
    assert_accessible(page)
    page.get_by_label("Name").fill("Lakeside Residential")
    page.get_by_label("Kind").select_option("residential")
    page.get_by_label("HL7 facility ids").fill("LAKESIDE")
    page.get_by_label("Time zone").select_option("America/Chicago")
    page.get_by_role("button", name="Create organization").click()
    page.wait_for_load_state()
    assert "Created Lakeside Residential (Residential program)." in page.locator("main").inner_text()
    assert_accessible(page)

    # The world's hospital gets its feed's facility id on its edit page.
    page.get_by_role("link", name="Edit hospital org").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_label("HL7 facility ids").fill("LAKESIDE")
    page.get_by_role("button", name="Save organization").click()
    page.wait_for_load_state()
    assert "already registered to Lakeside Residential" in page.locator("#hl7_facility_ids-error").inner_text()
    assert_accessible(page)
    page.get_by_label("HL7 facility ids").fill("GENHOSP")
    page.get_by_role("button", name="Save organization").click()
    page.wait_for_load_state()
    assert "Saved hospital org." in page.locator("main").inner_text()

    # Users: a mistake, then a planner whose token is shown once.
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Users").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.locator("#email").fill("new-planner@example.org")
    page.get_by_label("Organization").select_option(label="Lakeside Residential (Residential program)")
    page.get_by_role("button", name="Create user").click()
    page.wait_for_load_state()
    assert page.locator("#role-error").inner_text().strip() == "This is required."
    assert page.locator("#email").input_value() == "new-planner@example.org"
    assert_accessible(page)
    page.get_by_label("Role").select_option("discharge_planner")
    page.get_by_role("button", name="Create user").click()
    page.wait_for_load_state()
    token = page.get_by_label("Bearer token for new-planner@example.org").input_value()
    assert len(token) > 20
    assert api.get("/api/v1/users/me", token=token).json["email"] == "new-planner@example.org"
    assert_accessible(page)

    # The inbox, filtered, and one message as received.
    for control_id, trigger in (("M1", "A08"), ("M2", "A03")):
        response = api.client.post(
            "/api/v1/adt",
            data=adt(trigger=trigger, control_id=control_id),
            headers={"Authorization": "Bearer %s" % world.tokens["admin"], "Content-Type": "application/hl7-v2"},
        )
        assert response.status_code == 200
    page.goto(live.url + "/admin/adt")
    assert_accessible(page)
    page.get_by_label("State").select_option("ignored")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    assert re.search(r"state=ignored", page.url)
    assert page.locator("#adt-messages tbody tr").count() == 2
    assert_accessible(page)
    page.locator("#adt-messages tbody tr").first.get_by_role("link").click()
    page.wait_for_load_state()
    assert "Lopez^Maria" in page.locator("pre").inner_text()
    assert_accessible(page)
    page.goto(live.url + "/admin/adt?state=error")
    assert "No messages in this state." in page.locator("main").inner_text()
    assert_accessible(page)
