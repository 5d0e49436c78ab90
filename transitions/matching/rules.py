"""The matching rules on plain facts (facts.py): each hard rule (one @rule declaration each, in evaluation order),
the score, the reasons and the ranking order. No database here: screening.py decides which tracks reach these
rules, schedule.py places sessions and availability on real dates.
"""

from datetime import timedelta

from transitions.core.clock import age_on
from transitions.core.geo import distance_miles
from transitions.matching.facts import Evaluation
from transitions.matching.schedule import first_intake_date, schedule_fit

FOLLOWUP_TARGET_DAYS = 7

# Score weights. Waiting dominates: one day of waiting (10 points) outweighs everything
# else together (< 10), so ranking by score is "earliest start first" and the allocation's
# total score agrees with the ranking.
WAIT_POINTS_PER_DAY = 10.0
WAIT_HORIZON_DAYS = 14
SLACK_POINTS, SLACK_FULL_MINUTES = 4.0, 120.0
DISTANCE_POINTS, TELEHEALTH_DISTANCE_POINTS = 4.0, 2.0
INTENSITY_POINTS, INTENSITY_TARGET_HOURS = 1.99, 9.0


# ---------------------------------------------------------------- the hard rules

# Exclusions are counted under the first rule a track fails, in this order: the order of the @rule declarations
# below. Both names are filled in by @rule.
RULES = ()
RULE_TEXT = {}  # rule code -> why a track failing it is excluded
_DECLARED = []  # (code, modality, check) in declaration order
# The checks evaluate_facts runs, indexed by "is the track in person": each modality's chain leaves out the
# rules of the other, and the second pair leaves out the seat rule (ignore_capacity: an offer holds its seat).
_CHAINS = ((), ())
_CHAINS_IGNORING_CAPACITY = ((), ())


def rule(code, text, modality=None):
    """Declare a hard rule: `check(ref, track, derived)` is true when the track passes, `text` says why it fails,
    and `modality` limits the rule to in-person tracks ("in_person") or to the others ("telehealth").

    Rules run in the order they are declared here, and that order is the contract: exclusions are counted under
    the first rule a track fails. A check may keep what it works out for later rules, the verdict or the score on
    `derived` (see Derived). Adding a rule on an existing field is this one declaration. A rule may also get a
    relaxation (a condition every track passing it meets, so never stricter), which only narrows the tracks
    that reach the rules: in SQL in screening.prefilter_conditions (fewer rows read; the database counts the
    tracks it drops under the first relaxed rule they fail) and in numpy in allocation.Directory.prefiltered.
    Both are optional: without them the rule still decides every pair, on more pairs.
    """
    if modality not in (None, "in_person", "telehealth"):
        raise ValueError("matching rule %r: modality must be in_person or telehealth" % code)

    def register(check):
        global RULES, _CHAINS, _CHAINS_IGNORING_CAPACITY
        if code in RULE_TEXT:
            raise ValueError("matching rule %r is declared twice" % code)
        check.rule_code = code
        RULES += (code,)
        RULE_TEXT[code] = text
        _DECLARED.append((code, modality, check))
        _CHAINS = (_chain(False, False), _chain(True, False))
        _CHAINS_IGNORING_CAPACITY = (_chain(False, True), _chain(True, True))
        return check

    return register


def _chain(in_person, ignore_capacity):
    """The checks for an in-person (or telehealth) track in declaration order, a plain tuple for the hot loop."""
    kind = "in_person" if in_person else "telehealth"
    return tuple(
        check
        for code, modality, check in _DECLARED
        if modality in (None, kind) and not (ignore_capacity and code == "capacity")
    )


class Derived:
    """What the rules work out on the way for one (referral, track) pair and the verdict and score reuse:
    the distance to an in-person track, the first intake date (the age and schedule rules are taken on it),
    the patient's age on it, and the schedule's slack. None until the rule that works it out has run."""

    __slots__ = ("distance", "intake", "age", "slack")

    def __init__(self):
        self.distance = self.intake = self.age = self.slack = None


# Reach comes first: a program 2,000 miles away is out of reach, whatever else it lacks, and the database only
# has to look closely at the tracks within reach.


@rule("modality", "modality does not fit the patient's preference")
def fits_modality(ref, track, derived):
    return ref.modality == "either" or ref.modality == track.modality


@rule("distance", "farther than the patient can travel", modality="in_person")
def within_travel(ref, track, derived):
    derived.distance = distance_miles(ref.latitude, ref.longitude, track.latitude, track.longitude)
    return derived.distance <= ref.max_travel_miles


@rule("telehealth_state", "not licensed for telehealth in the patient's state", modality="telehealth")
def licensed_in_patient_state(ref, track, derived):
    return ref.state in track.telehealth_states


@rule("inactive", "program or track is not active")
def is_active(ref, track, derived):
    return track.active


@rule("need", "does not offer the needed care")
def serves_need(ref, track, derived):
    return ref.need in track.services


@rule("mat", "does not offer medication for addiction treatment")
def offers_mat_if_needed(ref, track, derived):
    return not ref.needs_mat or track.mat


@rule("age", "patient's age at intake is outside the program's range")
def age_fits_on_first_intake(ref, track, derived):
    derived.intake = intake = first_intake_date(ref.earliest_start, track.intake_days)
    if intake is None:
        return False
    derived.age = age_on(ref.birth_date, intake)
    return track.min_age <= derived.age <= track.max_age


@rule("gender", "program serves another gender")
def serves_gender(ref, track, derived):
    return track.gender == "any" or track.gender == ref.gender


@rule("language", "does not speak the patient's language and has no interpreter")
def speaks_language(ref, track, derived):
    return ref.language in track.languages or track.interpreter_services


@rule("payer", "does not accept the patient's coverage")
def accepts_coverage(ref, track, derived):
    return track.self_pay if ref.self_pay else ref.payer_id in track.payers


@rule("origin", "does not take patients from this kind of setting")
def takes_origin(ref, track, derived):
    return ref.origin in track.accepts_from


@rule("schedule", "a session falls outside the patient's available times")
def fits_schedule(ref, track, derived):
    if derived.intake is None:
        return False
    fits, derived.slack = schedule_fit(ref, track, derived.intake)
    return fits


@rule("capacity", "no open seat")
def has_open_seat(ref, track, derived):
    return track.open_seats > 0


def evaluate_facts(ref, track, ignore_capacity=False, collect_all=True, explain=True):
    """Run every hard rule; `failed` lists the rule codes that failed, in RULES order.

    collect_all=False stops at the first failure (ranking and allocation need only the verdict);
    explain=False skips writing the reasons of a match (allocation only needs the score).
    """
    derived = Derived()
    failed, reasons = [], []
    chains = _CHAINS_IGNORING_CAPACITY if ignore_capacity else _CHAINS
    for check in chains[track.modality == "in_person"]:
        if not check(ref, track, derived):
            failed.append(check.rule_code)
            reasons.append(RULE_TEXT[check.rule_code])
            if not collect_all:
                break
    distance = None if derived.distance is None else round(derived.distance, 1)
    # Every field by position, in Evaluation's order: keyword arguments cost more than a rule here.
    verdict = Evaluation(not failed, failed, reasons, derived.intake, distance, derived.slack, 0.0, False, track)
    if not failed:
        _score(ref, track, verdict, derived.age)
        if explain:
            verdict.reasons = _inclusion_reasons(ref, track, verdict)
    return verdict


# A lead is a program nobody has confirmed (no tracks): only the rules about the program itself can be checked.
LEAD_UNKNOWABLE = frozenset({"schedule", "capacity"})


def lead_fits(ref, program_facts):
    """(True, distance) when a program without tracks passes every rule that does not need a track's schedule or
    seats: reach, need, MAT, age, gender, language, coverage and origin. program_facts: TrackFacts of a pseudo
    track that meets any day (its modality decides the reach rule)."""
    derived = Derived()
    for check in _CHAINS[program_facts.modality == "in_person"]:
        if check.rule_code in LEAD_UNKNOWABLE:
            continue
        if not check(ref, program_facts, derived):
            return False, None
    return True, derived.distance


def score_parts(ref, track, verdict, age):
    """The score's documented parts (docs/matching.md) by name: wait first, then slack, distance, intensity; the
    age on the first intake. The page's "why #1 is above #2" compares these same parts."""
    wait = (verdict.first_intake_date - ref.discharge_date).days
    timeliness = WAIT_POINTS_PER_DAY * max(0, WAIT_HORIZON_DAYS - max(0, wait))
    slack = (
        SLACK_POINTS
        if verdict.slack_minutes is None
        else SLACK_POINTS * min(verdict.slack_minutes, SLACK_FULL_MINUTES) / SLACK_FULL_MINUTES
    )
    if track.modality == "in_person":
        nearness = DISTANCE_POINTS * max(0.0, 1 - verdict.distance_miles / max(ref.max_travel_miles, 1.0))
    else:
        nearness = TELEHEALTH_DISTANCE_POINTS
    hours = track.hours_per_week
    adult_from_inpatient = ref.origin == "inpatient_psych" and age >= 18
    if hours >= INTENSITY_TARGET_HOURS:
        intensity = INTENSITY_POINTS
    else:
        # Adults stepping down from inpatient care need the fuller dose; lighter tracks rank lower for them.
        intensity = INTENSITY_POINTS * hours / INTENSITY_TARGET_HOURS * (0.5 if adult_from_inpatient else 1.0)
    return {"timeliness": timeliness, "slack": slack, "nearness": nearness, "intensity": intensity}, wait


def _score(ref, track, verdict, age):
    parts, wait = score_parts(ref, track, verdict, age)
    verdict.score = round(parts["timeliness"] + parts["slack"] + parts["nearness"] + parts["intensity"], 3)
    verdict.misses_7_day_target = wait > FOLLOWUP_TARGET_DAYS


def _inclusion_reasons(ref, track, verdict):
    wait = (verdict.first_intake_date - ref.discharge_date).days
    reasons = []
    if wait <= 0:
        reasons.append("can start on the discharge date (%s)" % verdict.first_intake_date.isoformat())
    else:
        reasons.append(
            "first intake %s, %d day%s after discharge"
            % (verdict.first_intake_date.isoformat(), wait, "" if wait == 1 else "s")
        )
    if verdict.misses_7_day_target:
        reasons.append("misses the 7-day follow-up target")
    reasons.append(
        {
            "mental_health": "treats mental health",
            "substance_use": "treats substance use",
            "co_occurring": "integrated co-occurring care",
        }[ref.need]
    )
    if ref.needs_mat:
        reasons.append("offers MAT")
    if ref.self_pay:
        reasons.append("accepts self-pay")
    else:
        reasons.append("accepts %s" % ref.payer_id)
    if ref.language in track.languages:
        reasons.append("sessions in the patient's language (%s)" % ref.language)
    else:
        reasons.append("interpreter services for %s" % ref.language)
    if track.modality == "in_person":
        reasons.append("in person, %.1f miles away" % verdict.distance_miles)
    else:
        reasons.append("telehealth, licensed in %s" % ref.state)
    if verdict.slack_minutes is None:
        reasons.append("patient is available any time")
    else:
        reasons.append("every session fits the patient's week (%d min to spare)" % verdict.slack_minutes)
    reasons.append("%g hours a week" % track.hours_per_week)
    return reasons


def rank_key(verdict):
    """Best first: highest score, then earliest intake, nearest, and the track id to break ties."""
    distance = verdict.distance_miles if verdict.distance_miles is not None else 0.0
    return (-verdict.score, verdict.first_intake_date, distance, verdict.track.track_id)


def age_bounds(ref):
    """(youngest, oldest) age the patient can have at a first intake: it falls within 7 days of the start."""
    return age_on(ref.birth_date, ref.earliest_start), age_on(ref.birth_date, ref.earliest_start + timedelta(days=6))
