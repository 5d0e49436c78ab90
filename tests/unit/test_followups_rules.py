"""Each follow-up check judged against hand-built timelines: met, missed, not applicable, and the edge days."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from transitions.core.clock import end_of_day
from transitions.followups.checks import evaluate
from transitions.followups.facts import AcceptedOffer, Facts, PlacementFact, ReadmissionFact, Session, Subject
from transitions.followups.plan import PlanError, parse_plan

TZ = "America/Chicago"
D = date(2026, 12, 3)
DUE_DAYS = {
    "intake_scheduled": 1,
    "followup_7": 7,
    "initiation_14": 14,
    "followup_30": 30,
    "engagement_34": 34,
    "outcome_90": 90,
    "outcome_180": 180,
}


def d(n):
    return D + timedelta(days=n)


def judge(check, sessions=(), readmissions=(), accepted=None, placement=None, need="mental_health", status="attending"):
    """accepted = (accepted_at ISO, intake day or None); placement = (outcome or None, discharged on day or None)."""
    due_date = d(DUE_DAYS[check])
    facts = Facts()
    facts.attended = [Session("s%d" % n, d(n)) for n in sorted(sessions)]
    facts.readmissions = [ReadmissionFact("r%d" % n, d(n)) for n in sorted(readmissions)]
    if accepted:
        when, intake = accepted
        facts.accepted_offers = [
            AcceptedOffer(
                "o1", d(intake) if intake is not None else None, datetime.fromisoformat(when.replace("Z", "+00:00"))
            )
        ]
    if placement:
        outcome, ended = placement
        facts.placements = [
            PlacementFact(
                "p1",
                d(1),
                "discharged" if ended is not None else "active",
                outcome,
                datetime.combine(d(ended), time(18), tzinfo=UTC) if ended is not None else None,
            )
        ]
    return evaluate(check, Subject("ref", status, need, D, TZ), due_date, end_of_day(due_date, TZ), facts)


def outcome(*args, **kwargs):
    return judge(*args, **kwargs)[0]


def test_a_window_closes_at_the_end_of_the_due_day_in_the_patients_time_zone():
    assert end_of_day(d(7), "America/Chicago") == datetime(2026, 12, 11, 6, 0, tzinfo=UTC)
    assert end_of_day(d(7), "Pacific/Honolulu") == datetime(2026, 12, 11, 10, 0, tzinfo=UTC)
    # Across the spring change the day still ends at local midnight.
    assert end_of_day(date(2027, 3, 14), "America/Chicago") == datetime(2027, 3, 15, 5, 0, tzinfo=UTC)


# ---------------------------------------------------------------- intake_scheduled (day 1)


@pytest.mark.parametrize(
    "accepted, expected",
    [
        (("2026-12-02T16:00:00Z", 4), "met"),  # accepted before discharge
        (("2026-12-05T05:59:00Z", 6), "met"),  # 23:59 on day 1 in Chicago
        (("2026-12-05T06:00:00Z", 6), "missed"),  # 00:00 on day 2 in Chicago: too late for day 1
        (("2026-12-03T16:00:00Z", None), "missed"),  # accepted without an intake date
        (None, "missed"),
    ],
)
def test_intake_scheduled_needs_an_accepted_offer_with_an_intake_date_by_day_1(accepted, expected):
    result, evidence = judge("intake_scheduled", accepted=accepted)
    assert result == expected
    if expected == "met":
        assert evidence["offer_id"] == "o1" and evidence["intake_date"] == d(accepted[1]).isoformat()
    else:
        assert evidence["reason"] == "no_accepted_offer_with_intake_date"


# ---------------------------------------------------------------- followup_7 (HEDIS FUH)


@pytest.mark.parametrize(
    "sessions, expected",
    [
        ([0], "missed"),  # the discharge day itself does not count
        ([1], "met"),
        ([7], "met"),  # the last day of the window counts
        ([8], "missed"),  # one day late
        ([0, 8, 9], "missed"),
        ([0, 3, 8], "met"),
        ([], "missed"),
    ],
)
def test_followup_7_needs_a_session_on_days_1_to_7(sessions, expected):
    result, evidence = judge("followup_7", sessions=sessions)
    assert result == expected
    assert evidence["window"] == {"from": "2026-12-04", "to": "2026-12-10"}
    if expected == "met":
        first = min(n for n in sessions if 1 <= n <= 7)
        assert evidence["session"] == {"attendance_id": "s%d" % first, "date": d(first).isoformat(), "day": first}


def test_followup_7_ignores_readmissions():
    assert outcome("followup_7", sessions=[2], readmissions=[5]) == "met"
    assert outcome("followup_7", readmissions=[5]) == "missed"


# ---------------------------------------------------------------- initiation_14 (SUD only)


@pytest.mark.parametrize("sessions, expected", [([14], "met"), ([1], "met"), ([0, 15], "missed"), ([], "missed")])
def test_initiation_14_needs_a_session_within_14_days(sessions, expected):
    assert outcome("initiation_14", sessions=sessions, need="substance_use") == expected
    assert outcome("initiation_14", sessions=sessions, need="co_occurring") == expected


def test_sud_checks_do_not_apply_to_mental_health_referrals():
    for check in ("initiation_14", "engagement_34"):
        result, evidence = judge(check, sessions=[1, 2, 3], need="mental_health")
        assert (result, evidence) == ("not_applicable", {"reason": "not_applicable_to_need"})


# ---------------------------------------------------------------- followup_30


@pytest.mark.parametrize(
    "sessions, readmissions, expected, reason",
    [
        ([30], [], "met", "attended"),
        ([31], [], "missed", "no_attended_session"),
        ([10], [20], "missed", "readmitted"),  # a readmission (days 3-30) fails it
        ([5], [1], "met", "attended"),  # back in hospital on day 1 is a transfer, not a readmission
        ([5], [31], "met", "attended"),  # readmitted after the window
        ([], [3], "missed", "readmitted"),
    ],
)
def test_followup_30_needs_a_session_and_no_readmission(sessions, readmissions, expected, reason):
    result, evidence = judge("followup_30", sessions=sessions, readmissions=readmissions)
    assert (result, evidence["reason"]) == (expected, reason)
    if reason == "readmitted":
        assert evidence["readmission"]["day"] == readmissions[0]


# ---------------------------------------------------------------- engagement_34 (HEDIS IET)


@pytest.mark.parametrize(
    "sessions, expected, reason",
    [
        ([3, 10, 34], "met", "engaged"),
        ([14, 15, 16], "met", "engaged"),
        ([5, 6, 7, 8], "met", "engaged"),
        ([3, 10, 35], "missed", "fewer_than_two_more_sessions"),  # the third session is a day late
        ([0, 5, 6], "missed", "fewer_than_two_more_sessions"),  # day 0 is no initiation, so only one more
        ([15, 16, 17], "missed", "not_initiated"),  # started after day 14
        ([], "missed", "not_initiated"),
    ],
)
def test_engagement_34_needs_initiation_and_two_more_sessions_by_day_34(sessions, expected, reason):
    result, evidence = judge("engagement_34", sessions=sessions, need="co_occurring")
    assert (result, evidence["reason"]) == (expected, reason)
    if expected == "met":
        assert len(evidence["sessions"]) == 3


# ---------------------------------------------------------------- outcome_90 and outcome_180


@pytest.mark.parametrize(
    "check, sessions, readmissions, placement, expected, reason",
    [
        ("outcome_90", [5, 75], [], (None, None), "met", "attending"),
        ("outcome_90", [5, 61], [], (None, None), "met", "attending"),  # day 61: inside the last 30 days
        ("outcome_90", [5, 60], [], (None, None), "missed", "no_recent_attendance"),
        ("outcome_90", [5, 40], [], ("completed", 60), "met", "discharged_completed"),
        ("outcome_90", [5, 40], [], ("transferred", 60), "met", "discharged_transferred"),
        ("outcome_90", [5, 40], [], ("dropped_out", 50), "missed", "discharged_dropped_out"),
        ("outcome_90", [5, 85], [], ("dropped_out", 95), "met", "attending"),  # still open on day 90
        ("outcome_90", [5, 40], [40], ("completed", 60), "missed", "readmitted"),
        ("outcome_90", [], [], None, "missed", "never_placed"),
        ("outcome_180", [5, 40], [], ("completed", 80), "met", "discharged_completed"),
        ("outcome_180", [5, 40], [150], ("completed", 80), "missed", "readmitted"),
        ("outcome_180", [5, 40], [2], ("completed", 80), "met", "discharged_completed"),  # a transfer is no readmission
        ("outcome_180", [5, 170], [], (None, None), "met", "attending"),
        ("outcome_180", [5, 100], [], (None, None), "missed", "no_recent_attendance"),
        ("outcome_180", [5], [], ("readmitted", 20), "missed", "discharged_readmitted"),
    ],
)
def test_outcome_checks(check, sessions, readmissions, placement, expected, reason):
    result, evidence = judge(check, sessions=sessions, readmissions=readmissions, placement=placement)
    assert (result, evidence["reason"]) == (expected, reason)


def test_a_cancelled_referral_is_not_applicable_to_any_check():
    for check in DUE_DAYS:
        assert judge(check, sessions=[1, 2, 3], status="cancelled", need="substance_use") == (
            "not_applicable",
            {"reason": "referral_cancelled"},
        )


def test_evidence_carries_ids_dates_and_codes_only():
    _, evidence = judge("engagement_34", sessions=[3, 10, 34], need="substance_use")
    flat = repr(evidence)
    assert "Maria" not in flat and "Lopez" not in flat
    assert set(evidence) == {"reason", "window", "sessions"}


# ---------------------------------------------------------------- the configurable plan


def test_the_plan_is_configurable_and_validated():
    plan = parse_plan({"followup_7": {"due_days": 10}, "intake_scheduled": 2})
    assert [(p.check, p.due_days, p.needs) for p in plan] == [("intake_scheduled", 2, None), ("followup_7", 10, None)]
    for bad in (
        {"followup_99": 7},
        {"followup_7": {"due_days": -1}},
        {"followup_7": {"due_days": 7, "needs": ["x"]}},
        {"followup_7": {"due_days": 7, "extra": 1}},
        {},
        {"followup_7": {"due_days": True}},
    ):
        with pytest.raises(PlanError):
            parse_plan(bad)


def test_the_registry_feeds_the_default_plan_the_labels_and_the_rates():
    from transitions.followups.checks import CHECKS, RATE_MEASURES, REGISTRY, label
    from transitions.followups.plan import plan_config
    from transitions.followups.schemas import MetricsSchema

    plan = plan_config({"FOLLOWUP_PLAN": None})
    assert [(p.check, p.due_days) for p in plan] == [(name, DUE_DAYS[name]) for name in CHECKS]
    assert {p.check: p.needs for p in plan if p.needs} == {
        "initiation_14": ("substance_use", "co_occurring"),
        "engagement_34": ("substance_use", "co_occurring"),
    }
    assert label("followup_7") == "7-day follow-up" and label("gone_check") == "gone_check"
    assert [m.name for m in RATE_MEASURES] == ["followup_7", "followup_30", "initiation", "engagement"]
    assert all(REGISTRY[m.check].rate == m.name and m.days == DUE_DAYS[m.check] for m in RATE_MEASURES)
    assert {m.name for m in RATE_MEASURES} <= set(MetricsSchema().fields)
