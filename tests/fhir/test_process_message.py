"""POST /fhir/r4/$process-message: a Da Vinci-style discharge notification (a message Bundle whose MessageHeader's
focus is an Encounter with period.end) is stored in the ADT inbox (channel fhir) and applied as an ADT^A03 is: an
open referral's discharge date moves with its follow-up checks, a plan member without referral gets a discharge
without referral; a message id sent again is answered the same and changes nothing; bad input is a 4xx
OperationOutcome naming the element, kept in the inbox as rejected. Every FHIR resource these tests receive is
validated by FHIR.js (tests/fhir/conftest.py's autouse fixture), the response message Bundles included."""

import copy
import html
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from tests.fhir.conftest import FHIR_JSON
from tests.support.followups import submit
from tests.support.hl7msgs import register
from transitions.adt import commands as adt_commands
from transitions.adt.models import AdtMessage
from transitions.core.db import db
from transitions.discharges.models import Discharge
from transitions.identity.models import User
from transitions.notify.models import Event

EVENT_SYSTEM = "http://hl7.org/fhir/us/davinci-alerts/CodeSystem/notification-event"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# The feed's clock: the evening of the discharge day (period.end 2026-12-02, Chicago's afternoon).
AFTER_DISCHARGE = "2026-12-02T20:00:00Z"


def notification(message_id="discharge-0001", discharged="2026-12-02T14:15:00-06:00", facility="GENHOSP"):
    """Maria Lopez (1990-04-12, acme-health member ACM123456) discharged from GENHOSP's inpatient unit."""
    organization = {
        "resourceType": "Organization",
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.0", "value": facility}],
        "name": "General Hospital",
    }
    header = {
        "resourceType": "MessageHeader",
        "id": message_id,
        "eventCoding": {"system": EVENT_SYSTEM, "code": "notification-discharge", "display": "Discharge Notification"},
        "source": {"name": "General Hospital ADT", "endpoint": "https://genhosp.example.org/fhir"},
        "sender": {"reference": "urn:uuid:organization"},
        "focus": [{"reference": "urn:uuid:encounter"}],
    }
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": ACT_CODE, "code": "IMP"},
        "subject": {"reference": "urn:uuid:patient"},
        "period": {"start": "2026-11-25T09:30:00-06:00", "end": discharged},
        "serviceProvider": {"reference": "urn:uuid:organization"},
    }
    patient = {
        "resourceType": "Patient",
        "identifier": [
            {
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                "value": "MRN123",
            }
        ],
        "name": [{"use": "official", "family": "Lopez", "given": ["Maria"]}],
        "birthDate": "1990-04-12",
    }
    coverage = {
        "resourceType": "Coverage",
        "status": "active",
        "beneficiary": {"reference": "urn:uuid:patient"},
        "subscriberId": "ACM123456",
        "payor": [{"identifier": {"value": "acme-health"}}],
    }
    resources = [
        ("header", header),
        ("encounter", encounter),
        ("patient", patient),
        ("coverage", coverage),
        ("organization", organization),
    ]
    return {
        "resourceType": "Bundle",
        "id": "bundle-%s" % message_id,
        "type": "message",
        "timestamp": "2026-12-02T14:16:00-06:00",
        "entry": [{"fullUrl": "urn:uuid:%s" % name, "resource": resource} for name, resource in resources],
    }


def resource(bundle, kind):
    return next(entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == kind)


def post(fhir, body, who="planner"):
    return fhir.post("/$process-message", body, who=who)


def stored(app):
    with app.app_context():
        rows = db.session.scalars(select(AdtMessage).order_by(AdtMessage.received_at, AdtMessage.id)).all()
        db.session.expunge_all()
        return rows


def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def followups(api, world, referral_id):
    response = api.get("/api/v1/referrals/%s/followups" % referral_id, token=world.tokens["planner"])
    assert response.status_code == 200, response.json
    return {item["check"]: item["due_date"] for item in response.json["items"]}


def referral_updates(app, referral_id):
    return count(app, Event, Event.referral_id == referral_id, Event.type == "referral.updated")


def assert_ok(response, message_id):
    """A response message Bundle: MessageHeader.response answering the message id with ok."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON  # so the conftest's FHIR.js validation reads it
    bundle = response.json
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "message"
    header = bundle["entry"][0]["resource"]
    assert header["resourceType"] == "MessageHeader"
    assert header["eventCoding"]["code"] == "notification-discharge"
    assert header["response"]["identifier"] == message_id and header["response"]["code"] == "ok"
    details = bundle["entry"][1]
    assert header["response"]["details"]["reference"] == details["fullUrl"]
    assert details["resource"]["resourceType"] == "OperationOutcome"
    return details["resource"]["issue"][0]["diagnostics"]


@pytest.fixture
def registered(api, world):
    register(api, world)


# ---------------------------------------------------------------- applied as an A03


def test_a_discharge_for_an_open_referral_moves_its_date_and_follow_ups(app, api, world, fhir, registered):
    referral_id = submit(api, world)  # Maria Lopez, 1990-04-12, planned discharge 2026-12-03
    before = followups(api, world, referral_id)
    body = notification()

    response = post(fhir, body)

    assert "discharge date became 2026-12-02" in assert_ok(response, "discharge-0001")
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json
    assert referral["discharge_date"] == "2026-12-02"  # the Encounter's own calendar day, as the hospital's clock
    after = followups(api, world, referral_id)
    assert before["followup_7"] == "2026-12-10" and after["followup_7"] == "2026-12-09"
    assert after["followup_30"] == "2027-01-01"
    timeline = api.get("/api/v1/referrals/%s/timeline" % referral_id, token=world.tokens["planner"]).json["items"]
    assert timeline[-1]["type"] == "referral.updated"
    with app.app_context():
        actor = db.session.get(User, timeline[-1]["actor_user_id"])
        assert actor.email.startswith("adt-feed+") and actor.organization_id == world.orgs["hospital"]
    [row] = stored(app)
    assert (row.channel, row.state, row.ack_code, row.referral_id) == ("fhir", "processed", "AA", referral_id)
    assert (row.facility_id, row.control_id, row.message_type, row.trigger) == (
        "GENHOSP",
        "discharge-0001",
        "FHIR",
        "discharge",
    )
    assert row.organization_id == world.orgs["hospital"] and row.message_key.startswith("fhir:")
    assert json.loads(row.raw) == body  # the bytes as they came


@pytest.mark.parametrize(
    "end, day",
    [
        ("2026-12-03T05:30:00Z", "2026-12-02"),
        ("2026-12-03T05:30:00+00:00", "2026-12-02"),
        ("2026-12-03T05:30:00-05:00", "2026-12-03"),
    ],
)
def test_a_discharge_end_in_utc_falls_on_the_facilitys_day(app, api, world, fhir, clock, registered, end, day):
    api.patch(
        "/api/v1/organizations/%s" % world.orgs["hospital"],
        {"timezone": "America/Chicago"},
        token=world.tokens["admin"],
    )
    referral_id = submit(api, world, discharge_date="2026-12-05")  # planned: every case moves it
    clock.set("2026-12-03T11:00:00Z")
    assert_ok(post(fhir, notification(discharged=end)), "discharge-0001")
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json
    assert referral["discharge_date"] == day


def test_a_referral_under_the_first_given_name_alone_is_matched(app, api, world, fhir, registered):
    referral_id = submit(api, world)  # Maria Lopez
    body = notification()
    resource(body, "Patient")["name"][0]["given"] = ["Maria", "Elena"]
    assert "discharge date became 2026-12-02" in assert_ok(post(fhir, body), "discharge-0001")
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json
    assert referral["discharge_date"] == "2026-12-02"


def test_a_discharge_of_several_given_names_is_adopted_by_a_referral_of_the_first_alone(
    app, api, world, fhir, clock, registered
):
    clock.set(AFTER_DISCHARGE)
    body = notification()
    resource(body, "Patient")["name"][0]["given"] = ["Maria", "Elena"]
    assert "discharge without referral was recorded" in assert_ok(post(fhir, body), "discharge-0001")
    [item] = api.get("/api/v1/discharges", token=world.tokens["manager"]).json["items"]
    referral_id = submit(api, world, discharge_date="2026-12-02")  # Maria Lopez
    detail = api.get("/api/v1/discharges/%s" % item["id"], token=world.tokens["manager"]).json
    assert (detail["status"], detail["adopted_by_referral_id"]) == ("adopted", referral_id)


@pytest.mark.parametrize("end", ["0001-01-01T02:00:00Z", "1899-12-31", "9999-12-31T23:30:00Z"])
def test_a_discharge_end_out_of_range_is_refused_not_a_crash(app, api, world, fhir, clock, registered, end):
    api.patch(
        "/api/v1/organizations/%s" % world.orgs["hospital"], {"timezone": "Asia/Tokyo"}, token=world.tokens["admin"]
    )
    response = post(fhir, notification(discharged=end))
    assert response.status_code == 422, response.data


def test_a_plan_member_without_referral_gets_a_discharge_without_referral(app, api, world, fhir, clock, registered):
    clock.set(AFTER_DISCHARGE)

    response = post(fhir, notification())

    assert "discharge without referral was recorded" in assert_ok(response, "discharge-0001")
    [item] = api.get("/api/v1/discharges", token=world.tokens["manager"]).json["items"]
    assert item["patient"] == {"given_name": "Maria", "family_name": "Lopez", "birth_date": "1990-04-12"}
    assert item["coverage"] == {"payer_id": "acme-health", "member_id": "ACM123456"}
    assert (item["discharge_date"], item["patient_class"], item["organization_id"]) == (
        "2026-12-02",
        "I",
        world.orgs["hospital"],
    )
    assert [(c["check"], c["due_date"], c["outcome"]) for c in item["followups"]] == [
        ("followup_7", "2026-12-09", None),
        ("followup_30", "2027-01-01", None),
    ]
    board = api.get("/api/v1/stepdowns", token=world.tokens["manager"]).json["items"]
    assert [(i["referral_id"], i["discharge_id"]) for i in board] == [(None, item["id"])]
    [row] = stored(app)
    assert (row.channel, row.state) == ("fhir", "processed") and item["id"] in row.reason
    # A second notification of the same discharge (another message id) finds the recorded one.
    assert "recorded before" in assert_ok(post(fhir, notification("discharge-0002")), "discharge-0002")
    assert count(app, Discharge) == 1


def test_a_notification_of_the_same_stay_with_another_end_corrects_the_discharge(
    app, api, world, fhir, clock, registered
):
    clock.set(AFTER_DISCHARGE)
    assert_ok(post(fhir, notification()), "discharge-0001")
    # The same Encounter.period.start (the stay), an earlier period.end: the recorded discharge moves.
    why = assert_ok(
        post(fhir, notification("discharge-0002", discharged="2026-12-01T16:00:00-06:00")), "discharge-0002"
    )
    assert "corrected to 2026-12-01" in why
    [item] = api.get("/api/v1/discharges", token=world.tokens["manager"]).json["items"]
    assert item["discharge_date"] == "2026-12-01"
    assert [(c["check"], c["due_date"]) for c in item["followups"]] == [
        ("followup_7", "2026-12-08"),
        ("followup_30", "2026-12-31"),
    ]


def test_a_member_id_from_the_coverage_identifier_and_a_payor_organization(app, api, world, fhir, clock, registered):
    clock.set(AFTER_DISCHARGE)
    body = notification()
    coverage = resource(body, "Coverage")
    del coverage["subscriberId"]
    coverage["identifier"] = [{"value": "ACM999"}]
    coverage["payor"] = [{"reference": "urn:uuid:payer"}]
    payer = {"resourceType": "Organization", "identifier": [{"value": "acme-health"}], "name": "Acme Health"}
    body["entry"].append({"fullUrl": "urn:uuid:payer", "resource": payer})
    assert_ok(post(fhir, body), "discharge-0001")
    [item] = api.get("/api/v1/discharges", token=world.tokens["manager"]).json["items"]
    assert item["coverage"] == {"payer_id": "acme-health", "member_id": "ACM999"}


def test_nobody_following_the_coverage_or_an_outpatient_is_ok_and_ignored(app, api, world, fhir, clock, registered):
    clock.set(AFTER_DISCHARGE)
    body = notification()
    resource(body, "Coverage")["payor"] = [{"identifier": {"value": "unknown-payer"}}]
    assert "(Coverage.payor: unknown-payer)" in assert_ok(post(fhir, body), "discharge-0001")
    outpatient = notification("discharge-0002")
    resource(outpatient, "Encounter")["class"] = {"system": ACT_CODE, "code": "AMB"}
    assert "only inpatient" in assert_ok(post(fhir, outpatient), "discharge-0002")
    assert [row.state for row in stored(app)] == ["ignored", "ignored"]
    assert count(app, Discharge) == 0


def test_the_same_message_id_is_answered_again_and_changes_nothing(app, api, world, fhir, registered):
    referral_id = submit(api, world)
    first = post(fhir, notification())
    # The same message id again, even saying another date: the first message stands, answered the same.
    again = post(fhir, notification(discharged="2026-12-01"))
    assert first.status_code == again.status_code == 200
    assert again.get_data() == first.get_data()
    assert_ok(again, "discharge-0001")
    planner = world.tokens["planner"]
    assert api.get("/api/v1/referrals/%s" % referral_id, token=planner).json["discharge_date"] == "2026-12-02"
    [row] = stored(app)
    assert (row.state, row.attempts) == ("processed", 1)
    assert referral_updates(app, referral_id) == 1


# ---------------------------------------------------------------- bad input


def _spoil(change):
    body = notification()
    change(body)
    return body


def _no_focus(body):
    del resource(body, "MessageHeader")["focus"]


def _focus_on_patient(body):
    resource(body, "MessageHeader")["focus"] = [{"reference": "urn:uuid:patient"}]


def _no_encounter(body):
    body["entry"] = [e for e in body["entry"] if e["resource"]["resourceType"] != "Encounter"]


def _no_period_end(body):
    del resource(body, "Encounter")["period"]["end"]


def _set(kind, element, value):
    def change(body):
        resource(body, kind)[element] = value

    return change


def _unknown_sender(body):
    resource(body, "Organization")["identifier"][0]["value"] = "NOBODY"


def _no_sender(body):
    del resource(body, "MessageHeader")["sender"]


def _header_first_no_more(body):
    body["entry"] = body["entry"][1:]


BAD_BODIES = {
    "not json": (b"hello, this is not JSON", 400, None),
    "a key twice": (b'{"resourceType": "Bundle", "resourceType": "Bundle"}', 400, None),
    "not a bundle": ({"resourceType": "Patient", "birthDate": "1990-04-12"}, 422, "Bundle"),
    "a JSON list": ([1, 2, 3], 422, "Bundle"),
    "a transaction bundle": (_spoil(lambda b: b.update(type="transaction")), 422, "Bundle.type"),
    "an unknown element": (_spoil(_set("Encounter", "dischargedOn", "2026-12-02")), 422, "Encounter"),
    "no message header first": (_spoil(_header_first_no_more), 422, "Bundle.entry[0].resource"),
    "no message id": (_spoil(lambda b: resource(b, "MessageHeader").pop("id")), 422, "MessageHeader.id"),
    "an admission event": (
        _spoil(_set("MessageHeader", "eventCoding", {"system": EVENT_SYSTEM, "code": "notification-admit"})),
        422,
        "MessageHeader.eventCoding",
    ),
    "an event by uri": (
        _spoil(lambda b: resource(b, "MessageHeader").update(eventUri="urn:x", eventCoding=None)),
        422,
        "MessageHeader.eventCoding",
    ),
    "another system's event": (
        _spoil(
            _set("MessageHeader", "eventCoding", {"system": "http://example.org", "code": "notification-discharge"})
        ),
        422,
        "MessageHeader.eventCoding",
    ),
    "no focus": (_spoil(_no_focus), 422, "MessageHeader.focus"),
    "a focus that is no encounter": (_spoil(_focus_on_patient), 422, "MessageHeader.focus"),
    "no encounter": (_spoil(_no_encounter), 422, "MessageHeader.focus[0]"),
    "no period end": (_spoil(_no_period_end), 422, "Encounter.period.end"),
    "an impossible date": (
        _spoil(lambda b: resource(b, "Encounter")["period"].update(end="2026-02-30")),
        422,
        "Encounter.period.end",
    ),
    "a time without a zone": (
        _spoil(lambda b: resource(b, "Encounter")["period"].update(end="2026-12-02T14:15:00")),
        422,
        "Encounter.period.end",
    ),
    "a discharge years away": (
        _spoil(lambda b: resource(b, "Encounter")["period"].update(end="2029-12-02")),
        422,
        "Encounter.period.end",
    ),
    "a partial birth date": (_spoil(_set("Patient", "birthDate", "1990")), 422, "Patient.birthDate"),
    "no patient name": (_spoil(_set("Patient", "name", [{"family": "Lopez"}])), 422, "Patient.name"),
    "an unknown sender": (_spoil(_unknown_sender), 422, "MessageHeader.sender"),
    "no sender": (_spoil(_no_sender), 422, "MessageHeader.sender"),
}


@pytest.mark.parametrize("case", BAD_BODIES)
def test_bad_input_is_a_4xx_outcome_stored_as_rejected_and_changes_nothing(app, api, world, fhir, registered, case):
    body, status, expression = BAD_BODIES[case]
    referral_id = submit(api, world)

    response = post(fhir, copy.deepcopy(body) if not isinstance(body, bytes) else body)

    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    outcome = response.json
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error" and issue["diagnostics"]
    assert issue.get("expression") == ([expression] if expression else None)
    [row] = stored(app)
    assert (row.channel, row.state, row.ack_code) == ("fhir", "rejected", "AR")
    assert row.raw == (body if isinstance(body, bytes) else json.dumps(body).encode())  # kept as it came
    assert row.error_field == expression and row.reason == issue["diagnostics"]
    planner = world.tokens["planner"]
    assert api.get("/api/v1/referrals/%s" % referral_id, token=planner).json["discharge_date"] == "2026-12-03"
    assert referral_updates(app, referral_id) == 0 and count(app, Discharge) == 0


def test_a_discharge_after_the_facilitys_today_is_refused_naming_the_encounter(app, api, world, fhir, registered):
    # No referral, a plan member: the discharge without referral may not be dated after the facility's today.
    response = post(fhir, notification(discharged="2026-12-05"))
    assert response.status_code == 422
    [issue] = response.json["issue"]
    assert issue["expression"] == ["Encounter.period.end"] and "PV1" not in issue["diagnostics"]
    assert "future" in issue["diagnostics"]
    [row] = stored(app)
    assert row.state == "rejected" and count(app, Discharge) == 0
    # Answered the same again, and still nothing recorded.
    assert post(fhir, notification(discharged="2026-12-05")).get_data() == response.get_data()
    assert len(stored(app)) == 1 and count(app, Discharge) == 0


# ---------------------------------------------------------------- who may speak for a facility


def test_a_planner_of_another_hospital_cannot_speak_for_this_facility(app, api, world, fhir, registered):
    referral_id = submit(api, world)
    response = post(fhir, notification(discharged="2026-12-01"), who="planner2")
    assert response.status_code == 422
    assert response.json["issue"][0]["expression"] == ["MessageHeader.sender"]
    [row] = stored(app)
    assert row.state == "rejected" and row.message_key is None  # claims no key: cannot block the real message
    planner = world.tokens["planner"]
    assert api.get("/api/v1/referrals/%s" % referral_id, token=planner).json["discharge_date"] == "2026-12-03"
    # The facility's own planner sends the same message id: applied.
    assert_ok(post(fhir, notification()), "discharge-0001")
    assert api.get("/api/v1/referrals/%s" % referral_id, token=planner).json["discharge_date"] == "2026-12-02"
    assert sorted(row.state for row in stored(app)) == ["processed", "rejected"]


def test_an_admin_speaks_for_any_registered_facility(app, api, world, fhir, registered):
    referral_id = submit(api, world)
    assert_ok(post(fhir, notification(), who="admin"), "discharge-0001")
    planner = world.tokens["planner"]
    assert api.get("/api/v1/referrals/%s" % referral_id, token=planner).json["discharge_date"] == "2026-12-02"


def test_a_planner_may_name_their_own_organization_as_sender(app, api, world, fhir):
    """No facility id registered: MessageHeader.sender Organization/{id} of the planner's own organization."""
    referral_id = submit(api, world)
    body = notification()
    resource(body, "MessageHeader")["sender"] = {"reference": "Organization/%s" % world.orgs["hospital"]}
    assert_ok(post(fhir, body), "discharge-0001")
    planner = world.tokens["planner"]
    assert api.get("/api/v1/referrals/%s" % referral_id, token=planner).json["discharge_date"] == "2026-12-02"
    # Another organization's id is refused for a planner, and a health plan is no sender for anyone.
    resource(body, "MessageHeader")["id"] = "discharge-0002"
    assert post(fhir, body, who="planner2").status_code == 422
    resource(body, "MessageHeader")["sender"] = {"reference": "Organization/%s" % world.orgs["plan"]}
    refused = post(fhir, body, who="admin")
    assert refused.status_code == 422 and refused.json["issue"][0]["expression"] == ["MessageHeader.sender"]


def test_coordinators_case_managers_and_strangers_cannot_post_and_leave_nothing(app, fhir, registered):
    for who, status in (("coordinator", 403), ("manager", 403), (None, 401)):
        response = post(fhir, notification(), who=who)
        assert response.status_code == status
        assert response.json["resourceType"] == "OperationOutcome"
    assert stored(app) == []


def test_a_rejected_message_is_applied_by_reprocess_once_its_facility_is_registered(app, api, world, fhir, clock):
    clock.set(AFTER_DISCHARGE)
    assert post(fhir, notification(), who="admin").status_code == 422  # GENHOSP registered to nobody yet
    register(api, world)
    with app.app_context():
        counts = adt_commands.reprocess(None, datetime(2026, 12, 2, 21, tzinfo=UTC))
    assert counts == {"processed": 1}
    [row] = stored(app)
    assert (row.state, row.attempts, row.organization_id) == ("processed", 2, world.orgs["hospital"])
    assert count(app, Discharge) == 1
    # The sender's retry is now answered with the processed message's ok.
    assert_ok(post(fhir, notification(), who="admin"), "discharge-0001")
    # JSON the interface refused (a key twice) stays refused: reprocess never reads it as a message.
    assert post(fhir, b'{"resourceType": "Bundle", "resourceType": "Bundle"}', who="admin").status_code == 400
    with app.app_context():
        assert adt_commands.reprocess(None, datetime(2026, 12, 2, 22, tzinfo=UTC)) == {"rejected": 1}


def test_the_capability_statement_names_the_operation_and_the_messaging(fhir):
    statement = fhir.get("/metadata").json
    [operation] = statement["rest"][0]["operation"]
    assert operation["name"] == "process-message"
    assert operation["definition"] == "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message"
    [messaging] = statement["messaging"]
    assert messaging["endpoint"][0]["address"].endswith("/fhir/r4/$process-message")
    assert "notification-discharge" in messaging["documentation"]


def test_the_endpoint_takes_post_only(fhir):
    response = fhir.get("/$process-message", who="planner")
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_the_admins_inbox_page_shows_a_fhir_message_as_indented_json(app, api, world, fhir, as_user, clock, registered):
    clock.set(AFTER_DISCHARGE)
    assert_ok(post(fhir, notification()), "discharge-0001")
    assert post(fhir, b"not JSON at all").status_code == 400
    rows = {row.state: row for row in stored(app)}
    processed, unreadable = rows["processed"], rows["rejected"]
    admin = as_user("admin")
    page = html.unescape(admin.get("/admin/adt/%s" % processed.id).get_data(as_text=True))
    assert '\n  "resourceType": "Bundle",\n' in page and '"birthDate": "1990-04-12"' in page
    assert "not JSON at all" in html.unescape(admin.get("/admin/adt/%s" % unreadable.id).get_data(as_text=True))
    inbox = html.unescape(admin.get("/admin/adt").get_data(as_text=True))
    assert "FHIR" in inbox and "discharge-0001" in inbox
    # Bodies the interface refused unread are shown as they came, whatever they hold: never a 500.
    for body in (b"[" * 100000, b'{"resourceType": "Bundle", "x": "\\ud800"}', b'{"id": "a", "id": "b"}'):
        assert post(fhir, body).status_code in (400, 413, 422)
    for row in stored(app):
        page = admin.get("/admin/adt/%s" % row.id)
        assert page.status_code == 200, (row.raw[:40], page.status_code)
    duplicate_key = [row for row in stored(app) if b'"id": "b"' in bytes(row.raw)]
    page = html.unescape(admin.get("/admin/adt/%s" % duplicate_key[0].id).get_data(as_text=True))
    assert '"id": "a", "id": "b"' in page


def _header_with(**elements):
    body = notification()
    resource(body, "MessageHeader").update(elements)
    return body


ODD_SHAPES = [
    {"resourceType": "Bundle", "type": "message", "entry": "not a list"},
    {"resourceType": "Bundle", "type": "message", "entry": [1, {"resource": []}, {"fullUrl": 3}]},
    {"resourceType": 7, "type": "message"},
    _header_with(sender={"reference": 5}),
    _header_with(sender={"identifier": "GENHOSP"}),
    _header_with(sender="GENHOSP"),
    _header_with(eventCoding={"code": 7}),
    _header_with(id=12),
    _header_with(id="x" * 500),
    _header_with(focus={"reference": "urn:uuid:encounter"}),
    _header_with(focus=[{"reference": None}]),
    _spoil(lambda b: resource(b, "Organization").update(identifier=["GENHOSP"])),
    _spoil(lambda b: resource(b, "Organization").update(identifier=[{"value": 42}])),
    _spoil(_set("Patient", "name", "Maria Lopez")),
    _spoil(_set("Coverage", "beneficiary", {"reference": "urn:uuid:organization"})),
]


@pytest.mark.parametrize("index", range(len(ODD_SHAPES)))
def test_odd_shapes_are_refused_naming_an_element_never_a_500(app, api, world, fhir, registered, clock, index):
    clock.set(AFTER_DISCHARGE)
    response = post(fhir, copy.deepcopy(ODD_SHAPES[index]))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["resourceType"] == "OperationOutcome" and response.json["issue"][0]["diagnostics"]
    assert "<class" not in response.json["issue"][0]["diagnostics"]  # plain words, not Python's
    [row] = stored(app)
    assert row.state == "rejected" and row.reason == response.json["issue"][0]["diagnostics"]
    assert count(app, Discharge) == 0
