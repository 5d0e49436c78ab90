"""The case manager's board and pages with discharges without referral: the "No step-down arranged" column with a
visit form, the discharge's own page, the metrics side by side with and without ADT discharges, and the board's
wording for a future discharge and a placed member's intake."""

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from tests.support.followups import offer, program_and_track, submit
from tests.support.hl7msgs import adt, in1
from transitions.core.db import db
from transitions.discharges.models import DischargeVisit
from transitions.referrals.models import Referral

HL7 = "application/hl7-v2"


def text(response):
    return response.get_data(as_text=True)


def column(page, key):
    return page.split('id="column-%s"' % key, 1)[1].split("</section>", 1)[0]


@pytest.fixture
def discharged(app, api, world, clock):
    """Maria Lopez, an acme-health member, discharged 2026-12-02 with no referral: the feed's A03."""
    response = api.patch(
        "/api/v1/organizations/%s" % world.orgs["hospital"],
        {"hl7_facility_ids": ["GENHOSP"]},
        token=world.tokens["admin"],
    )
    assert response.status_code == 200
    clock.set("2026-12-02T20:00:00Z")
    sent = api.client.post(
        "/api/v1/adt",
        data=adt(extra_segments=(in1(),)),
        headers={"Authorization": "Bearer %s" % world.tokens["planner"], "Content-Type": HL7},
    )
    assert sent.status_code == 200, sent.data
    [item] = api.get("/api/v1/discharges", token=world.tokens["manager"]).json["items"]
    return item["id"]


def test_the_board_shows_the_member_to_call_and_records_a_visit(app, as_user, clock, discharged):
    app.config.update(WEB_IDLE_TIMEOUT_SECONDS=10**7, WEB_ABSOLUTE_TIMEOUT_SECONDS=10**7)
    manager = as_user("manager")
    clock.set("2026-12-05T15:00:00Z")
    page = text(manager.get("/board"))
    card = column(page, "no_step_down")
    assert "No step-down arranged" in page and "Maria Lopez" in card and "day 3 after discharge" in card
    assert 'action="/discharges/%s/visits"' % discharged in card
    # A visit in the future is refused on the board, and nothing is recorded.
    refused = manager.post("/discharges/%s/visits" % discharged, {"date": "2026-12-06", "back": "board"})
    assert refused.status_code == 303 and refused.headers["Location"].startswith("/board")
    assert "The visit was not recorded: A visit cannot be in the future." in text(manager.get("/board"))
    recorded = manager.post("/discharges/%s/visits" % discharged, {"date": "2026-12-04", "back": "board"})
    assert recorded.status_code == 303
    after = text(manager.get("/board"))
    assert "Visit on Dec 04 recorded for Maria Lopez." in after
    assert "last visit" in column(after, "no_step_down")
    with app.app_context():
        assert db.session.scalar(select(DischargeVisit.visit_date)) == date(2026, 12, 4)
    detail = text(manager.get("/discharges/%s" % discharged))
    assert "No step-down arranged" in detail and "7-day follow-up" in detail and "(day 2)" in detail


def test_the_discharge_page_is_scoped_and_planners_cannot_record_visits(app, as_user, discharged):
    assert as_user("manager2").get("/discharges/%s" % discharged).status_code == 404
    assert as_user("planner2").get("/discharges/%s" % discharged).status_code == 404
    planner = as_user("planner")
    page = text(planner.get("/discharges/%s" % discharged))
    assert "Maria Lopez" in page and "Record visit" not in page
    assert planner.post("/discharges/%s/visits" % discharged, {"date": "2026-12-02"}).status_code == 403
    # Another plan's board has no card for the member; the facility's own planner's board does.
    assert "Maria Lopez" not in column(text(as_user("manager2").get("/board")), "no_step_down")
    assert "Maria Lopez" in column(text(planner.get("/board")), "no_step_down")


def test_outreach_on_a_discharge_check_returns_to_its_page(app, as_user, discharged):
    manager = as_user("manager")
    page = text(manager.get("/discharges/%s" % discharged))
    followup_id = re.search(r'action="/followups/([^/]+)/contact"', page).group(1)
    response = manager.post("/followups/%s/contact" % followup_id, {"note": "Left a voicemail", "reached": ""})
    assert response.status_code == 302 and response.headers["Location"].startswith("/discharges/%s" % discharged)
    assert "Left a voicemail" in text(manager.get("/discharges/%s" % discharged))


def test_metrics_show_the_rates_with_and_without_adt_side_by_side(app, api, world, as_user, clock, discharged):
    clock.set("2027-01-10T12:00:00Z")
    page = text(as_user("manager").get("/metrics?from=2026-12-01&to=2026-12-31"))
    assert "Discharges without referral" in page
    assert "referrals: 0 of 0" in page and "every discharge (with ADT): 0 of 1" in page


def test_a_future_discharge_is_said_as_planned(app, api, world, as_user):
    submit(api, world, discharge_date="2026-12-05")  # the clock says Dec 1
    card = column(text(as_user("manager").get("/board")), "waiting")
    assert "discharge planned Sat Dec 5, 2026, in 4 days" in card
    assert "discharged in" not in card


def test_a_placed_members_intake_is_one_clear_status(app, api, world, as_user, clock):
    referral_id = submit(api, world)  # discharge 2026-12-03
    program_id, track_id = program_and_track(api, world)
    offer(
        app,
        referral_id,
        program_id,
        track_id,
        intake_date=date(2026, 12, 7),
        decided_at=datetime(2026, 12, 5, 12, tzinfo=UTC),
    )
    with app.app_context():
        db.session.get(Referral, referral_id).status = "placed"
        db.session.commit()
    app.config.update(WEB_IDLE_TIMEOUT_SECONDS=10**7, WEB_ABSOLUTE_TIMEOUT_SECONDS=10**7)
    manager = as_user("manager")
    clock.set("2026-12-05T18:00:00Z")  # the day-1 intake check's window closed, not yet swept
    card = column(text(manager.get("/board")), "placed")
    assert "Intake Mon Dec 7, 2026 at Lakeview Evening IOP, Evening track<" in card
    assert "Overdue: Intake scheduled" not in card and "Next: Intake scheduled" not in card
    clock.set("2026-12-08T18:00:00Z")
    assert "Intake was Mon Dec 7, 2026 at Lakeview Evening IOP, Evening track: no session recorded yet" in column(
        text(manager.get("/board")), "placed"
    )


def test_the_journey_of_a_referral_names_the_discharge_it_took_over(app, api, world, as_user, discharged):
    referral_id = submit(api, world, discharge_date="2026-12-02")
    page = text(as_user("manager").get("/members/%s" % referral_id))
    assert "Discharges this referral took over" in page and 'href="/discharges/%s"' % discharged in page
    adopted = text(as_user("manager").get("/discharges/%s" % discharged))
    assert "Adopted by a referral" in adopted and 'href="/members/%s"' % referral_id in adopted
    assert "Maria Lopez" not in column(text(as_user("manager").get("/board")), "no_step_down")
