"""The seed-demo command: a valid directory, working tokens, the built-in fallback, and repeatable output."""

import os
import random
import re
from collections import Counter

import pytest
from sqlalchemy import func, select

from tests.support.browser import PASSWORD, WebClient
from transitions import demo, scheduler
from transitions.adt.models import AdtMessage
from transitions.core import codes
from transitions.core.db import db
from transitions.demo.samhsa import MENTAL_HEALTH_FILE, SAMHSA_FILE
from transitions.directory import samhsa as nsumhss
from transitions.directory.models import Program, Track
from transitions.discharges.models import Discharge, DischargeVisit
from transitions.followups.models import FollowUp
from transitions.identity import passwords
from transitions.identity.models import Organization, User
from transitions.offers.models import Attendance, Offer
from transitions.referrals.models import Referral

ROLE_LINE = re.compile(r"^(admin|discharge_planner|case_manager|iop_coordinator)\s+(\S+@\S+)\s+(trn_\S+)$")


def run_seed(app, *args, env=None, history_weeks=0):
    """`flask seed-demo --programs 20`, without the history unless asked (it is what takes the time)."""
    app.config["DEMO_HISTORY_WEEKS"] = history_weeks
    # app.cli commands get an app context from the `flask` entry point (FlaskGroup), not from the test runner.
    with app.app_context():
        return app.test_cli_runner().invoke(args=["seed-demo", "--programs", "20", *args], env=env)


def printed_tokens(output):
    """{role: (email, token)} from the one-line-per-role table describe() prints."""
    found = {}
    for line in output.splitlines():
        match = ROLE_LINE.match(line)
        if match:
            found[match.group(1)] = (match.group(2), match.group(3))
    return found


def referral_ids(client, token):
    response = client.get("/api/v1/referrals?limit=500", headers={"Authorization": "Bearer %s" % token})
    assert response.status_code == 200, response.json
    return {item["id"] for item in response.json["items"]}


def test_seed_demo_creates_the_demo_and_its_tokens_work(app):
    result = run_seed(app, "--seed", "3")
    assert result.exit_code == 0, result.output
    tokens = printed_tokens(result.output)
    assert {role: email for role, (email, _) in tokens.items()} == {
        "admin": "admin@demo.example",
        "discharge_planner": "planner@demo.example",
        "case_manager": "manager@demo.example",
        "iop_coordinator": "coordinator@demo.example",
    }
    last_line = result.output.strip().splitlines()[-1]
    assert "curl" in last_line and tokens["discharge_planner"][1] in last_line

    with app.app_context():
        programs = db.session.scalars(select(Program)).all()
        tracks = db.session.scalars(select(Track)).all()
        assert len(programs) == 20
        assert len(programs) <= len(tracks) <= 3 * len(programs)
        assert all(6 <= track.hours_per_week <= 30 and 6 <= track.capacity <= 15 for track in tracks)
        assert all(track.timezone in codes.iana_timezones() for track in tracks)
        assert {track.modality for track in tracks} <= {"in_person", "telehealth"}
        assert len({program.state for program in programs}) >= 4
        kinds = Counter(db.session.scalars(select(Organization.kind)))
        assert kinds["health_plan"] == 1 and kinds["residential"] == 1 and kinds["iop_provider"] >= 3
        assert kinds["hospital"] == 2 and kinds["platform"] == 1  # the admins sit in the platform organization

        referrals = db.session.scalars(select(Referral)).all()
        statuses = Counter(referral.status for referral in referrals)
        assert 6 <= len(referrals) <= 10 and statuses["submitted"] and statuses["cancelled"]
        assert len({referral.patient_state for referral in referrals}) >= 3
        users = {user.email: user for user in db.session.scalars(select(User))}
        planner, manager = users["planner@demo.example"], users["manager@demo.example"]
        coordinator = users["coordinator@demo.example"]
        mine = {r.id for r in referrals if r.organization_id == planner.organization_id}
        plan_payers = set(manager.organization.payer_ids)
        followed = {r.id for r in referrals if r.payer_id in plan_payers and not r.self_pay}
        owned = Counter(program.organization_id for program in programs)
        assert owned[coordinator.organization_id] == max(owned.values())

    client = app.test_client()
    assert mine and referral_ids(client, tokens["discharge_planner"][1]) == mine
    # The plan sees its members across every referring org, and nobody else's.
    assert followed and referral_ids(client, tokens["case_manager"][1]) == followed
    assert len(followed) < len(referrals)
    assert referral_ids(client, tokens["iop_coordinator"][1]) == set()  # no offers yet
    assert len(referral_ids(client, tokens["admin"][1])) == len(referrals)
    response = client.get(
        "/api/v1/programs?organization_id=%s" % coordinator.organization_id,
        headers={"Authorization": "Bearer %s" % tokens["iop_coordinator"][1]},
    )
    assert response.status_code == 200 and len(response.json["items"]) == owned[coordinator.organization_id]


def test_seed_demo_hints_point_at_the_port_the_service_uses(app):
    result = run_seed(app, "--seed", "3", env={"PORT": "8123"})
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8123/sign-in" in result.output
    assert "http://127.0.0.1:8123/api/v1/referrals" in result.output.strip().splitlines()[-1]
    assert ":5000" not in result.output


def test_the_demo_has_someone_to_call_on_its_first_day(app):
    assert run_seed(app, "--seed", "3").exit_code == 0
    scheduler.run_pass(app)
    with app.app_context():
        missed = db.session.execute(
            select(Referral.given_name, FollowUp.check)
            .join(FollowUp, FollowUp.referral_id == Referral.id)
            .where(FollowUp.outcome == "missed")
        ).all()
    assert ("Tamika", "intake_scheduled") in missed


def test_seed_demo_refuses_to_load_twice(app):
    assert run_seed(app).exit_code == 0
    again = run_seed(app)
    assert again.exit_code != 0
    assert "already loaded" in again.output
    with app.app_context():
        assert len(db.session.scalars(select(Program)).all()) == 20


def test_without_data_files_the_built_in_generator_makes_the_directory(app, tmp_path):
    result = run_seed(app, "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "built-in generator" in result.output
    sites = {zip_code for zip_code, _, _ in demo.FALLBACK_SITES}
    with app.app_context():
        programs = db.session.scalars(select(Program)).all()
        assert len(programs) == 20
        assert {program.zip for program in programs} <= sites
        assert len({program.name for program in programs}) == 20
        assert all(program.tracks for program in programs)


def test_built_in_sites_are_real_zip_codes():
    states = set()
    for zip_code, _, _ in demo.FALLBACK_SITES:
        location = codes.zip_location(zip_code)
        assert location is not None, zip_code
        assert location[3] in codes.iana_timezones(), zip_code
        states.add(location[2])
    assert len(states) >= 6


def plan_names(seed, data_dir):
    return [entry["program"]["name"] for entry in demo.plan_directory(20, random.Random(seed), data_dir)["programs"]]


def test_same_seed_gives_the_same_directory(tmp_path):
    for data_dir in (None, str(tmp_path)):  # the shared data folder when present, and the generator
        assert plan_names(5, data_dir) == plan_names(5, data_dir)
        assert plan_names(5, data_dir) != plan_names(6, data_dir)


def test_seeded_programs_are_the_planned_ones(app):
    assert run_seed(app, "--seed", "11").exit_code == 0
    with app.app_context():
        names = sorted(db.session.scalars(select(Program.name)))
    assert names == sorted(plan_names(11, None))


SHARED_DATA = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
needs_shared_data = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(SHARED_DATA, name)) for name in (SAMHSA_FILE, MENTAL_HEALTH_FILE)),
    reason="the SAMHSA files are not in ../shared/data",
)


def mental_health_file_names():
    """The names of the mental health file's day-treatment facilities, as the import reads them."""
    rows = nsumhss.read_file(os.path.join(SHARED_DATA, MENTAL_HEALTH_FILE))
    return {row.fields["name"] for row in rows if row.key and "PHDT" in row.settings}


@needs_shared_data
def test_a_depression_referral_matches_mental_health_programs_from_the_mental_health_file(app):
    result = app.test_cli_runner()
    with app.app_context():
        result = result.invoke(args=["seed-demo", "--programs", "120", "--seed", "3", "--data-dir", SHARED_DATA])
    assert result.exit_code == 0, result.output
    token = printed_tokens(result.output)["discharge_planner"][1]
    with app.app_context():
        programs = db.session.scalars(select(Program)).all()
        denise = db.session.scalar(select(Referral).where(Referral.given_name == "Denise"))
        assert denise.need == "mental_health" and denise.diagnoses == ["F33.1"]  # recurrent major depression
        assert len({program.name for program in programs}) == len(programs) == 120
        by_id = {program.id: program for program in programs}
        tracks = db.session.scalars(select(Track)).all()
    for track in tracks:
        services = by_id[track.program_id].services
        if services in (["mental_health"], ["mental_health", "co_occurring"]):
            assert "mental health" in track.name and "recovery" not in track.name, track.name
        else:
            assert "recovery" in track.name and "mental health" not in track.name, track.name
    response = app.test_client().get(
        "/api/v1/referrals/%s/matches" % denise.id, headers={"Authorization": "Bearer %s" % token}
    )
    assert response.status_code == 200, response.json
    matches = response.json["items"][:3]
    assert matches, response.json
    from_file = mental_health_file_names()
    for match in matches:
        program = by_id[match["program_id"]]
        assert "mental_health" in program.services and "substance_use" not in program.services, program.name
        assert program.name.split(" (")[0] in from_file or program.name in from_file, program.name
        assert "recovery" not in match["track_name"] and "mental health" in match["track_name"]


@needs_shared_data
def test_the_demo_takes_programs_from_both_files_with_distinct_names():
    plan = demo.plan_directory(300, random.Random(7), SHARED_DATA)
    assert plan["source"] == "samhsa"
    services = Counter("mental_health" in entry["program"]["services"] for entry in plan["programs"])
    assert services[True] >= 100 and services[False] >= 100
    names = [entry["program"]["name"] for entry in plan["programs"]]
    assert len(set(names)) == len(names)
    # The files repeat names (chains); the demo tells them apart by city.
    assert any(name.endswith(")") and " (" in name for name in names)


def test_generated_tracks_are_named_for_what_their_program_treats(tmp_path):
    plan = demo.plan_directory(40, random.Random(2), str(tmp_path))
    assert plan["source"] == "generator"
    for entry in plan["programs"]:
        names = " ".join(track["name"] for track in entry["tracks"])
        if entry["program"]["services"] == ["mental_health"]:
            assert "mental health" in names and "recovery" not in names
        if entry["program"]["services"] == ["substance_use"]:
            assert "recovery" in names and "mental health" not in names


# ---------------------------------------------------------------- the demo's history


def test_the_demo_opens_with_weeks_of_history_the_metrics_and_board_show(app, clock):
    """Referrals, offers, placements, attendance and follow-up outcomes written through the commands on an injected
    clock: the case manager's metrics show figures, not dashes, and nothing happened after now."""
    result = run_seed(app, "--programs", "80", history_weeks=8)
    assert result.exit_code == 0, result.output
    assert re.search(r"History: the last 8 weeks .*\((\d+) referrals, (\d+) placements", result.output)
    with app.app_context():
        outcomes = Counter(db.session.scalars(select(FollowUp.outcome).where(FollowUp.outcome.is_not(None))))
        statuses = Counter(db.session.scalars(select(Referral.status)))
        attendance = db.session.scalars(select(Attendance.status)).all()
        latest = [
            db.session.scalar(select(func.max(column)))
            for column in (Referral.created_at, Offer.created_at, Offer.decided_at, Attendance.created_at)
        ]
        zones = set(db.session.scalars(select(Organization.timezone)))
        for user in db.session.scalars(select(User)):
            passwords.set_password(user, PASSWORD)
        db.session.commit()
    assert outcomes["met"] and outcomes["missed"]
    assert statuses["attending"] and statuses["completed"] and statuses["submitted"]
    assert len(attendance) > 50 and set(attendance) >= {"attended", "missed"}
    assert all(moment <= clock.now for moment in latest)
    assert "UTC" not in zones and "America/Chicago" in zones

    manager = WebClient(app)
    manager.sign_in("manager@demo.example")
    metrics = manager.get("/metrics").get_data(as_text=True)
    tiles = re.findall(r'<span class="tile-value">([^<]*)</span>', metrics)
    assert len(tiles) >= 7 and "—" not in tiles[:7], tiles
    board = manager.get("/board").get_data(as_text=True)
    attending = board.split('id="column-attending"', 1)[1].split("</section>", 1)[0]
    assert attending.count("member-name") >= 2
    # Lakeshore's ADT feed: members nobody referred, on the board's first column and in the "with ADT" rates.
    with app.app_context():
        discharges = db.session.scalars(select(Discharge)).all()
        visits = db.session.scalar(select(func.count()).select_from(DischargeVisit))
        stored = Counter(db.session.scalars(select(AdtMessage.state)))
    assert len(discharges) >= 4 and visits >= 1 and stored == {"processed": len(discharges)}
    unreferred = board.split('id="column-no_step_down"', 1)[1].split("</section>", 1)[0]
    assert unreferred.count("member-name") >= 1
    with_adt = re.search(r"every discharge \(with ADT\): (\d+) of (\d+)", metrics)
    referrals_only = re.search(r"referrals: (\d+) of (\d+)", metrics)
    assert int(with_adt.group(2)) > int(referrals_only.group(2))


def test_seeding_again_changes_nothing(app):
    assert run_seed(app, history_weeks=2).exit_code == 0
    with app.app_context():
        before = [db.session.scalar(select(func.count()).select_from(t)) for t in (Referral, Offer, Attendance, User)]
    again = run_seed(app, history_weeks=2)
    assert again.exit_code != 0 and "already loaded" in again.output
    with app.app_context():
        after = [db.session.scalar(select(func.count()).select_from(t)) for t in (Referral, Offer, Attendance, User)]
    assert after == before
