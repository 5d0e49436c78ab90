"""What the planner's page says on hand-built facts: why a match ranks above the next, near misses in plain words
(across time zones too), and the form helpers (errors in plain words, sentences, grid cells, widening links)."""

from datetime import date

import pytest

from tests.unit.test_matching_rules import referral, track
from transitions.matching.rules import evaluate_facts, rank_key
from transitions.matching.widening import deciding_factor, near_miss_text
from transitions.web import forms
from transitions.web.planner import listed

EVENINGS = (("mon", "17:00", "21:00"), ("tue", "17:00", "21:00"), ("wed", "17:00", "21:00"), ("thu", "17:00", "21:00"))


def ranked(ref, *tracks):
    verdicts = [evaluate_facts(ref, t) for t in tracks]
    assert all(v.ok for v in verdicts), [v.failed for v in verdicts]
    return sorted(verdicts, key=rank_key)


def test_an_earlier_start_decides_and_says_by_how_many_days():
    ref = referral(discharge_date=date(2026, 12, 3), earliest_start=date(2026, 12, 3))  # a Thursday
    upper, lower = ranked(
        ref, track(track_id="a", intake_days=frozenset({"thu"})), track(track_id="b", intake_days=frozenset({"mon"}))
    )
    assert upper.track.track_id == "a"
    assert deciding_factor(ref, upper, lower) == "starts 4 days earlier"


def test_distance_slack_and_hours_decide_when_the_start_is_the_same():
    ref = referral(availability=EVENINGS)
    closer, farther = ranked(ref, track(track_id="loop"), track(track_id="north", latitude=41.95, longitude=-87.65))
    assert closer.track.track_id == "north"  # from Evanston, 41.95N is nearer than the Loop
    assert deciding_factor(ref, closer, farther).startswith("closer (")
    roomy = track(track_id="roomy", sessions=(("mon", "18:00", "20:00"), ("wed", "18:00", "20:00")))
    upper, lower = ranked(ref, roomy, track(track_id="tight"))
    assert deciding_factor(ref, upper, lower) == "more time to spare (60 min against 0)"
    heavy = track(track_id="heavy", hours_per_week=12.0)
    light = track(track_id="light", hours_per_week=6.0)
    upper, lower = ranked(referral(), heavy, light)
    assert deciding_factor(referral(), upper, lower) == "more hours a week (12 against 6)"


def test_a_tie_on_every_measure_says_so():
    ref = referral()
    upper, lower = ranked(ref, track(track_id="a"), track(track_id="b"))
    assert deciding_factor(ref, upper, lower) == "equal on every measure; listed first by its track id"


def test_near_misses_name_the_session_and_the_window_in_the_patients_zone():
    late = track(sessions=(("mon", "18:00", "20:00"), ("tue", "18:00", "21:30"), ("thu", "18:00", "20:00")))
    ref = referral(availability=EVENINGS)
    verdict = evaluate_facts(ref, late)
    assert verdict.failed == ["schedule"]
    assert near_miss_text(ref, verdict) == "its Tuesday session ends 21:30, after the patient's window (ends 21:00)"
    # A New York track at 18:30 Eastern is 17:30 in Chicago: fits; at 17:30 Eastern it starts 16:30 Chicago time.
    eastern = track(timezone="America/New_York", sessions=(("mon", "17:30", "19:30"), ("wed", "18:30", "20:30")))
    verdict = evaluate_facts(ref, eastern)
    assert near_miss_text(ref, verdict) == "its Monday session starts 16:30, before the patient's window (starts 17:00)"
    weekend = track(sessions=(("mon", "18:00", "20:00"), ("sat", "10:00", "12:00")))
    verdict = evaluate_facts(ref, weekend)
    assert (
        near_miss_text(ref, verdict)
        == "its Saturday session (10:00–12:00) is outside every time marked for the patient"
    )
    far = evaluate_facts(referral(max_travel_miles=5.0), track())
    assert near_miss_text(referral(max_travel_miles=5.0), far).endswith("miles away, beyond the 5-mile limit")


@pytest.mark.parametrize(
    "name, message, plain",
    [
        (
            "coverage.payer_id",
            "payer_id is required unless self_pay is true.",
            "Choose the patient's health plan, or Self-pay.",
        ),
        ("patient.given_name", "Missing data for required field.", "Given name is required."),
        ("diagnoses", "Length must be between 1 and 25.", "Enter at least one diagnosis code (25 at most)."),
        (
            "diagnoses",
            "F33: not billable: use a more specific code",
            "F33 is a category, not a billable code: choose a more specific code (look it up below).",
        ),
        ("diagnoses", "Z99.999: unknown ICD-10-CM code", "Z99.999 is not an ICD-10-CM code."),
        ("notes", "Longer than maximum length 5000.", "Notes can be at most 5,000 characters."),
        ("patient.zip", "Unknown ZIP code.", "Unknown ZIP code."),
    ],
)
def test_api_messages_become_plain_words(name, message, plain):
    assert forms.plain_message(name, message) == plain


def test_sentences_grid_cells_and_widening_links():
    assert listed(["A"]) == "A" and listed(["A", "B"]) == "A and B" and listed(["A", "B", "C"]) == "A, B and C"
    windows = [{"day": "tue", "start": "17:30", "end": "20:00"}, {"day": "sat", "start": "23:00", "end": "24:00"}]
    assert forms.cells_from_windows(windows) == ["tue-18", "tue-19", "sat-23"]
    assert forms.windows_from_grid(forms.cells_from_windows([{"day": "mon", "start": "17:00", "end": "21:00"}])) == [
        {"day": "mon", "start": "17:00", "end": "21:00"}
    ]
    assert forms.change_query({"modality": "either"}) == [("modality", "either")]
    assert forms.change_query({"max_travel_miles": 30.0}) == [("max_travel_miles", "30")]
    assert forms.change_query({"availability": None}) == [("availability_mode", "any")]
    assert forms.change_query({"discharge_date": date(2026, 12, 14)}) == [("discharge_date", "2026-12-14")]
