"""ADT feeds over HTTP: facility registration on organizations, POST /adt (stored before answered, ACKs and their
statuses, repeats changing nothing), A03 moving a referral's discharge date as the facility's ADT feed, A01 within
30 days a readmission, and the admins' inbox list."""

from datetime import UTC, date, datetime

import hl7
import pytest
from sqlalchemy import func, select

from tests.support.followups import submit
from tests.support.hl7msgs import adt, in1, register
from transitions.adt import batch, feed, hl7v2
from transitions.adt.models import AdtMessage, message_key
from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.errors import Conflict, Forbidden
from transitions.discharges.commands import ReportedAdmission
from transitions.discharges.models import DischargeReadmission
from transitions.identity.models import Organization, User
from transitions.notify.models import Event
from transitions.offers import commands as offers_commands
from transitions.offers.models import Readmission
from transitions.referrals.models import Referral

HL7 = "application/hl7-v2"


def send(api, world, raw, token="planner", content_type=HL7):
    return api.client.post(
        "/api/v1/adt",
        data=raw,
        headers={"Authorization": "Bearer %s" % world.tokens[token], "Content-Type": content_type},
    )


def ack_of(response):
    assert response.mimetype == HL7, response.data
    return hl7.parse(response.get_data(as_text=True))


def msa(response):
    ack = ack_of(response)
    return str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2])


def stored(app, **where):
    with app.app_context():
        query = select(AdtMessage)
        for key, value in where.items():
            query = query.where(getattr(AdtMessage, key) == value)
        return db.session.scalars(query.order_by(AdtMessage.received_at)).all()


# ---------------------------------------------------------------- facility registration


def test_an_admin_registers_facilities_at_creation_and_by_patch(api, world):
    admin = world.tokens["admin"]
    created = api.post(
        "/api/v1/organizations",
        {"name": "St Elsewhere", "kind": "residential", "hl7_facility_ids": ["STE", "2.16.840.1"]},
        token=admin,
    )
    assert created.status_code == 201, created.json
    assert created.json["hl7_facility_ids"] == ["STE", "2.16.840.1"]
    assert register(api, world)["hl7_facility_ids"] == ["GENHOSP"]
    # A rename keeps them (PATCH is partial).
    renamed = api.patch("/api/v1/organizations/%s" % world.orgs["hospital"], {"name": "General"}, token=admin)
    assert renamed.json["hl7_facility_ids"] == ["GENHOSP"]
    assert api.get("/api/v1/organizations/%s" % world.orgs["plan"], token=admin).json["hl7_facility_ids"] == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "Plan", "kind": "health_plan", "hl7_facility_ids": ["X1"]}, 422),
        ({"name": "IOP", "kind": "iop_provider", "hl7_facility_ids": ["X1"]}, 422),
        ({"name": "H", "kind": "hospital", "hl7_facility_ids": ["X1", "X1"]}, 422),
        ({"name": "H", "kind": "hospital", "hl7_facility_ids": ["has space"]}, 422),
        ({"name": "H", "kind": "hospital", "hl7_facility_ids": "X1"}, 422),
    ],
)
def test_facilities_only_on_hospitals_and_residential_orgs_and_well_formed(api, world, body, status):
    response = api.post("/api/v1/organizations", body, token=world.tokens["admin"])
    assert response.status_code == status, response.json
    assert "hl7_facility_ids" in response.json["errors"]


def test_a_facility_belongs_to_one_organization(api, world):
    register(api, world)
    admin = world.tokens["admin"]
    taken = api.patch(
        "/api/v1/organizations/%s" % world.orgs["hospital2"], {"hl7_facility_ids": ["GENHOSP"]}, token=admin
    )
    assert taken.status_code == 409, taken.json
    created = api.post(
        "/api/v1/organizations", {"name": "H", "kind": "hospital", "hl7_facility_ids": ["GENHOSP"]}, token=admin
    )
    assert created.status_code == 409
    # The owner may set its own list again.
    assert register(api, world, facilities=("GENHOSP", "GENHOSP-ED"))["hl7_facility_ids"] == ["GENHOSP", "GENHOSP-ED"]


def test_a_plan_or_provider_cannot_be_given_facilities_by_patch(api, world):
    for key in ("plan", "provider"):
        response = api.patch(
            "/api/v1/organizations/%s" % world.orgs[key], {"hl7_facility_ids": ["X1"]}, token=world.tokens["admin"]
        )
        assert response.status_code == 422 and "hl7_facility_ids" in response.json["errors"]


# ---------------------------------------------------------------- the HTTP feed


def test_a03_moves_the_open_referrals_discharge_date_as_the_adt_feed(app, api, world):
    register(api, world)
    referral_id = submit(api, world)  # Maria Lopez, 1990-04-12, planned discharge 2026-12-03
    planner = world.tokens["planner"]
    before = api.get("/api/v1/referrals/%s/followups" % referral_id, token=planner).json["items"]

    response = send(api, world, adt(discharged="202612021415"))

    assert response.status_code == 200
    assert msa(response) == ("AA", "MSG0001")
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=planner).json
    assert referral["discharge_date"] == "2026-12-02"
    after = api.get("/api/v1/referrals/%s/followups" % referral_id, token=planner).json["items"]
    assert before and [f["due_date"] for f in after] != [f["due_date"] for f in before]
    timeline = api.get("/api/v1/referrals/%s/timeline" % referral_id, token=planner).json["items"]
    assert timeline[-1]["type"] == "referral.updated"
    with app.app_context():
        actor = db.session.get(User, timeline[-1]["actor_user_id"])
        assert actor.email.startswith("adt-feed+") and actor.organization_id == world.orgs["hospital"]
        assert not actor.active and actor.password_hash is None
    [row] = stored(app)
    assert (row.state, row.ack_code, row.referral_id, row.channel) == ("processed", "AA", referral_id, "http")
    assert row.raw == adt(discharged="202612021415")


def test_a_repeated_control_id_is_acknowledged_again_and_changes_nothing(app, api, world, clock):
    register(api, world)
    referral_id = submit(api, world)
    first = send(api, world, adt(discharged="20261202"))
    # The same control id again, even with another date: the first message stands.
    again = send(api, world, adt(discharged="20261201"))
    assert first.status_code == again.status_code == 200
    assert msa(again) == ("AA", "MSG0001")
    assert api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json["discharge_date"] == (
        "2026-12-02"
    )
    assert len(stored(app)) == 1
    with app.app_context():
        updates = db.session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.referral_id == referral_id, Event.type == "referral.updated")
        )
    assert updates == 1


def test_an_unknown_facility_is_ar_and_stored(app, api, world):
    response = send(api, world, adt(facility="NOBODY"), token="admin")
    assert response.status_code == 422
    ack = ack_of(response)
    assert (str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2])) == ("AR", "MSG0001")
    assert str(ack.segment("ERR")[2]) == "MSH^1^4"
    [row] = stored(app)
    assert (row.state, row.facility_id, row.error_field) == ("rejected", "NOBODY", "MSH-4")


def test_a_planner_speaks_for_their_own_facilities_only(app, api, world):
    register(api, world)
    referral_id = submit(api, world)
    response = send(api, world, adt(discharged="20261201"), token="planner2")
    assert response.status_code == 422 and msa(response)[0] == "AR"
    assert stored(app)[0].state == "rejected"
    # Nor can another organization's planner block the facility's own message by using its control id first.
    assert send(api, world, adt(discharged="20261202")).status_code == 200
    assert api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json["discharge_date"] == (
        "2026-12-02"
    )
    assert sorted(row.state for row in stored(app)) == ["processed", "rejected"]


@pytest.mark.parametrize("trigger", ["A08", "A02", "A11", "A31"])
def test_other_triggers_are_aa_and_stored_as_ignored(app, api, world, trigger):
    register(api, world)
    response = send(api, world, adt(trigger=trigger))
    assert response.status_code == 200 and msa(response) == ("AA", "MSG0001")
    assert stored(app)[0].state == "ignored"


def test_an_outpatient_hospital_discharge_is_ignored(app, api, world):
    register(api, world)
    referral_id = submit(api, world)
    response = send(api, world, adt(patient_class="O"))
    assert response.status_code == 200
    assert stored(app)[0].state == "ignored"
    assert api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json["discharge_date"] == (
        "2026-12-03"
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (adt(discharged="2026-12-02"), "PV1^1^45"),
        (adt(discharged=""), "PV1^1^45"),
        (adt(birth="19901399"), "PID^1^7"),
        (adt(pv1=False), "PV1"),
        (adt(pid=False), "PID"),
    ],
)
def test_bad_fields_are_ae_naming_the_field_and_change_nothing(app, api, world, raw, field):
    register(api, world)
    referral_id = submit(api, world)
    response = send(api, world, raw)
    assert response.status_code == 422
    ack = ack_of(response)
    assert str(ack.segment("MSA")[1]) == "AE" and str(ack.segment("ERR")[2]).startswith(field)
    [row] = stored(app)
    assert row.state == "error" and row.reason
    assert api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json["discharge_date"] == (
        "2026-12-03"
    )


@pytest.mark.parametrize(
    "discharged, day",
    [
        ("20261203053000+0000", "2026-12-02"),  # UTC: 23:30 in Chicago the evening before
        ("20261203053000-0000", "2026-12-02"),
        ("202612022330-0600", "2026-12-02"),  # the sender's own wall clock, as written
        ("202612030530-0500", "2026-12-03"),  # another zone's wall clock: as written too
        ("20261203053000", "2026-12-03"),  # no offset: the sender's wall clock
    ],
)
def test_a_discharge_time_in_utc_falls_on_the_facilitys_day(app, api, world, clock, discharged, day):
    assert (
        api.patch(
            "/api/v1/organizations/%s" % world.orgs["hospital"],
            {"timezone": "America/Chicago"},
            token=world.tokens["admin"],
        ).status_code
        == 200
    )
    register(api, world)
    referral_id = submit(api, world, discharge_date="2026-12-05")  # planned: every case moves it
    clock.now = datetime(2026, 12, 3, 5, 45, tzinfo=UTC)
    assert send(api, world, adt(discharged=discharged)).status_code == 200
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json
    assert referral["discharge_date"] == day


@pytest.mark.parametrize("discharged", ["99991231230000+0000", "18991231"])
def test_a_discharge_time_out_of_range_is_ae_not_a_crash(app, api, world, discharged):
    api.patch(
        "/api/v1/organizations/%s" % world.orgs["hospital"], {"timezone": "Asia/Tokyo"}, token=world.tokens["admin"]
    )
    register(api, world)
    response = send(api, world, adt(discharged=discharged))
    assert answer(response)[:2] == (422, "AE")


def test_a_discharge_without_referral_in_utc_is_not_refused_as_future(app, api, world, clock):
    api.patch(
        "/api/v1/organizations/%s" % world.orgs["hospital"],
        {"timezone": "America/Chicago"},
        token=world.tokens["admin"],
    )
    register(api, world)
    clock.now = datetime(2026, 12, 3, 5, 45, tzinfo=UTC)  # 23:45 on 2 December in Chicago
    response = send(api, world, adt(discharged="20261203053000+0000", extra_segments=(in1(),)))
    assert response.status_code == 200, response.data
    [row] = stored(app)
    assert row.state == "processed"
    [item] = api.get("/api/v1/discharges", token=world.tokens["manager"]).json["items"]
    assert item["discharge_date"] == "2026-12-02"


@pytest.mark.parametrize(
    "referral_given, pid_given",
    [("Maria Elena", "MARIA^ELENA"), ("Maria", "MARIA^ELENA"), ("Maria Elena", "Maria Elena")],
)
def test_further_given_names_in_pid_5_still_match_the_referral(app, api, world, referral_given, pid_given):
    register(api, world)
    referral_id = submit(api, world, patient={"given_name": referral_given})
    assert send(api, world, adt(given=pid_given, discharged="20261202")).status_code == 200
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json
    assert referral["discharge_date"] == "2026-12-02"


def test_a_different_further_given_name_is_another_patient(app, api, world):
    register(api, world)
    referral_id = submit(api, world, patient={"given_name": "Maria Elena"})
    assert send(api, world, adt(given="MARIA^JOSE", discharged="20261202")).status_code == 200
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json
    assert referral["discharge_date"] == "2026-12-03"


def test_a_later_stay_does_not_move_the_referral_made_for_an_earlier_one(app, api, world, clock):
    register(api, world)
    referral_id = submit(api, world)  # planned discharge 2026-12-03
    assert send(api, world, adt(control_id="DEC", discharged="20261203")).status_code == 200
    clock.now = datetime(2027, 2, 10, 20, 0, tzinfo=UTC)
    later = adt(control_id="FEB", admitted="202702010900", discharged="202702101400", extra_segments=(in1(),))
    assert send(api, world, later).status_code == 200
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json
    assert referral["discharge_date"] == "2026-12-03"
    [item] = api.get("/api/v1/discharges", token=world.tokens["manager"]).json["items"]
    assert item["discharge_date"] == "2027-02-10"
    # The same stay's message (admitted before the referral's discharge) still moves the referral.
    same = adt(control_id="DEC2", admitted="202611250930", discharged="202612041000")
    assert send(api, world, same).status_code == 200
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json
    assert referral["discharge_date"] == "2026-12-04"


def test_a_body_that_is_not_hl7_is_a_400_and_still_kept(app, api, world):
    response = send(api, world, b"hello, this is not HL7")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    [row] = stored(app)
    assert row.state == "rejected" and row.raw == b"hello, this is not HL7"


# The parser asserts on these encoding characters (MSH-2 repeats its component separator) or an MSH with no fields.
MALFORMED_HEADERS = [b"MSH|^^\\&|EPIC|GENHOSP|T|P|20261202||ADT^A03|X1|P|2.5\rPID|1\r", b"MSH|\rPID|1||MRN1\r"]


@pytest.mark.parametrize("raw", MALFORMED_HEADERS)
def test_a_header_the_parser_cannot_read_is_a_400_and_still_kept(app, api, world, raw):
    register(api, world)
    response = send(api, world, raw)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    [row] = stored(app)
    assert row.state == "rejected" and row.raw == raw


def test_the_feed_refuses_other_media_types_roles_and_strangers(app, api, world):
    assert send(api, world, adt(), content_type="application/json").status_code == 415
    assert send(api, world, adt(), token="coordinator").status_code == 403
    assert send(api, world, adt(), token="manager").status_code == 403
    assert api.client.post("/api/v1/adt", data=adt(), headers={"Content-Type": HL7}).status_code == 401
    assert stored(app) == []


def test_unicode_names_match_the_referral(app, api, world):
    register(api, world)
    referral_id = submit(api, world, patient={"given_name": "Jos\u00e9", "family_name": "N\u00fa\u00f1ez"})
    response = send(api, world, adt(given="JOS\u00c9", family="n\u00fa\u00f1ez", discharged="20261202"))
    assert response.status_code == 200
    assert api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json["discharge_date"] == (
        "2026-12-02"
    )


def test_a01_within_30_days_of_the_discharge_is_a_readmission(app, api, world, clock):
    register(api, world)
    referral_id = submit(api, world)
    assert send(api, world, adt(discharged="20261202")).status_code == 200
    clock.now = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
    response = send(api, world, adt(trigger="A01", control_id="MSG0002", admitted="202612080900", discharged=""))
    assert response.status_code == 200, response.data
    timeline = api.get("/api/v1/referrals/%s/timeline" % referral_id, token=world.tokens["planner"]).json["items"]
    readmitted = [event for event in timeline if event["type"] == "referral.readmitted"]
    assert readmitted and readmitted[0]["data"]["days_after_discharge"] == 6
    assert stored(app, control_id="MSG0002")[0].state == "processed"


@pytest.mark.parametrize(
    "org_key, facility, token, patient_class",
    [
        ("hospital", "GENHOSP", "planner", "E"),
        ("hospital", "GENHOSP", "planner", "O"),
        ("hospital", "GENHOSP", "planner", ""),
        ("hospital2", "RESI", "planner2", "E"),
        ("hospital2", "RESI", "planner2", "O"),
    ],
)
def test_an_emergency_or_outpatient_visit_is_not_a_readmission(
    app, api, world, clock, org_key, facility, token, patient_class
):
    register(api, world, org_key, (facility,))
    referral_id = submit(api, world, token=token)
    discharge = adt(facility=facility, patient_class="I", discharged="20261202")
    assert send(api, world, discharge, token=token).status_code == 200
    clock.now = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
    visit = adt(
        trigger="A04",
        control_id="MSG0002",
        facility=facility,
        patient_class=patient_class,
        admitted="20261208",
        discharged="",
    )
    response = send(api, world, visit, token=token)
    assert response.status_code == 200, response.data
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens[token]).json
    assert referral["status"] == "submitted"
    [row] = stored(app, control_id="MSG0002")
    assert (row.state, row.reason) == (
        "ignored",
        "Patient class %r: only inpatient admissions are readmissions, not emergency or outpatient visits."
        % patient_class,
    )


def test_a_future_admission_is_refused_alike_whether_or_not_the_patient_has_a_record(app, api, world, clock):
    register(api, world)
    submit(api, world)
    assert send(api, world, adt(discharged="20261202")).status_code == 200
    clock.now = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
    answers = []
    for control_id, family in (("KNOWN", "Lopez"), ("UNKNOWN", "Nobody")):
        admission = adt(trigger="A01", control_id=control_id, family=family, admitted="20261211", discharged="")
        response = send(api, world, admission)
        ack = ack_of(response)
        answers.append((response.status_code, str(ack.segment("MSA")[1]), str(ack.segment("ERR"))))
        [row] = stored(app, control_id=control_id)
        answers.append((row.state, row.reason, row.error_field))
    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert answers[0][:2] == (422, "AE") and answers[1][0] == "error"


def test_an_admission_long_after_the_discharge_is_ignored(app, api, world, clock):
    register(api, world)
    submit(api, world)
    clock.now = datetime(2027, 2, 1, 15, 0, tzinfo=UTC)
    response = send(api, world, adt(trigger="A04", admitted="20270120"))
    assert response.status_code == 200
    assert stored(app)[0].state == "ignored"


# ---------------------------------------------------------------- an admission to another organization


MARIAS_COVERAGE = (in1(),)


def admission_elsewhere(control_id, admitted, extra_segments=MARIAS_COVERAGE, **overrides):
    """An A01 of Maria Lopez from the residential organization hospital2 (facility RESID), with her coverage (IN1)."""
    return adt(
        trigger="A01",
        control_id=control_id,
        facility="RESID",
        patient_class="R",
        admitted=admitted,
        discharged="",
        extra_segments=extra_segments,
        **overrides,
    )


def admit_elsewhere(api, world, control_id, admitted, token="admin", **overrides):
    """admission_elsewhere sent by default as its feed (an admin over HTTP, as the MLLP listener is: no planner's
    organization behind it)."""
    return send(api, world, admission_elsewhere(control_id, admitted, **overrides), token=token)


@pytest.fixture
def discharged_referral(app, api, world, clock):
    """Maria Lopez's referral at the hospital, discharged 2026-12-02 (its A03); the residential org registered too."""
    register(api, world)
    register(api, world, "hospital2", ("RESID",))
    referral_id = submit(api, world)
    assert send(api, world, adt(discharged="20261202")).status_code == 200
    clock.now = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
    return referral_id


def answer(response):
    """What a sender reads of an answer: the status and the ACK without its own ids and times."""
    ack = ack_of(response)
    errors = [str(segment) for segment in ack if str(segment[0]) == "ERR"]
    return response.status_code, str(ack.segment("MSA")[1]), errors


def test_an_admission_elsewhere_of_the_same_member_is_a_readmission_on_the_referral(
    app, api, world, discharged_referral
):
    response = admit_elsewhere(api, world, "ELSE1", "202612090900")
    assert answer(response) == (200, "AA", [])
    referral = api.get("/api/v1/referrals/%s" % discharged_referral, token=world.tokens["planner"]).json
    assert referral["status"] == "readmitted"
    timeline = api.get("/api/v1/referrals/%s/timeline" % discharged_referral, token=world.tokens["planner"]).json
    [readmitted] = [event for event in timeline["items"] if event["type"] == "referral.readmitted"]
    assert (readmitted["data"]["days_after_discharge"], readmitted["data"]["classification"]) == (7, "readmission_30")
    # No actor: the admitting organization (its feed user, its id) is not named on the referring one's timeline.
    assert (readmitted["actor_user_id"], readmitted["actor_organization_id"]) == (None, None)
    with app.app_context():
        [readmission] = db.session.scalars(select(Readmission)).all()
        assert readmission.facility is None  # the admitting organization is not named to the referring one
    # The admitting organization's inbox row points at nothing of the other's; its planner still cannot read it.
    [row] = stored(app, control_id="ELSE1")
    assert (row.state, row.referral_id) == ("processed", None)
    assert api.get("/api/v1/referrals/%s" % discharged_referral, token=world.tokens["planner2"]).status_code == 404


def test_an_admission_elsewhere_is_answered_the_same_whether_it_matched_or_not(app, api, world, discharged_referral):
    matched = admit_elsewhere(api, world, "ELSE1", "20261209")
    unmatched = admit_elsewhere(api, world, "ELSE2", "20261209", family="Nobody")
    assert answer(matched) == answer(unmatched) == (200, "AA", [])
    assert ack_of(matched).segment("MSA")[3:] == ack_of(unmatched).segment("MSA")[3:]
    assert [stored(app, control_id=c)[0].state for c in ("ELSE1", "ELSE2")] == ["processed", "ignored"]
    future = admit_elsewhere(api, world, "ELSE3", "20261211")
    future_unmatched = admit_elsewhere(api, world, "ELSE4", "20261211", family="Nobody")
    assert answer(future) == answer(future_unmatched)
    assert answer(future)[:2] == (422, "AE")


@pytest.mark.parametrize(
    "overrides",
    [
        {"member_id": "OTHER999", "extra_segments": (in1(policy_number="OTHER999"),)},  # another member of the plan
        {"extra_segments": (in1(payer="other-plan"),)},  # the same number at another payer
        {"member_id": "", "extra_segments": ()},  # no coverage to match by
        {"given": "Mario"},  # the same coverage, another patient
    ],
)
def test_an_admission_elsewhere_needs_the_patient_and_a_payer_and_member_pair(
    app, api, world, discharged_referral, overrides
):
    assert admit_elsewhere(api, world, "ELSE1", "20261209", **overrides).status_code == 200
    assert stored(app, control_id="ELSE1")[0].state == "ignored"
    referral = api.get("/api/v1/referrals/%s" % discharged_referral, token=world.tokens["planner"]).json
    assert referral["status"] == "submitted"


def test_a_planned_discharge_date_is_not_matched_across_organizations(app, api, world, clock):
    # The referral's date is the planner's plan: nothing says the patient left on it, so an admission elsewhere
    # may be a transfer from that very stay. Only a discharge the facility's feed reported (or a patient in the IOP)
    # is matched.
    register(api, world, "hospital2", ("RESID",))
    referral_id = submit(api, world)  # planned discharge 2026-12-03, never reported
    clock.now = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
    assert admit_elsewhere(api, world, "ELSE1", "20261209").status_code == 200
    assert stored(app, control_id="ELSE1")[0].state == "ignored"
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json
    assert referral["status"] == "submitted"


def test_an_admission_elsewhere_is_not_in_the_future_by_the_other_organizations_clock(
    app, api, world, discharged_referral, clock
):
    # The admitting facility is in New York, the referral's patient in Los Angeles: 00:15 on the 10th in New York is
    # still the 9th in Los Angeles, and the admission happened where it happened.
    admin = world.tokens["admin"]
    api.patch("/api/v1/organizations/%s" % world.orgs["hospital2"], {"timezone": "America/New_York"}, token=admin)
    with app.app_context():
        db.session.get(Referral, discharged_referral).timezone = "America/Los_Angeles"
        db.session.commit()
    clock.now = datetime(2026, 12, 10, 5, 30, tzinfo=UTC)
    assert admit_elsewhere(api, world, "ELSE1", "202612100015").status_code == 200
    assert stored(app, control_id="ELSE1")[0].state == "processed"


def test_a_date_before_1900_is_refused_not_a_crash(app, api, world, discharged_referral):
    response = admit_elsewhere(api, world, "ELSE1", "00010105")
    assert answer(response)[:2] == (422, "AE")
    assert stored(app, control_id="ELSE1")[0].state == "error"


def test_a_referral_that_adopted_the_feeds_discharge_is_matched(app, api, world, clock):
    # The feed first (a discharge without referral), the referral after (it adopts it): the discharge happened.
    register(api, world)
    register(api, world, "hospital2", ("RESID",))
    clock.now = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    assert send(api, world, adt(discharged="20261203", extra_segments=(in1(),))).status_code == 200
    referral_id = submit(api, world)
    assert api.get("/api/v1/discharges?status=adopted", token=world.tokens["manager"]).json["items"]
    clock.now = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
    assert admit_elsewhere(api, world, "ELSE1", "20261209").status_code == 200
    assert stored(app, control_id="ELSE1")[0].state == "processed"
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json
    assert referral["status"] == "readmitted"


@pytest.mark.parametrize("discharged", ["20261204", "20261203"])  # a moved date, and the planned one (no event)
def test_a_discharge_and_an_admission_elsewhere_in_one_listener_batch_answer_as_sent_apart(
    app, api, world, clock, discharged
):
    register(api, world)
    register(api, world, "hospital2", ("RESID",))
    referral_id = submit(api, world)  # planned discharge 2026-12-03
    clock.now = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
    discharge = adt(control_id="DIS1", discharged=discharged)
    admission = admission_elsewhere("ELSE1", "20261209")
    with app.app_context():
        items = batch.store_batch([(discharge, utcnow()), (admission, utcnow())])
        batch.apply_batch(items)
        db.session.remove()
    assert [row.state for row in stored(app)] == ["processed", "processed"]
    referral = api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json
    assert (referral["status"], referral["discharge_date"]) == (
        "readmitted",
        "%s-%s-%s" % (discharged[:4], discharged[4:6], discharged[6:]),
    )


def test_a_planner_cannot_report_an_admission_to_another_organization(app, api, world, discharged_referral):
    assert admit_elsewhere(api, world, "ELSE1", "20261209", token="planner2").status_code == 200
    assert stored(app, control_id="ELSE1")[0].state == "ignored"
    referral = api.get("/api/v1/referrals/%s" % discharged_referral, token=world.tokens["planner"]).json
    assert referral["status"] == "submitted"


def test_the_command_checks_the_match_again_under_its_lock(app, api, world, discharged_referral):
    with app.app_context():
        referral = db.session.get(Referral, discharged_referral)
        hospital2 = db.session.get(Organization, world.orgs["hospital2"])
        feed_user = feed.feed_actor(hospital2)
        patient = hl7v2.Patient("Maria", "Lopez", date(1990, 4, 12), "R", [], [], [("acme-health", "ACM123456")])
        report = ReportedAdmission.of(hospital2, patient, date(2026, 12, 9), utcnow())
        assert report.matches(referral)
        referral.member_id = "CHANGED1"  # the referral changed between the feed's match and the command's lock
        db.session.commit()
        with pytest.raises(Conflict):
            offers_commands.record_reported_admission(feed_user, discharged_referral, report, utcnow())
        db.session.rollback()
        planner = db.session.get(User, world.users["planner"])
        referral.member_id = "ACM123456"
        db.session.commit()
        with pytest.raises(Forbidden):  # only a feed reports an admission to another organization
            offers_commands.record_reported_admission(planner, discharged_referral, report, utcnow())


def test_an_admission_elsewhere_is_a_readmission_on_a_discharge_without_referral(app, api, world, clock):
    register(api, world)
    register(api, world, "hospital2", ("RESID",))
    clock.now = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)
    assert send(api, world, adt(discharged="20261202", extra_segments=(in1(),))).status_code == 200
    [discharge] = api.get("/api/v1/discharges", token=world.tokens["manager"]).json["items"]
    clock.now = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    # Over MLLP: the listener's group commit, as the residential organization's feed.
    with app.app_context():
        items = batch.store_batch([(admission_elsewhere("ELSE1", "20261204"), utcnow())])
        batch.apply_batch(items)
        [ack] = [item.ack for item in items]
        db.session.remove()
    assert "MSA|AA|ELSE1" in ack
    detail = api.get("/api/v1/discharges/%s" % discharge["id"], token=world.tokens["manager"]).json
    assert [(r["days_after_discharge"], r["classification"]) for r in detail["readmissions"]] == [(2, "transfer")]
    with app.app_context():
        [readmission] = db.session.scalars(select(DischargeReadmission)).all()
        assert readmission.facility is None
    assert stored(app, control_id="ELSE1")[0].state == "processed"


def test_an_admission_elsewhere_finds_a_discharge_by_the_further_form_of_the_given_name(app, api, world, clock):
    register(api, world)
    register(api, world, "hospital2", ("RESID",))
    clock.now = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)
    discharge_message = adt(given="Maria^Elena", discharged="20261202", extra_segments=(in1(),))
    assert send(api, world, discharge_message).status_code == 200  # recorded under "Maria"
    [discharge] = api.get("/api/v1/discharges", token=world.tokens["manager"]).json["items"]
    clock.now = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    # The residential program registers her with both given names in one component.
    assert admit_elsewhere(api, world, "ELSE1", "20261204", given="Maria Elena").status_code == 200
    detail = api.get("/api/v1/discharges/%s" % discharge["id"], token=world.tokens["manager"]).json
    assert [r["days_after_discharge"] for r in detail["readmissions"]] == [2]
    assert stored(app, control_id="ELSE1")[0].state == "processed"


# ---------------------------------------------------------------- the admins' inbox


def test_admins_list_the_inbox_newest_first_in_pages(app, api, world, clock):
    register(api, world)
    for n in range(3):
        clock.now = datetime(2026, 12, 1, 15, n, tzinfo=UTC)
        send(api, world, adt(trigger="A08", control_id="C%d" % n))
    clock.now = datetime(2026, 12, 1, 15, 9, tzinfo=UTC)
    send(api, world, adt(facility="NOBODY", control_id="C9"), token="admin")
    admin = world.tokens["admin"]
    first = api.get("/api/v1/adt/messages?limit=2", token=admin).json
    assert [item["control_id"] for item in first["items"]] == ["C9", "C2"]
    assert "raw" not in first["items"][0]
    second = api.get("/api/v1/adt/messages?limit=2&cursor=%s" % first["next_cursor"], token=admin).json
    assert [item["control_id"] for item in second["items"]] == ["C1", "C0"]
    rejected = api.get("/api/v1/adt/messages?state=rejected", token=admin).json["items"]
    assert [(item["control_id"], item["ack_code"], item["error_field"]) for item in rejected] == [("C9", "AR", "MSH-4")]
    assert api.get("/api/v1/adt/messages?state=bogus", token=admin).status_code == 422
    for role in ("planner", "manager", "coordinator"):
        assert api.get("/api/v1/adt/messages", token=world.tokens[role]).status_code == 403


def test_a_message_stored_but_never_applied_is_applied_by_the_senders_retry(app, api, world):
    # What a crash between storing and acknowledging leaves: the row, still `received`. The retry applies it once.
    register(api, world)
    referral_id = submit(api, world)
    raw = adt(discharged="20261202")
    with app.app_context():
        db.session.add(
            AdtMessage(
                raw=raw,
                size=len(raw),
                channel="mllp",
                facility_id="GENHOSP",
                control_id="MSG0001",
                message_key=message_key("GENHOSP", "MSG0001"),
                message_type="ADT",
                trigger="A03",
                version="2.5.1",
                state="received",
                attempts=1,
                received_at=datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
            )
        )
        db.session.commit()
    response = send(api, world, raw)
    assert response.status_code == 200 and msa(response) == ("AA", "MSG0001")
    assert send(api, world, raw).status_code == 200
    assert api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json["discharge_date"] == (
        "2026-12-02"
    )
    [row] = stored(app)
    assert (row.state, row.attempts) == ("processed", 2)
