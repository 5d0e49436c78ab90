"""The case manager's step-down board and the metrics, against a hand-computed cohort of 25 referrals."""

from datetime import UTC, date, datetime

import pytest

from tests.support.followups import attend, offer, person, program_and_track, readmit, submit, sud, sweep
from transitions.core.pagination import encode_cursor

ACCEPTED_AT = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


# ---------------------------------------------------------------- the board


@pytest.fixture
def board(api, world, app, clock):
    ids = {
        "a": submit(api, world, patient=person(1), discharge_date="2026-12-03"),
        "b": submit(api, world, patient=person(2), discharge_date="2026-12-08", **sud()),
        "c": submit(api, world, patient=person(3), discharge_date="2026-12-20"),
        "other_plan": submit(api, world, patient=person(4), coverage={"payer_id": "other-plan", "member_id": "O"}),
        "cancelled": submit(api, world, patient=person(5)),
        "placed": submit(api, world, patient=person(6), discharge_date="2026-12-05"),
        "other_org": submit(api, world, token="planner2", patient=person(7), discharge_date="2026-12-06"),
    }
    assert (
        api.post("/api/v1/referrals/%s/cancel" % ids["cancelled"], {}, token=world.tokens["planner"]).status_code == 200
    )
    program_id, track_id = program_and_track(api, world)
    _, placement_id = offer(
        app, ids["placed"], program_id, track_id, intake_date=date(2026, 12, 5), decided_at=ACCEPTED_AT
    )
    attend(app, placement_id, 0, 2, discharge=date(2026, 12, 5))
    sweep(app, "2026-12-09T00:00:00Z")
    clock.set("2026-12-12T12:00:00Z")
    ids["program_id"], ids["placement_id"] = program_id, placement_id
    return ids


def stepdowns(api, world, query="", token="manager"):
    response = api.get("/api/v1/stepdowns" + query, token=world.tokens[token])
    assert response.status_code == 200, response.json
    return response.json


def test_the_board_lists_the_plans_members_in_transition_most_urgent_first(api, world, board):
    items = stepdowns(api, world)["items"]
    by_id = {item["referral_id"]: item for item in items}
    # Not the other plan's member, not the cancelled referral; the other hospital's patient is the plan's member.
    assert set(by_id) == {board[k] for k in ("a", "b", "c", "placed", "other_org")}
    # By the next check's due time: b's intake (Dec 9), a's 7-day (Dec 10), then Dec 12, Dec 13, Dec 21.
    assert [i["referral_id"] for i in items] == [board[k] for k in ("b", "a", "placed", "other_org", "c")]
    a = by_id[board["a"]]
    assert a["status"] == "submitted" and a["discharge_date"] == "2026-12-03"
    assert a["days_since_discharge"] == 9
    assert a["next_check"] == {"check": "followup_7", "due_date": "2026-12-10"}
    assert (a["overdue"], a["overdue_checks"]) == (True, ["followup_7"])
    assert (a["missed"], a["missed_checks"]) == (True, ["intake_scheduled"])
    b = by_id[board["b"]]
    assert (b["overdue"], b["overdue_checks"], b["missed"]) == (True, ["intake_scheduled"], False)
    assert b["part2_notice"] and a["part2_notice"] is None
    c = by_id[board["c"]]
    assert c["days_since_discharge"] == -8 and c["overdue"] is False and c["missed"] is False
    assert c["next_check"] == {"check": "intake_scheduled", "due_date": "2026-12-21"}
    placed = by_id[board["placed"]]
    assert placed["placement_id"] == board["placement_id"] and placed["program_id"] == board["program_id"]
    assert placed["intake_date"] == "2026-12-05" and placed["last_attended_on"] == "2026-12-07"
    assert placed["missed"] is False


def test_board_filters_and_pages(api, world, board):
    def ids(query, token="manager"):
        return [i["referral_id"] for i in stepdowns(api, world, query, token)["items"]]

    assert ids("?overdue=true") == [board["b"], board["a"]]
    assert ids("?overdue=false") == [board["placed"], board["other_org"], board["c"]]
    assert ids("?missed=true") == [board["a"], board["other_org"]]
    assert ids("?need=substance_use") == [board["b"]]
    assert ids("?discharge_from=2026-12-04&discharge_to=2026-12-08") == [
        board["b"],
        board["placed"],
        board["other_org"],
    ]
    assert ids("?status=submitted&organization_id=%s" % world.orgs["hospital2"]) == [board["other_org"]]
    seen, cursor = [], None
    while True:
        page = stepdowns(api, world, "?limit=2" + ("&cursor=" + cursor if cursor else ""))
        seen += [i["referral_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids("")
    with world.app.app_context():  # signed with the app's key, so only the number where an id belongs is wrong
        forged = encode_cursor(["2026-12-10T06:00:00+00:00", 5])
    for bad in ("?overdue=perhaps", "?status=gone", "?cursor=abc", "?cursor=" + forged, "?sort=x", "?limit=0"):
        response = api.get("/api/v1/stepdowns" + bad, token=world.tokens["manager"])
        assert response.status_code == (400 if bad.startswith("?cursor=") else 422), bad


def test_who_may_see_the_board(api, world, board):
    assert {i["referral_id"] for i in stepdowns(api, world, token="planner")["items"]} == {
        board[k] for k in ("a", "b", "c", "other_plan", "placed")
    }
    assert [i["referral_id"] for i in stepdowns(api, world, token="manager2")["items"]] == [board["other_plan"]]
    assert len(stepdowns(api, world, token="admin")["items"]) == 6
    assert api.get("/api/v1/stepdowns", token=world.tokens["coordinator"]).status_code == 403
    assert api.get("/api/v1/metrics", token=world.tokens["coordinator"]).status_code == 403
    assert api.get("/api/v1/stepdowns").status_code == 401


# ---------------------------------------------------------------- metrics: a hand-computed cohort

# name: (discharge date, options). Sessions are days after discharge (0 = the discharge day).
# Every referral is an acme-health member from the first hospital unless it says otherwise.
COHORT = {
    "R1": ("2026-12-01", {"sessions": [2, 5, 12], "declined": ["payer"]}),
    "R2": ("2026-12-02", {"sessions": [0, 8], "withdrawn": 1}),
    "R3": ("2026-12-03", {"sessions": [7]}),
    "R4": ("2026-12-04", {"declined": ["at_capacity"]}),
    "R5": ("2026-12-05", {"sessions": [3], "readmitted": [10]}),
    "R6": ("2026-12-06", {"sessions": [20]}),
    "R7": ("2026-12-07", {"sessions": [4], "readmitted": [1]}),  # a transfer, not a readmission
    "R8": ("2026-12-08", {"sessions": [31]}),
    "R9": ("2026-12-09", {"sessions": [1], "readmitted": [40]}),  # readmitted after 30 days
    "R10": ("2026-12-10", {"declined": ["schedule"], "expired": 1}),
    "R4b": ("2026-12-04", {"lapsed_offer": 1, "payer": "other-plan"}),  # another plan's: only admins count it
    "R11": ("2026-12-01", {"need": "substance_use", "sessions": [3, 10, 30]}),
    "R12": ("2026-12-02", {"need": "co_occurring", "sessions": [15, 16, 17]}),
    "R13": ("2026-12-03", {"need": "substance_use", "sessions": [14, 20]}),
    "R14": ("2026-12-04", {"need": "co_occurring", "sessions": [0, 6, 7]}),
    "R15": ("2026-12-05", {"need": "substance_use", "readmitted": [5], "declined": ["patient_declined"]}),
    "R16": ("2026-12-06", {"need": "substance_use", "sessions": [2, 9, 34]}),
    "R17": ("2027-02-10", {"sessions": [1]}),  # windows still open on 2027-02-15
    "R18": ("2027-02-05", {"need": "substance_use", "pending_offer": 1}),
    "R19": ("2026-12-05", {"sessions": [1], "payer": "other-plan"}),
    "R20": ("2026-12-05", {"sessions": [1], "cancel": 1}),
    "R21": ("2026-11-25", {"sessions": [1]}),  # discharged before the cohort
    "R22": ("2026-12-12", {"sessions": [1, 2], "planner": "planner2"}),
    "R23": ("2026-12-15", {"self_pay": 1}),
    "R24": ("2026-12-20", {"sessions": [3]}),
}


@pytest.fixture
def cohort(api, world, app, clock):
    program_id, track_id = program_and_track(api, world)
    other_program, other_track = program_and_track(api, world, token="coordinator2")
    ids = {}
    for index, (name, (discharge, options)) in enumerate(COHORT.items()):
        overrides = {"patient": person(index), "discharge_date": discharge}
        if options.get("need"):
            overrides.update(sud(need=options["need"], diagnoses=["F10.20"]))
        if options.get("payer"):
            overrides["coverage"] = {"payer_id": options["payer"], "member_id": "M%d" % index}
        if options.get("self_pay"):
            overrides["coverage"] = {"self_pay": True}
        referral_id = ids[name] = submit(api, world, token=options.get("planner", "planner"), **overrides)
        discharge_day = date.fromisoformat(discharge)
        for reason in options.get("declined", []):
            offer(
                app,
                referral_id,
                other_program,
                other_track,
                status="declined",
                decline_reason=reason,
                decided_at=ACCEPTED_AT,
            )
        if options.get("withdrawn"):
            offer(app, referral_id, other_program, other_track, status="withdrawn", decided_at=ACCEPTED_AT)
        if options.get("expired"):
            offer(app, referral_id, program_id, track_id, status="expired", decided_at=ACCEPTED_AT)
        if options.get("pending_offer"):
            offer(app, referral_id, program_id, track_id, status="pending", expires_at="2027-02-16T12:00:00Z")
        if options.get("lapsed_offer"):
            # Still 'pending' in its row, but past its time: an expired offer, as every read says.
            offer(app, referral_id, program_id, track_id, status="pending", expires_at="2027-02-15T11:00:00Z")
        if options.get("sessions"):
            _, placement_id = offer(
                app, referral_id, program_id, track_id, intake_date=discharge_day, decided_at=ACCEPTED_AT
            )
            attend(app, placement_id, *options["sessions"], discharge=discharge_day)
        for n in options.get("readmitted", []):
            readmit(app, referral_id, n, discharge=discharge_day)
        if options.get("cancel"):
            assert (
                api.post("/api/v1/referrals/%s/cancel" % referral_id, {}, token=world.tokens["planner"]).status_code
                == 200
            )
    clock.set("2027-02-15T12:00:00Z")
    return ids


def rate(numerator, denominator, pending=0):
    return {
        "numerator": numerator,
        "denominator": denominator,
        "rate": round(numerator / denominator, 4) if denominator else None,
        "pending": pending,
    }


def with_adt(referral_only, numerator, denominator, pending=0):
    """A follow-up rate with its figures counting discharges without referral too (the same when there are none)."""
    both = rate(numerator, denominator, pending)
    return dict(
        referral_only,
        numerator_with_adt=both["numerator"],
        denominator_with_adt=both["denominator"],
        rate_with_adt=both["rate"],
        pending_with_adt=both["pending"],
    )


def test_metrics_match_the_hand_computed_cohort(api, world, cohort):
    response = api.get("/api/v1/metrics?from=2026-12-01&to=2027-02-15", token=world.tokens["manager"])
    assert response.status_code == 200, response.json
    m = response.json
    # The plan's members: R1-R18, R22 (another hospital, same plan) and R24; not R19 (other plan),
    # R20 (cancelled), R21 (before the cohort) or R23 (self-pay).
    assert m["referrals"] == 20
    assert (m["from"], m["to"], m["as_of"]) == ("2026-12-01", "2027-02-15", "2027-02-15T12:00:00Z")
    # Met on days 1-7: R1 R3 R5 R7 R9 R11 R14 R16 R22 R24. Missed: R2 (days 0 and 8), R4, R6, R8, R10,
    # R12, R13, R15, R18. R17's window is open.
    # No ADT feed told of a discharge without referral here: the figures with ADT are the same.
    assert m["discharges_without_referral"] == 0
    assert m["followup_7"] == with_adt(rate(10, 19, 1), 10, 19, 1)
    # Missed: R4, R5 (readmitted day 10), R8 (day 31), R10, R15 (readmitted day 5). R17, R18 open.
    assert m["followup_30"] == with_adt(rate(13, 18, 2), 13, 18, 2)
    # SUD: R11 R13 (day 14) R14 R16 met; R12 (day 15) R15 missed; R18 open.
    assert m["initiation"] == rate(4, 6, 1)
    # Initiation plus two more by day 34: R11 (3, 10, 30) and R16 (2, 9, 34) only.
    assert m["engagement"] == rate(2, 6, 1)
    # First sessions: 0 0 1 1 1 2 2 3 | 3 3 4 7 14 15 20 31 (R2 R14 R9 R17 R22 R1 R16 R5 R11 R24 R7 R3 R13 R12 R6 R8).
    assert m["median_days_to_first_session"] == {"value": 3.0, "count": 16}
    # 16 accepted, 4 declined, 1 expired (R2's withdrawn offer is nobody's decision; R18's is pending).
    assert m["offer_acceptance"] == rate(16, 21, 1)
    assert m["decline_reasons"] == {
        "at_capacity": 1,
        "clinical_fit": 0,
        "payer": 1,
        "schedule": 1,
        "patient_declined": 1,
        "other": 0,
    }
    # Readmitted on days 3-30: R5, R15. R7's day-1 return is a transfer; R9's day 40 is too late.
    assert m["readmission_30"] == dict(rate(2, 18, 2), transfers=1)


def test_metrics_scope_for_planners_admins_and_other_plans(api, world, cohort):
    query = "/api/v1/metrics?from=2026-12-01&to=2027-02-15"
    planner = api.get(query, token=world.tokens["planner"]).json
    # The hospital's own referrals: R1-R19, R4b, R23, R24 less the cancelled R20 and the early R21.
    assert planner["referrals"] == 22
    # The plan's 10 of 19, less R22 (met), plus R19 (met), R4b and R23 (missed).
    assert planner["followup_7"] == with_adt(rate(10, 21, 1), 10, 21, 1)
    assert api.get(query, token=world.tokens["admin"]).json["referrals"] == 23
    other = api.get(query, token=world.tokens["manager2"]).json
    assert other["referrals"] == 2 and other["followup_7"] == with_adt(rate(1, 2), 1, 2)
    # R19's accepted offer, and R4b's offer still 'pending' in its row but past its expires_at: expired.
    assert other["offer_acceptance"] == rate(1, 2, 0)
    narrowed = api.get(query + "&organization_id=%s" % world.orgs["hospital2"], token=world.tokens["manager"]).json
    assert narrowed["referrals"] == 1 and narrowed["followup_7"] == with_adt(rate(1, 1), 1, 1)


def test_metrics_defaults_and_validation(api, world, cohort):
    default = api.get("/api/v1/metrics", token=world.tokens["manager"]).json
    assert (default["from"], default["to"]) == ("2026-11-18", "2027-02-15")
    assert default["referrals"] == 21  # the last 90 days reach back to R21's discharge on 2026-11-25
    empty = api.get("/api/v1/metrics?from=2025-01-01&to=2025-02-01", token=world.tokens["manager"]).json
    assert empty["referrals"] == 0 and empty["followup_7"] == with_adt(rate(0, 0), 0, 0)
    assert empty["median_days_to_first_session"] == {"value": None, "count": 0}
    for bad in (
        "from=2027-01-01&to=2026-12-01",
        "from=yesterday",
        "to=2027-13-01",
        "since=2026-01-01",
        "from=2020-01-01&to=2027-02-15",
    ):
        response = api.get("/api/v1/metrics?" + bad, token=world.tokens["manager"])
        assert response.status_code == 422, bad


def test_the_board_agrees_with_the_metrics_on_missed_checks(api, world, app, cohort):
    sweep(app, "2027-02-15T12:00:00Z")
    items = api.get("/api/v1/stepdowns?limit=500", token=world.tokens["manager"]).json["items"]
    missed_7 = {i["referral_id"] for i in items if "followup_7" in i["missed_checks"]}
    assert missed_7 == {cohort[k] for k in ("R2", "R4", "R6", "R8", "R10", "R12", "R13", "R15", "R18")}
