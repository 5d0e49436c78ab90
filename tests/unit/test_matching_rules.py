"""Each hard matching rule on hand-built facts: needs, ages on birthdays, genders, payers, distance, time zones, DST."""

from dataclasses import replace
from datetime import date

import pytest

from transitions.core.clock import age_on
from transitions.core.geo import distance_miles
from transitions.matching.facts import ReferralFacts, TrackFacts
from transitions.matching.rules import RULE_TEXT, RULES, evaluate_facts
from transitions.matching.schedule import first_intake_date

CHICAGO = (41.8858, -87.6181)  # 60601
EVANSTON = (42.0464, -87.6947)  # 60201, about 11.6 miles north


def track(**overrides):
    base = TrackFacts(
        track_id="t1",
        program_id="p1",
        program_name="Lakeview",
        track_name="Evening",
        modality="in_person",
        timezone="America/Chicago",
        sessions=(("mon", "18:00", "21:00"), ("wed", "18:00", "21:00"), ("thu", "18:00", "21:00")),
        intake_days=frozenset({"mon", "wed", "thu"}),
        hours_per_week=9.0,
        open_seats=3,
        active=True,
        services=frozenset({"mental_health"}),
        mat=False,
        min_age=18,
        max_age=64,
        gender="any",
        languages=frozenset({"en"}),
        interpreter_services=False,
        payers=frozenset({"acme-health"}),
        self_pay=False,
        accepts_from=frozenset({"inpatient_psych", "residential"}),
        telehealth_states=frozenset({"IL"}),
        latitude=CHICAGO[0],
        longitude=CHICAGO[1],
    )
    return replace(base, **overrides)


def referral(**overrides):
    base = ReferralFacts(
        referral_id="r1",
        need="mental_health",
        needs_mat=False,
        birth_date=date(1990, 4, 12),
        gender="female",
        language="en",
        payer_id="acme-health",
        self_pay=False,
        origin="inpatient_psych",
        modality="either",
        max_travel_miles=20.0,
        latitude=EVANSTON[0],
        longitude=EVANSTON[1],
        state="IL",
        timezone="America/Chicago",
        availability=None,
        discharge_date=date(2026, 12, 7),
        earliest_start=date(2026, 12, 7),
    )
    return replace(base, **overrides)


def failed(ref, trk, **kwargs):
    return evaluate_facts(ref, trk, **kwargs).failed


def test_a_fitting_pair_passes_with_reasons_and_score():
    verdict = evaluate_facts(referral(), track())
    assert verdict.ok and verdict.failed == []
    assert verdict.first_intake_date == date(2026, 12, 7)
    assert verdict.distance_miles == pytest.approx(11.6, abs=0.3)
    assert verdict.score > 140
    assert any("miles away" in reason for reason in verdict.reasons)


@pytest.mark.parametrize(
    "need, services, ok",
    [
        ("mental_health", {"mental_health"}, True),
        ("mental_health", {"substance_use"}, False),
        ("substance_use", {"substance_use"}, True),
        ("co_occurring", {"mental_health", "substance_use"}, False),  # both, but not integrated
        ("co_occurring", {"co_occurring"}, True),
        ("substance_use", {"co_occurring"}, False),
    ],
)
def test_need_served_and_co_occurring_needs_integrated_care(need, services, ok):
    assert (failed(referral(need=need), track(services=frozenset(services))) == []) is ok


def test_mat_required_only_when_needed():
    assert failed(referral(need="substance_use", needs_mat=True), track(services=frozenset({"substance_use"}))) == [
        "mat"
    ]
    assert (
        failed(referral(need="substance_use", needs_mat=True), track(services=frozenset({"substance_use"}), mat=True))
        == []
    )


def test_age_is_taken_on_the_first_intake_date_counting_the_birthday():
    # 18th birthday on Monday 2026-12-07, the first intake date: eligible that very day.
    assert failed(referral(birth_date=date(2008, 12, 7)), track()) == []
    # Birthday on Tuesday: still 17 at the Monday intake.
    assert failed(referral(birth_date=date(2008, 12, 8)), track()) == ["age"]
    # Turning 65 on intake day leaves an 18-64 program.
    assert failed(referral(birth_date=date(1961, 12, 7)), track()) == ["age"]
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17 and age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


@pytest.mark.parametrize(
    "patient, program, ok",
    [
        ("female", "any", True),
        ("female", "female", True),
        ("male", "female", False),
        ("nonbinary", "female", False),
        ("unknown", "any", True),
        ("male", "male", True),
    ],
)
def test_gender(patient, program, ok):
    assert (failed(referral(gender=patient), track(gender=program)) == []) is ok


def test_language_or_interpreter():
    assert failed(referral(language="es"), track()) == ["language"]
    assert failed(referral(language="es"), track(interpreter_services=True)) == []
    assert failed(referral(language="es"), track(languages=frozenset({"en", "es"}))) == []


def test_payer_and_self_pay():
    assert failed(referral(payer_id="medicaid-il"), track()) == ["payer"]
    assert failed(referral(payer_id=None, self_pay=True), track()) == ["payer"]
    assert failed(referral(payer_id=None, self_pay=True), track(self_pay=True)) == []


def test_origin():
    assert failed(referral(origin="residential"), track(accepts_from=frozenset({"inpatient_psych"}))) == ["origin"]


def test_modality_distance_and_telehealth_licensing():
    far = referral(max_travel_miles=5.0)
    assert failed(far, track()) == ["distance"]
    assert failed(referral(modality="telehealth"), track()) == ["modality"]
    tele = track(modality="telehealth", latitude=34.05, longitude=-118.24, telehealth_states=frozenset({"CA"}))
    assert failed(referral(), tele) == ["telehealth_state"]
    assert failed(referral(state="CA"), tele) == []
    assert failed(referral(modality="in_person", state="CA"), tele) == ["modality"]
    assert distance_miles(*CHICAGO, *CHICAGO) == 0


def test_open_seat_unless_ignored():
    full = track(open_seats=0)
    assert failed(referral(), full) == ["capacity"]
    assert failed(referral(), full, ignore_capacity=True) == []


def test_inactive():
    assert failed(referral(), track(active=False))[0] == "inactive"


def test_all_failed_rules_are_listed_in_rule_order():
    verdict = evaluate_facts(referral(language="es", payer_id="x", max_travel_miles=1.0), track(open_seats=0))
    assert verdict.failed == ["distance", "language", "payer", "capacity"]
    assert len(verdict.reasons) == 4 and not verdict.ok


def test_rules_keep_the_contract_order_and_each_has_its_reason():
    # Exclusions are counted under the first rule a track fails, in this order; new rules may go anywhere in it.
    contract = (
        "modality",
        "distance",
        "telehealth_state",
        "inactive",
        "need",
        "mat",
        "age",
        "gender",
        "language",
        "payer",
        "origin",
        "schedule",
        "capacity",
    )
    assert tuple(code for code in RULES if code in contract) == contract
    assert list(RULE_TEXT) == list(RULES)
    verdict = evaluate_facts(referral(language="es", payer_id="x", max_travel_miles=1.0), track(open_seats=0))
    assert verdict.reasons == [RULE_TEXT[code] for code in verdict.failed]


def test_the_first_failure_stops_the_rules_and_keeps_what_was_worked_out_so_far():
    far = evaluate_facts(referral(language="es", max_travel_miles=1.0), track(), collect_all=False)
    assert far.failed == ["distance"] and far.distance_miles == pytest.approx(11.6, abs=0.3)
    assert far.first_intake_date is None and far.slack_minutes is None and far.score == 0.0
    full = evaluate_facts(
        referral(availability=(evening("mon"), evening("wed"), evening("thu"))), track(open_seats=0), collect_all=False
    )
    assert full.failed == ["capacity"] and full.first_intake_date == date(2026, 12, 7) and full.slack_minutes == 60
    tele = evaluate_facts(referral(), track(modality="telehealth", open_seats=0), ignore_capacity=True)
    assert tele.ok and tele.distance_miles is None and tele.reasons[-3] == "telehealth, licensed in IL"


def evening(day):
    return (day, "17:00", "22:00")


def test_schedule_every_session_inside_a_window():
    windows = (evening("mon"), evening("wed"), evening("thu"))
    assert failed(referral(availability=windows), track()) == []
    assert failed(referral(availability=windows[:2]), track()) == ["schedule"]
    tight = (("mon", "18:30", "22:00"), evening("wed"), evening("thu"))
    assert failed(referral(availability=tight), track()) == ["schedule"]


def test_cross_zone_telehealth_six_to_nine_central_is_seven_to_ten_eastern():
    tele = track(modality="telehealth", telehealth_states=frozenset({"NY"}))
    eastern = dict(state="NY", timezone="America/New_York", latitude=40.75, longitude=-73.99)
    fits = tuple((d, "19:00", "22:00") for d in ("mon", "wed", "thu"))
    early = tuple((d, "18:00", "21:00") for d in ("mon", "wed", "thu"))
    assert failed(referral(availability=fits, **eastern), tele) == []
    assert failed(referral(availability=early, **eastern), tele) == ["schedule"]


def test_dst_change_is_taken_on_the_real_dates():
    """Denver keeps DST, Phoenix does not: a 6-9 pm Denver session is 5-8 pm in Phoenix until 1 Nov 2026."""
    tele = track(
        modality="telehealth",
        timezone="America/Denver",
        telehealth_states=frozenset({"AZ"}),
        sessions=(("mon", "18:00", "21:00"), ("tue", "18:00", "21:00"), ("thu", "18:00", "21:00")),
        intake_days=frozenset({"mon"}),
    )
    phoenix = dict(
        state="AZ",
        timezone="America/Phoenix",
        latitude=33.45,
        longitude=-112.07,
        availability=tuple((d, "18:00", "21:00") for d in ("mon", "tue", "thu")),
    )
    before = referral(discharge_date=date(2026, 10, 19), earliest_start=date(2026, 10, 19), **phoenix)
    after = referral(discharge_date=date(2026, 11, 2), earliest_start=date(2026, 11, 2), **phoenix)
    assert failed(before, tele) == ["schedule"]
    assert failed(after, tele) == []


def test_windows_split_at_midnight_join_up():
    """A Pacific 20:00-23:00 session is 23:00-02:00 Eastern: it fits a night window written as two pieces."""
    tele = track(
        modality="telehealth",
        timezone="America/Los_Angeles",
        telehealth_states=frozenset({"NY"}),
        sessions=(("mon", "20:00", "23:00"), ("tue", "20:00", "23:00"), ("wed", "20:00", "23:00")),
        intake_days=frozenset({"mon"}),
    )
    windows = []
    for day, next_day in (("mon", "tue"), ("tue", "wed"), ("wed", "thu")):
        windows += [(day, "22:00", "24:00"), (next_day, "00:00", "03:00")]
    night = referral(state="NY", timezone="America/New_York", availability=tuple(windows))
    assert failed(night, tele) == []
    without_after_midnight = referral(
        state="NY", timezone="America/New_York", availability=tuple(w for w in windows if w[1] != "00:00")
    )
    assert failed(without_after_midnight, tele) == ["schedule"]


def test_first_intake_is_the_next_intake_day_and_late_starts_are_flagged():
    assert first_intake_date(date(2026, 12, 8), frozenset({"mon", "thu"})) == date(2026, 12, 10)
    late = referral(discharge_date=date(2026, 11, 23), earliest_start=date(2026, 12, 7))
    verdict = evaluate_facts(late, track())
    assert verdict.ok and verdict.misses_7_day_target
    assert "misses the 7-day follow-up target" in verdict.reasons
    on_time = evaluate_facts(referral(), track())
    assert not on_time.misses_7_day_target


def test_ranking_prefers_the_earlier_start_then_slack_distance_intensity():
    soon = evaluate_facts(referral(), track())
    later = evaluate_facts(referral(), track(intake_days=frozenset({"thu"})))
    assert soon.score > later.score
    near = evaluate_facts(referral(), track(latitude=EVANSTON[0], longitude=EVANSTON[1]))
    assert near.score > soon.score
    light = evaluate_facts(
        referral(),
        track(
            hours_per_week=6.0,
            sessions=(("mon", "18:00", "20:00"), ("wed", "18:00", "20:00"), ("thu", "18:00", "20:00")),
        ),
    )
    assert light.score < soon.score
