"""The pages on the services: referral form, matches and offers, inbox, seats, roster, board, journey, metrics,
each scoped by policy.py and audited like the API."""

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from tests.support import payloads
from transitions.core.db import db
from transitions.core.models import AuditRecord
from transitions.directory.models import WEEKDAYS, Track
from transitions.followups.models import FollowUpContact
from transitions.offers.models import Attendance, Offer, Placement
from transitions.referrals.models import Referral


@pytest.fixture
def directory(api, world):
    """Two programs of the coordinator's provider, one of provider2, all able to take payloads.referral()."""
    tracks = {}
    for key, who, name in (
        ("a", "coordinator", "Lakeview Evening IOP"),
        ("b", "coordinator", "Riverside IOP"),
        ("c", "coordinator2", "Other Provider IOP"),
    ):
        program = api.post("/api/v1/programs", payloads.program(name=name), token=world.tokens[who])
        assert program.status_code == 201, program.json
        track = api.post("/api/v1/programs/%s/tracks" % program.json["id"], payloads.track(), token=world.tokens[who])
        assert track.status_code == 201, track.json
        tracks[key] = track.json
    return tracks


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
        "patient.phone": "773-555-0199",
        "coverage.payer_id": "acme-health",
        "coverage.member_id": "ACM123456",
        "origin": "inpatient_psych",
        "need": "mental_health",
        "diagnoses": "f331",
        "discharge_date": "2026-12-03",
        "modality": "either",
        "max_travel_miles": "20",
        "availability_mode": "times",
        "availability": ["%s-%d" % (day, hour) for day in ("mon", "wed", "thu") for hour in range(17, 22)],
        "notes": "Works days.",
    }
    form.update(overrides)
    return form


def submit_referral(web, **overrides):
    response = web.post("/referrals/new", referral_form(**overrides))
    assert response.status_code == 302, text(response)
    return response.headers["Location"].rsplit("/", 1)[1]


def audit_rows(app, **where):
    with app.app_context():
        query = select(AuditRecord)
        for key, value in where.items():
            query = query.where(getattr(AuditRecord, key) == value)
        return db.session.scalars(query).all()


# ---------------------------------------------------------------- new referral


def test_the_form_builds_the_api_payload_and_the_referral_is_created(app, as_user):
    planner = as_user("planner")
    assert planner.get("/referrals/new").status_code == 200
    referral_id = submit_referral(planner)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert referral.diagnoses == ["F33.1"]  # normalized by the API's schema
        assert referral.timezone == "America/Chicago"  # left blank: the ZIP's zone
        assert referral.availability == [{"day": d, "start": "17:00", "end": "22:00"} for d in ("mon", "wed", "thu")]
        assert referral.payer_id == "acme-health" and referral.max_travel_miles == 20
    [row] = audit_rows(app, action="referral.create")
    assert row.object_id == referral_id and row.path == "/referrals/new" and row.outcome == "allowed"


def test_any_time_consent_and_a_midnight_window(app, as_user):
    planner = as_user("planner")
    any_time = submit_referral(
        planner,
        availability_mode="any",
        need="co_occurring",
        diagnoses="F33.1, F10.20",
        **{"consent.signed": "on", "consent.signed_on": "2026-11-28"},
    )
    late = submit_referral(planner, **{"patient.given_name": "Night", "availability": ["tue-22", "tue-23"]})
    with app.app_context():
        first = db.session.get(Referral, any_time)
        assert first.availability is None and first.consent_signed_on == date(2026, 11, 28)
        assert db.session.get(Referral, late).availability == [{"day": "tue", "start": "22:00", "end": "24:00"}]


def test_invalid_fields_come_back_next_to_their_inputs_and_nothing_is_created(app, as_user):
    planner = as_user("planner")
    response = planner.post(
        "/referrals/new",
        referral_form(**{"patient.given_name": "", "patient.zip": "00000", "diagnoses": "F33 ZZZ", "availability": []}),
    )
    assert response.status_code == 422
    page = text(response)
    assert 'id="patient-given_name"' in page and 'aria-invalid="true"' in page
    assert "Unknown ZIP code." in page
    assert "F33 is a category, not a billable code" in page and "ZZZ is not an ICD-10-CM code." in page
    assert "the ZIP code gives none" in page
    assert "Mark the hours the patient can attend" in page
    assert 'value="Lopez"' in page  # what was typed stays
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Referral)) == 0


def test_a_duplicate_patient_links_to_the_open_referral(app, as_user):
    planner = as_user("planner")
    first = submit_referral(planner)
    response = planner.post("/referrals/new", referral_form())
    assert response.status_code == 409
    assert "/referrals/%s" % first in text(response)


def test_icd10_search(as_user):
    planner = as_user("planner")
    by_code = planner.get("/codes/icd10.json?q=F33.1").json["items"]
    assert by_code[0]["code"] == "F33.1"
    by_words = planner.get("/codes/icd10.json?q=major depressive recurrent").json["items"]
    assert by_words and all(item["code"].startswith("F33") for item in by_words)
    assert "F33" not in [item["code"] for item in by_words]  # a category, not billable
    assert planner.get("/codes/icd10.json?q=").json["items"] == []
    assert "F10.20" in text(planner.get("/codes/icd10?q=F10.2"))


# ---------------------------------------------------------------- referral page, matches and offers


def test_the_referral_page_ranks_matches_with_reasons_and_sends_offers(app, as_user, directory):
    planner = as_user("planner")
    referral_id = submit_referral(planner)
    page = text(planner.get("/referrals/%s" % referral_id))
    assert "Lakeview Evening IOP" in page and "Riverside IOP" in page
    assert "every session fits the patient&#39;s week" in page and "accepts acme-health" in page
    assert page.count('name="track_id"') == 3
    response = planner.post(
        "/referrals/%s/offers" % referral_id, {"track_id": [directory["a"]["id"], directory["b"]["id"]]}
    )
    assert response.status_code == 302
    page = text(planner.get("/referrals/%s" % referral_id))
    assert "Offers sent to Lakeview Evening IOP and Riverside IOP." in page
    assert page.count("Offer pending") == 2 and "Choose up to 1 more program" in page
    with app.app_context():
        offers = db.session.scalars(select(Offer).where(Offer.referral_id == referral_id)).all()
        assert {o.status for o in offers} == {"pending"} and len(offers) == 2
        assert db.session.get(Referral, referral_id).status == "offered"
    assert len(audit_rows(app, action="offer.create", object_type="offer", outcome="allowed")) == 2
    assert audit_rows(app, action="referral.read", object_id=referral_id)


def test_offers_beyond_the_limit_or_without_a_seat_are_refused_one_by_one(app, as_user, directory, api, world):
    api.patch("/api/v1/tracks/%s" % directory["c"]["id"], {"capacity": 1}, token=world.tokens["coordinator2"])
    planner = as_user("planner")
    referral_id = submit_referral(planner)
    other = submit_referral(planner, **{"patient.given_name": "Other"})
    planner.post("/referrals/%s/offers" % other, {"track_id": [directory["c"]["id"]]})  # takes the only seat
    response = planner.post(
        "/referrals/%s/offers" % referral_id,
        {"track_id": [directory["a"]["id"], directory["c"]["id"], "no-such-track"]},
    )
    assert response.status_code == 302
    page = text(planner.get("/referrals/%s" % referral_id))
    assert "Offer sent to Lakeview Evening IOP." in page
    assert "Not offered — Other Provider IOP: No open seat on this track." in page
    assert "Not offered — a track that does not exist" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Offer).where(Offer.referral_id == referral_id)) == 1


def test_withdraw_and_cancel(app, as_user, directory):
    planner = as_user("planner")
    referral_id = submit_referral(planner)
    planner.post("/referrals/%s/offers" % referral_id, {"track_id": [directory["a"]["id"]]})
    with app.app_context():
        offer_id = db.session.scalar(select(Offer.id).where(Offer.referral_id == referral_id))
    assert planner.post("/referrals/%s/offers/%s/withdraw" % (referral_id, offer_id)).status_code == 302
    assert planner.post("/referrals/%s/cancel" % referral_id, {"reason": "moved away"}).status_code == 302
    with app.app_context():
        assert db.session.get(Offer, offer_id).status == "withdrawn"
        referral = db.session.get(Referral, referral_id)
        assert referral.status == "cancelled" and referral.cancel_reason == "moved away"
        assert db.session.get(Track, directory["a"]["id"]).held == 0
    page = text(planner.get("/referrals/%s" % referral_id))
    assert "Referral cancelled" in page and "moved away" in page and "Matching programs" not in page


def test_a_sud_referral_without_consent_is_matched_but_not_offered_until_consent(app, as_user, directory):
    planner = as_user("planner")
    referral_id = submit_referral(planner, need="co_occurring", diagnoses="F33.1 F10.20")
    page = text(planner.get("/referrals/%s" % referral_id))
    assert "no current 42 CFR Part 2 consent" in page and 'name="track_id"' not in page
    assert planner.post("/referrals/%s/consent" % referral_id, {"consent.signed_on": "2026-11-30"}).status_code == 302
    page = text(planner.get("/referrals/%s" % referral_id))
    assert 'name="track_id"' in page and "Part 2 consent recorded." in page
    future = planner.post("/referrals/%s/consent" % referral_id, {"consent.signed_on": "2027-01-30"})
    assert future.status_code == 302
    assert "cannot be signed in the future" in text(planner.get("/referrals/%s" % referral_id))
    with app.app_context():
        assert db.session.get(Referral, referral_id).consent_signed_on == date(2026, 11, 30)


# ---------------------------------------------------------------- coordinator


def offered(planner, directory, key="a", **overrides):
    referral_id = submit_referral(planner, **overrides)
    response = planner.post("/referrals/%s/offers" % referral_id, {"track_id": [directory[key]["id"]]})
    assert response.status_code == 302
    return referral_id


def test_the_inbox_offers_only_intake_days_and_accept_places_the_patient(app, as_user, directory):
    referral_id = offered(as_user("planner"), directory)
    coordinator = as_user("coordinator")
    page = text(coordinator.get("/offers"))
    assert "Maria Lopez" in page and "ACM123456" not in page  # minimum necessary: no member id
    options = re.findall(r'<option value="(\d{4}-\d{2}-\d{2})"', page)
    assert options and options[0] == "2026-12-03"
    assert all(WEEKDAYS[date.fromisoformat(day).weekday()] in ("mon", "wed", "thu") for day in options)
    offer_id = re.search(r'action="/offers/([^/]+)/accept"', page).group(1)
    assert coordinator.post("/offers/%s/accept" % offer_id, {"intake_date": "2026-12-03"}).status_code == 302
    assert "Accepted: Maria Lopez starts on Thu Dec 03." in text(coordinator.get("/offers"))
    with app.app_context():
        placement = db.session.scalar(select(Placement).where(Placement.referral_id == referral_id))
        assert placement.intake_date == date(2026, 12, 3)
        assert db.session.get(Referral, referral_id).status == "placed"
    assert audit_rows(app, action="placement.create", object_id=placement.id)
    assert audit_rows(app, action="referral.read", object_id=referral_id, user_id=None) == []


def test_a_tampered_intake_date_or_decline_reason_changes_nothing(app, as_user, directory):
    referral_id = offered(as_user("planner"), directory)
    coordinator = as_user("coordinator")
    offer_id = re.search(r'action="/offers/([^/]+)/accept"', text(coordinator.get("/offers"))).group(1)
    tuesday = coordinator.post("/offers/%s/accept" % offer_id, {"intake_date": "2026-12-08"})
    assert tuesday.status_code == 422 and "this track takes new patients on mon, wed, thu" in text(tuesday)
    bad_reason = coordinator.post("/offers/%s/decline" % offer_id, {"reason": "because"})
    assert bad_reason.status_code == 422
    with app.app_context():
        assert db.session.get(Offer, offer_id).status == "pending"
        assert db.session.get(Referral, referral_id).status == "offered"
    declined = coordinator.post("/offers/%s/decline" % offer_id, {"reason": "schedule", "note": "full on Thursdays"})
    assert declined.status_code == 302
    with app.app_context():
        offer = db.session.get(Offer, offer_id)
        assert offer.status == "declined" and offer.decline_note == "full on Thursdays"
    page = text(as_user("planner").get("/referrals/%s" % referral_id))
    assert "Schedule does not fit: full on Thursdays" in page


def test_programs_show_live_seats_and_capacity_edits_respect_them(app, as_user, directory):
    offered(as_user("planner"), directory)
    coordinator = as_user("coordinator")
    page = text(coordinator.get("/programs"))
    assert "Lakeview Evening IOP" in page and "Other Provider IOP" not in page
    seats = coordinator.get("/programs/seats.json").json
    assert seats[directory["a"]["id"]] == {"capacity": 8, "occupied": 0, "held": 1, "open": 7}
    track_form = text(coordinator.get("/tracks/%s/edit" % directory["a"]["id"]))
    assert 'value="18:00"' in track_form
    form = {
        "name": "Evening track",
        "modality": "in_person",
        "timezone": "America/Chicago",
        "capacity": "0",
        "active": "on",
        "session_rows": "3",
        "intake_days": ["mon", "thu"],
    }
    for index, day in enumerate(("mon", "wed", "thu")):
        form.update(
            {"session-%d-day" % index: day, "session-%d-start" % index: "18:00", "session-%d-end" % index: "21:00"}
        )
    too_low = coordinator.post("/tracks/%s/edit" % directory["a"]["id"], form)
    assert too_low.status_code == 422 and "greater than or equal to 1" in text(too_low)
    saved = coordinator.post("/tracks/%s/edit" % directory["a"]["id"], dict(form, capacity="5"))
    assert saved.status_code == 302
    with app.app_context():
        track = db.session.get(Track, directory["a"]["id"])
        assert track.capacity == 5 and track.intake_days == ["mon", "thu"] and track.held == 1
    at_held = coordinator.post("/tracks/%s/edit" % directory["a"]["id"], dict(form, capacity="1"))
    assert at_held.status_code == 302  # 1 seat = occupied 0 + held 1: allowed
    with app.app_context():
        assert db.session.get(Track, directory["a"]["id"]).capacity == 1


def test_capacity_below_occupied_plus_held_is_refused(app, as_user, directory):
    offered(as_user("planner"), directory)
    offered(as_user("planner"), directory, **{"patient.given_name": "Second"})
    coordinator = as_user("coordinator")
    form = {
        "name": "Evening track",
        "modality": "in_person",
        "timezone": "America/Chicago",
        "capacity": "1",
        "active": "on",
        "session_rows": "3",
    }
    for index, day in enumerate(("mon", "wed", "thu")):
        form.update(
            {"session-%d-day" % index: day, "session-%d-start" % index: "18:00", "session-%d-end" % index: "21:00"}
        )
    response = coordinator.post("/tracks/%s/edit" % directory["a"]["id"], form)
    assert response.status_code == 409 and "Capacity 1 is below the 0 seats occupied and 2 held." in text(response)
    with app.app_context():
        assert db.session.get(Track, directory["a"]["id"]).capacity == 8


def test_program_edit_and_new_track(app, as_user, directory):
    coordinator = as_user("coordinator")
    program_id = directory["a"]["program_id"]
    form = text(coordinator.get("/programs/%s/edit" % program_id))
    assert 'value="Lakeview Evening IOP"' in form and 'value="en, es"' in form
    data = {
        "name": "Lakeview IOP",
        "zip": "60601",
        "state": "il",
        "phone": "312-555-0100",
        "services": ["mental_health"],
        "accepts_from": ["inpatient_psych"],
        "languages": "en es",
        "payers": "acme-health",
        "telehealth_states": "",
        "min_age": "18",
        "max_age": "64",
        "gender": "any",
        "active": "on",
    }
    assert coordinator.post("/programs/%s/edit" % program_id, data).status_code == 302
    bad = coordinator.post("/programs/%s/edit" % program_id, dict(data, zip="00000", languages="xx"))
    assert bad.status_code == 422 and "Unknown ZIP code." in text(bad)
    new = {
        "name": "Morning track",
        "modality": "telehealth",
        "timezone": "America/Chicago",
        "capacity": "6",
        "active": "on",
        "session_rows": "3",
    }
    for index, day in enumerate(("tue", "wed", "fri")):
        new.update(
            {"session-%d-day" % index: day, "session-%d-start" % index: "09:00", "session-%d-end" % index: "12:00"}
        )
    assert coordinator.post("/programs/%s/tracks/new" % program_id, new).status_code == 302
    short = coordinator.post("/programs/%s/tracks/new" % program_id, dict(new, session_rows="1"))
    assert short.status_code == 422 and "6 to 30 hours a week" in text(short)
    page = text(coordinator.get("/programs"))
    assert "Lakeview IOP" in page and "Morning track" in page


def test_roster_records_attendance_in_one_click(app, as_user, directory, clock):
    app.config.update(WEB_IDLE_TIMEOUT_SECONDS=10**6, WEB_ABSOLUTE_TIMEOUT_SECONDS=10**6)
    referral_id = offered(as_user("planner"), directory)
    coordinator = as_user("coordinator")
    offer_id = re.search(r'action="/offers/([^/]+)/accept"', text(coordinator.get("/offers"))).group(1)
    coordinator.post("/offers/%s/accept" % offer_id, {"intake_date": "2026-12-03"})
    assert "No sessions with active patients today" in text(coordinator.get("/roster"))  # a Tuesday
    clock.set("2026-12-03T23:00:00Z")  # Thursday 17:00 in Chicago
    page = text(coordinator.get("/roster"))
    assert "Maria Lopez" in page and "First day" in page
    placement_id = re.search(r'name="placement_id" value="([^"]+)"', page).group(1)
    response = coordinator.post(
        "/roster/attendance", {"placement_id": placement_id, "date": "2026-12-03", "status": "attended"}
    )
    assert response.status_code == 302
    page = text(coordinator.get("/roster"))
    assert "Maria Lopez: attended on Thu Dec 03." in page and "attendance-attended" in page
    with app.app_context():
        assert db.session.scalar(select(Attendance.status).where(Attendance.placement_id == placement_id)) == "attended"
        assert db.session.get(Referral, referral_id).status == "attending"
    twice = coordinator.post(
        "/roster/attendance", {"placement_id": placement_id, "date": "2026-12-03", "status": "missed"}
    )
    # A refusal is said on the roster it came from, and nothing changes.
    assert twice.status_code == 303 and twice.headers["Location"] == "/roster"
    assert "Attendance was not recorded: Attendance for 2026-12-03 is already recorded (attended)." in text(
        coordinator.get("/roster")
    )
    with app.app_context():
        assert db.session.scalar(select(Attendance.status).where(Attendance.placement_id == placement_id)) == "attended"


# ---------------------------------------------------------------- case manager


def test_board_columns_follow_the_referral_and_filters_apply(app, as_user, directory):
    planner = as_user("planner")
    waiting = submit_referral(planner, **{"patient.given_name": "Wanda"})
    offered_id = offered(planner, directory, **{"patient.given_name": "Oscar"})
    submit_referral(planner, **{"patient.given_name": "Sam", "need": "co_occurring", "diagnoses": "F33.1 F10.20"})
    manager = as_user("manager")
    page = text(manager.get("/board"))

    def column_of(page, name):
        for key in ("waiting", "offered", "placed", "attending", "ended"):
            section = page.split('id="column-%s"' % key, 1)[1].split("</section>", 1)[0]
            if name in section:
                return key
        return None

    assert column_of(page, "Wanda Lopez") == "waiting" and column_of(page, "Oscar Lopez") == "offered"
    filtered = text(manager.get("/board?need=co_occurring"))
    assert "Sam Lopez" in filtered and "Wanda Lopez" not in filtered
    assert "Ignored filters" in text(manager.get("/board?need=bogus"))
    assert len(audit_rows(app, action="stepdown.list", object_id=waiting)) >= 1
    coordinator = as_user("coordinator")
    offer_id = re.search(r'action="/offers/([^/]+)/accept"', text(coordinator.get("/offers"))).group(1)
    coordinator.post("/offers/%s/accept" % offer_id, {"intake_date": "2026-12-03"})
    assert column_of(text(manager.get("/board")), "Oscar Lopez") == "placed"
    assert offered_id


def test_overdue_and_missed_are_flagged(app, as_user, clock):
    app.config.update(WEB_IDLE_TIMEOUT_SECONDS=10**7, WEB_ABSOLUTE_TIMEOUT_SECONDS=10**7)
    submit_referral(as_user("planner"))
    manager = as_user("manager")
    clock.set("2026-12-05T12:00:00Z")  # intake_scheduled (day 1) closed, not yet swept
    assert "Overdue: Intake scheduled (day 1)" in text(manager.get("/board"))
    from transitions import scheduler

    scheduler.run_pass(app, clock.now)
    page = text(manager.get("/board"))
    assert "Missed: Intake scheduled (day 1)" in page
    assert "Maria Lopez" in text(manager.get("/board?missed=true"))
    assert "Maria Lopez" not in text(manager.get("/board?overdue=true"))


def test_the_journey_shows_the_path_and_records_outreach(app, as_user, directory):
    referral_id = offered(as_user("planner"), directory)
    manager = as_user("manager")
    page = text(manager.get("/members/%s" % referral_id))
    assert "Maria Lopez" in page and "Offer sent" in page and "7-day follow-up" in page
    followup_id = re.search(r'action="/followups/([^/]+)/contact"', page).group(1)
    response = manager.post("/followups/%s/contact" % followup_id, {"note": "Left a voicemail", "reached": ""})
    assert response.status_code == 302
    assert "Left a voicemail" in text(manager.get("/members/%s" % referral_id))
    with app.app_context():
        assert db.session.scalar(select(FollowUpContact.reached)) is False
    assert audit_rows(app, action="referral.journey", object_id=referral_id)
    empty = manager.post("/followups/%s/contact" % followup_id, {"note": ""})
    assert empty.status_code == 422


def test_metrics_page_draws_the_charts(app, as_user):
    submit_referral(as_user("planner"))
    for who in ("manager", "planner", "admin"):
        page = text(as_user(who).get("/metrics?from=2026-09-01&to=2026-12-01"))
        assert page.count("<svg") == 2 and "7-day follow-up" in page and "Median days to first session" in page
    monthly = text(as_user("manager").get("/metrics?from=2026-01-01&to=2026-12-01"))
    assert "Jan 2026" in monthly
    assert audit_rows(app, action="metrics.read")
    assert as_user("coordinator").get("/metrics").status_code == 403


# ---------------------------------------------------------------- scoping: another org's data never shows


def test_another_orgs_referral_is_never_shown(app, as_user, directory):
    referral_id = offered(as_user("planner"), directory, **{"patient.given_name": "Secret"})
    checks = {
        "planner2": ["/referrals", "/board", "/referrals/%s" % referral_id, "/members/%s" % referral_id],
        "manager2": ["/board", "/referrals", "/members/%s" % referral_id, "/metrics"],
        "coordinator2": ["/offers", "/roster", "/programs"],
    }
    for who, paths in checks.items():
        client = as_user(who)
        for path in paths:
            response = client.get(path)
            assert "Secret" not in text(response), (who, path)
            if referral_id in path:
                assert response.status_code == 404, (who, path)
    denied = audit_rows(app, object_id=referral_id, outcome="denied")
    assert len(denied) >= 3
    # Writes are refused the same way.
    with app.app_context():
        offer_id = db.session.scalar(select(Offer.id).where(Offer.referral_id == referral_id))
    assert (
        as_user("coordinator2").post("/offers/%s/accept" % offer_id, {"intake_date": "2026-12-03"}).status_code == 404
    )
    assert as_user("planner2").post("/referrals/%s/cancel" % referral_id).status_code == 404
    assert as_user("coordinator2").get("/programs/%s/edit" % directory["a"]["program_id"]).status_code == 403
    assert as_user("coordinator2").get("/programs/seats.json").json.get(directory["a"]["id"]) is None
    with app.app_context():
        assert db.session.get(Offer, offer_id).status == "pending"
        assert db.session.get(Referral, referral_id).status == "offered"


def test_roles_only_reach_their_pages(as_user):
    forbidden = {
        "coordinator": ["/referrals/new", "/referrals", "/board", "/admin/users"],
        "manager": ["/referrals/new", "/offers", "/roster", "/programs", "/admin/users"],
        "planner": ["/offers", "/roster", "/programs", "/admin/users"],
    }
    for who, paths in forbidden.items():
        for path in paths:
            response = as_user(who).get(path)
            assert response.status_code == 403 and "Not available for your role" in text(response), (who, path)


def test_admin_sets_a_password(app, as_user, emails):
    admin = as_user("admin")
    page = text(admin.get("/admin/users"))
    user_id = re.search(r'action="/admin/users/([^/]+)/password"', page).group(1)
    assert admin.post("/admin/users/%s/password" % user_id, {"password": "short"}).status_code == 422
    assert admin.post("/admin/users/%s/password" % user_id, {"password": "a new long password"}).status_code == 302
    assert audit_rows(app, action="user.set_password", object_id=user_id)
