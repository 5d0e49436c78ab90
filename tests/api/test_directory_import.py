"""`flask directory import`: created, updated, unchanged and retired programs, what a coordinator edited kept, both
files as one program, bad input and its exit status, and unconfirmed programs claimed, given tracks and offered."""

import gzip
import os

import pytest
from sqlalchemy import func, select

from tests.support import payloads
from tests.support.offers import Scene
from transitions.core.db import db
from transitions.directory.models import Program, Track
from transitions.identity.models import Organization

DATA_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
SU_FILE = os.path.join(DATA_DIR, "samhsa-2022-substance-use-facilities.csv.gz")
MH_FILE = os.path.join(DATA_DIR, "samhsa-2022-mental-health-facilities.csv.gz")
HEADER = "name1,name2,street1,street2,city,state,zip,phone,intake1,intake2,intake1a,intake2a,service_code_info"
SU_CODES = "SA SUMH MH * OIT * BU * MD SF PI * ADLT YAD SNR * SP * TELE"
MH_CODES = "MH * PHDT * MC * CHLD YAD ADLT SNR * F70"


def line(name1, street="12 Main Street", zip_code="60601", state="IL", codes=SU_CODES, phone="312-555-0100"):
    return ",".join([name1, "", street, "", "Chicago", state, zip_code, phone, "", "", "", "", codes])


def write(tmp_path, lines, name="facilities.csv.gz"):
    path = tmp_path / name
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join([HEADER, *lines]) + "\n")
    return str(path)


def run_import(app, path, *args):
    with app.app_context():
        return app.test_cli_runner().invoke(args=["directory", "import", path, *args])


def summary(result):
    """{name: count} from the closing summary lines (`created: 3`, `  unknown ZIP: 1`)."""
    counts = {}
    for text in result.stdout.splitlines():
        name, _, count = text.strip().rpartition(": ")
        if count.isdigit():
            counts[name] = int(count)
    return counts


def imported(app, name):
    with app.app_context():
        return db.session.scalar(select(Program).where(Program.name == name))


@pytest.fixture
def scene(api, world, app, clock):
    return Scene(api, world, app, clock)


def test_import_creates_unconfirmed_programs_each_with_its_own_provider(app, api, world, tmp_path):
    path = write(
        tmp_path, [line("Lakeview Recovery"), line("North Side IOP", street="1 Clark St"), line("X", codes="SA * ORT")]
    )
    result = run_import(app, path)
    assert result.exit_code == 0, result.output
    counts = summary(result)
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (2, 0, 0)
    assert counts["not an IOP setting"] == 1
    listed = api.get("/api/v1/programs?unconfirmed=true&limit=500", token=world.tokens["planner"]).json["items"]
    body = next(p for p in listed if p["name"] == "Lakeview Recovery")
    assert body["source"] == "samhsa" and body["unconfirmed"] is True and body["tracks"] == []
    assert body["services"] == ["mental_health", "substance_use", "co_occurring"]
    assert body["payers"] == ["medicaid-il", "private-insurance"] and body["self_pay"] is True
    assert body["languages"] == ["en", "es"] and body["telehealth_states"] == ["IL"] and body["mat"] is True
    assert (body["street"], body["city"], body["zip"], body["phone"]) == (
        "12 Main Street",
        "Chicago",
        "60601",
        "312-555-0100",
    )
    with app.app_context():
        owner = db.session.get(Organization, body["organization_id"])
        assert (owner.kind, owner.name) == ("iop_provider", "Lakeview Recovery")
    own = api.post("/api/v1/programs", {**_program_body(), "name": "Own"}, token=world.tokens["coordinator"]).json
    assert (own["source"], own["unconfirmed"]) == ("provider", False)


def _program_body():
    return payloads.program()


def test_second_run_changes_nothing_and_a_changed_facility_is_updated(app, tmp_path):
    lines = [line("Lakeview Recovery"), line("North Side IOP", street="1 Clark St")]
    run_import(app, write(tmp_path, lines))
    again = run_import(app, write(tmp_path, lines))
    counts = summary(again)
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (0, 0, 2), again.output
    changed = [line("Lakeview Recovery", phone="312-555-0199"), lines[1]]
    counts = summary(run_import(app, write(tmp_path, changed)))
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (0, 1, 1)
    assert imported(app, "Lakeview Recovery").phone == "312-555-0199"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Program)) == 2


def test_an_edited_field_survives_a_reimport(app, api, world, tmp_path):
    run_import(app, write(tmp_path, [line("Lakeview Recovery")]))
    program = imported(app, "Lakeview Recovery")
    edited = api.patch(
        "/api/v1/programs/%s" % program.id, {"phone": "312-555-0777", "max_age": 64}, token=world.tokens["admin"]
    )
    assert edited.status_code == 200, edited.json
    newer = line("Lakeview Recovery", phone="312-555-0199", codes=SU_CODES.replace("SP", "SP F70"))
    counts = summary(run_import(app, write(tmp_path, [newer])))
    assert counts["updated"] == 1
    after = imported(app, "Lakeview Recovery")
    assert (after.phone, after.max_age) == ("312-555-0777", 64)  # theirs
    assert after.languages == ["en", "es", "ru"]  # still the import's


def test_a_facility_gone_from_the_file_becomes_inactive_not_deleted(app, tmp_path):
    run_import(app, write(tmp_path, [line("Lakeview Recovery"), line("Gone Soon", street="9 Elm St")]))
    counts = summary(run_import(app, write(tmp_path, [line("Lakeview Recovery")])))
    assert counts["deactivated"] == 1
    gone = imported(app, "Gone Soon")
    assert gone is not None and gone.active is False
    assert imported(app, "Lakeview Recovery").active is True
    counts = summary(
        run_import(app, write(tmp_path, [line("Lakeview Recovery"), line("Gone Soon", street="9 Elm St")]))
    )
    assert counts["updated"] == 1 and imported(app, "Gone Soon").active is True


def test_a_claimed_program_gone_from_the_file_stays_active(app, api, world, tmp_path):
    run_import(app, write(tmp_path, [line("Lakeview Recovery"), line("Other", street="9 Elm St")]))
    program = imported(app, "Lakeview Recovery")
    claim = {"organization_id": world.orgs["provider"]}
    assert api.post("/api/v1/programs/%s/claim" % program.id, claim, token=world.tokens["admin"]).status_code == 200
    counts = summary(run_import(app, write(tmp_path, [line("Other", street="9 Elm St")])))
    assert counts["deactivated"] == 0
    assert imported(app, "Lakeview Recovery").active is True


def test_a_state_filtered_import_retires_nothing_elsewhere(app, tmp_path):
    texas = line("Austin IOP", zip_code="78701", state="TX")
    run_import(app, write(tmp_path, [line("Lakeview Recovery"), texas]))
    counts = summary(run_import(app, write(tmp_path, [line("Lakeview Recovery")]), "--state", "TX"))
    assert counts["deactivated"] == 1 and imported(app, "Lakeview Recovery").active is True
    assert imported(app, "Austin IOP").active is False


def test_a_facility_in_both_files_is_one_program_with_both_services(app, tmp_path):
    run_import(app, write(tmp_path, [line("Lakeview Recovery", codes="SA * OIT * MD * ADLT")], "su.csv.gz"))
    mh = write(tmp_path, [line("LAKEVIEW RECOVERY", street="12 Main St.", codes=MH_CODES)], "mh.csv.gz")
    counts = summary(run_import(app, mh))
    assert (counts["created"], counts["updated"]) == (0, 1)
    program = imported(app, "Lakeview Recovery")
    assert program.services == ["mental_health", "substance_use"]
    assert program.payers == ["medicaid-il", "medicare"] and (program.min_age, program.max_age) == (0, 120)
    # Re-importing either file alone neither flips the other's services away nor retires the program.
    counts = summary(run_import(app, write(tmp_path, [line("Lakeview Recovery", codes="SA * OIT * MD * ADLT")])))
    assert (counts["updated"], counts["unchanged"], counts["deactivated"]) == (0, 1, 0)
    assert imported(app, "Lakeview Recovery").services == ["mental_health", "substance_use"]
    # Gone from the mental health file: the program keeps its substance use line and loses the other's services.
    counts = summary(run_import(app, write(tmp_path, [line("Other", street="5 Oak St", codes=MH_CODES)])))
    after = imported(app, "Lakeview Recovery")
    assert after.active is True and after.services == ["substance_use"] and counts["updated"] == 1


def test_bad_lines_are_reported_and_the_rest_imported(app, tmp_path):
    path = write(
        tmp_path, [line("Good One"), line("Bad Zip", zip_code="00000"), line(""), line("Odd", codes=SU_CODES + " ZZZ")]
    )
    result = run_import(app, path)
    assert result.exit_code == 3, result.output
    assert "line 3: unknown ZIP '00000'" in result.stderr
    assert "line 4: no name" in result.stderr
    assert "line 5: unknown service code ZZZ" in result.stderr
    counts = summary(result)
    assert (counts["created"], counts["unknown ZIP"], counts["no name"], counts["unknown service code"]) == (1, 1, 1, 1)
    assert imported(app, "Good One") is not None


def test_strict_imports_nothing_when_a_line_is_bad(app, tmp_path):
    result = run_import(app, write(tmp_path, [line("Good One"), line("Bad Zip", zip_code="00000")]), "--strict")
    assert result.exit_code == 4, result.output
    assert "line 3: unknown ZIP" in result.stderr and "nothing written" in result.stderr
    assert imported(app, "Good One") is None


def test_dry_run_counts_and_writes_nothing(app, tmp_path):
    result = run_import(app, write(tmp_path, [line("Good One")]), "--dry-run")
    assert result.exit_code == 0 and summary(result)["created"] == 1
    assert "Dry run: nothing written." in result.stdout
    assert imported(app, "Good One") is None


def test_another_header_is_refused_whole(app, tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("name,zip\nLakeview,60601\n")
    result = run_import(app, str(path))
    assert result.exit_code == 4
    assert "line 1: the header is not the samhsa-nsumhss layout" in result.stderr


def test_a_truncated_gzip_imports_what_it_read_and_retires_nothing(app, tmp_path):
    run_import(app, write(tmp_path, [line("Keep Me", street="1 A St")], "first.csv.gz"))
    path = write(tmp_path, [line("Facility %d" % n, street="%d Main St" % n) for n in range(3000)], "big.csv.gz")
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 2])
    result = run_import(app, path)
    assert result.exit_code == 3, result.output
    assert "the file ends early" in result.stderr
    assert 0 < summary(result)["created"] < 3000
    assert imported(app, "Keep Me").active is True


def test_an_unknown_state_is_a_usage_error(app, tmp_path):
    result = run_import(app, write(tmp_path, [line("Good One")]), "--state", "ZZ")
    assert result.exit_code == 2 and "not a US state: ZZ" in result.output


def test_claim_then_a_track_makes_an_ordinary_program_that_gets_offers(app, api, world, scene, tmp_path):
    run_import(app, write(tmp_path, [line("Lakeview Recovery")]))
    program_id = imported(app, "Lakeview Recovery").id
    admin, coordinator = world.tokens["admin"], world.tokens["coordinator"]
    refused = api.post("/api/v1/programs/%s/tracks" % program_id, _track(), token=admin)
    assert refused.status_code == 409, refused.json
    denied = api.post(
        "/api/v1/programs/%s/claim" % program_id, {"organization_id": world.orgs["provider"]}, token=coordinator
    )
    assert denied.status_code == 403
    wrong_kind = api.post(
        "/api/v1/programs/%s/claim" % program_id, {"organization_id": world.orgs["hospital"]}, token=admin
    )
    assert wrong_kind.status_code == 422
    claimed = api.post(
        "/api/v1/programs/%s/claim" % program_id, {"organization_id": world.orgs["provider"]}, token=admin
    )
    assert claimed.status_code == 200, claimed.json
    assert claimed.json["organization_id"] == world.orgs["provider"] and claimed.json["unconfirmed"] is True
    patched = api.patch("/api/v1/programs/%s" % program_id, {"payers": ["acme-health"]}, token=coordinator)
    assert patched.status_code == 200, patched.json
    track = api.post("/api/v1/programs/%s/tracks" % program_id, _track(), token=coordinator)
    assert track.status_code == 201, track.json
    assert api.get("/api/v1/programs/%s" % program_id, token=coordinator).json["unconfirmed"] is False
    referral = scene.referral(need="mental_health")
    assert scene.offer(referral, track.json["id"]).status_code == 201
    # The provider's payers survive the next import.
    run_import(app, write(tmp_path, [line("Lakeview Recovery")]))
    assert imported(app, "Lakeview Recovery").payers == ["acme-health"]


def test_an_unconfirmed_program_is_never_offered(app, api, world, scene, tmp_path):
    run_import(app, write(tmp_path, [line("Lakeview Recovery", codes=SU_CODES + " PI")]))
    program = imported(app, "Lakeview Recovery")
    with app.app_context():
        # No entry point adds a track to an unclaimed program; put one there to prove the offer path refuses anyway.
        track = Track(
            program_id=program.id,
            name="Evening",
            modality="in_person",
            timezone="America/Chicago",
            sessions=_track()["sessions"],
            hours_per_week=9,
            intake_days=["mon", "wed", "thu"],
            capacity=8,
            occupied=0,
            held=0,
        )
        db.session.add(track)
        db.session.commit()
        track_id = track.id
    referral = scene.referral(need="mental_health")
    response = scene.offer(referral, track_id)
    assert response.status_code == 409, response.json
    assert "unconfirmed" in response.json["detail"]


def _track():
    return payloads.track()


@pytest.fixture
def real_file():
    if not os.path.isfile(SU_FILE):
        pytest.skip("the SAMHSA reference file %s is not in ../shared/data" % SU_FILE)
    return SU_FILE


def test_real_file_one_state_twice(app, real_file):
    first = run_import(app, real_file, "--state", "IL")
    assert first.exit_code == 0, first.output
    assert summary(first)["created"] == 326
    second = summary(run_import(app, real_file, "--state", "IL"))
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 326)


def test_real_files_merge_facilities_listed_in_both(app):
    if not (os.path.isfile(SU_FILE) and os.path.isfile(MH_FILE)):
        pytest.skip("the SAMHSA reference files are not in ../shared/data")
    su = summary(run_import(app, SU_FILE, "--state", "RI"))
    mh = summary(run_import(app, MH_FILE, "--state", "RI"))
    with app.app_context():
        programs = db.session.scalars(select(Program).where(Program.state == "RI")).all()
        in_both = [p for p in programs if set(p.import_rows) == {"OIT", "PHDT"}]
    assert len(programs) == su["created"] + mh["created"]
    assert len(in_both) == mh["updated"] > 0
    assert all({"mental_health", "substance_use"} <= set(p.services) for p in in_both)
