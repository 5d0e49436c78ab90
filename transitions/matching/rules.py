"""The matching rules on plain facts: what a track and a referral are to the rules, each hard rule (one @rule
declaration each, in evaluation order), the score, the reasons and the ranking order. No database here:
screening.py decides which tracks reach these rules.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from transitions.core.clock import age_on, minutes_of_day
from transitions.core.geo import distance_miles
from transitions.directory.models import WEEKDAYS

DEFAULT_TRAVEL_MILES = 25.0
FOLLOWUP_TARGET_DAYS = 7

# Score weights. Waiting dominates: one day of waiting (10 points) outweighs everything
# else together (< 10), so ranking by score is "earliest start first" and the allocation's
# total score agrees with the ranking.
WAIT_POINTS_PER_DAY = 10.0
WAIT_HORIZON_DAYS = 14
SLACK_POINTS, SLACK_FULL_MINUTES = 4.0, 120.0
DISTANCE_POINTS, TELEHEALTH_DISTANCE_POINTS = 4.0, 2.0
INTENSITY_POINTS, INTENSITY_TARGET_HOURS = 1.99, 9.0


@dataclass(frozen=True)
class TrackFacts:
    """What the rules need to know about a track and its program, detached from the ORM."""

    track_id: str
    program_id: str
    program_name: str
    track_name: str
    modality: str
    timezone: str
    sessions: tuple  # ((day, "HH:MM", "HH:MM"), ...)
    intake_days: frozenset
    hours_per_week: float
    open_seats: int
    active: bool
    services: frozenset
    mat: bool
    min_age: int
    max_age: int
    gender: str
    languages: frozenset
    interpreter_services: bool
    payers: frozenset
    self_pay: bool
    accepts_from: frozenset
    telehealth_states: frozenset
    latitude: float
    longitude: float

    @classmethod
    def from_stored(cls, values, read_json_set, read_sessions):
        """TrackFacts from the stored values, a mapping by stored_name(): an ORM pair's (stored_values) or a Core
        row's (screening selects them by the same names). The JSON lists come as read_json_set and read_sessions
        take them: already parsed, or as JSON text."""
        facts = {name: values[name] for name in PLAIN_FACTS}
        facts.update((name, read_json_set(values[name])) for name in JSON_SET_VALUES)
        return cls(
            **facts,
            sessions=read_sessions(values["sessions"]),
            open_seats=values["capacity"] - values["occupied"] - values["held"],
            active=bool(values["track_active"] and values["program_active"]),
        )

    @classmethod
    def from_rows(cls, track, program):
        """TrackFacts from the ORM pair: its counters as stored (held includes holds past expiry)."""
        return cls.from_stored(stored_values(track, program), frozenset, sessions_tuple)


# The stored values TrackFacts are made from, by model. Both models have an id, a name and an active flag: those
# values are named after their model ("track_id", "program_name" ...), the others after their attribute.
STORED_ATTRIBUTES = {
    "track": ("id", "name", "active", "modality", "timezone", "sessions", "intake_days", "hours_per_week")
    + ("capacity", "occupied", "held"),
    "program": ("id", "name", "active", "mat", "min_age", "max_age", "gender", "interpreter_services", "self_pay")
    + ("latitude", "longitude", "services", "languages", "payers", "accepts_from", "telehealth_states"),
}
MODEL_PREFIXED = ("id", "name", "active")
# Stored as JSON lists, facts as frozensets.
JSON_SET_VALUES = ("intake_days", "services", "languages", "payers", "accepts_from", "telehealth_states")
# The facts that are a stored value as it is.
PLAIN_FACTS = tuple(
    name
    for name in TrackFacts.__dataclass_fields__
    if name not in JSON_SET_VALUES and name not in ("sessions", "open_seats", "active")
)


def stored_name(model, attribute):
    """The name of a model's stored value in TrackFacts.from_stored's mapping."""
    return f"{model}_{attribute}" if attribute in MODEL_PREFIXED else attribute


def stored_values(track, program):
    """The stored values of an ORM (track, program) pair, by stored_name()."""
    rows = {"track": track, "program": program}
    return {
        stored_name(model, attribute): getattr(rows[model], attribute)
        for model, attributes in STORED_ATTRIBUTES.items()
        for attribute in attributes
    }


def sessions_tuple(sessions):
    """A track's weekly sessions as the rules take them: ((day, "HH:MM", "HH:MM"), ...)."""
    return tuple((s["day"], s["start"], s["end"]) for s in sessions)


@dataclass
class ReferralFacts:
    """A referral as the rules see it, as of one day, with its availability cached per week."""

    referral_id: str
    need: str
    needs_mat: bool
    birth_date: date
    gender: str
    language: str
    payer_id: str | None
    self_pay: bool
    origin: str
    modality: str
    max_travel_miles: float
    latitude: float
    longitude: float
    state: str
    timezone: str
    availability: tuple | None
    discharge_date: date
    earliest_start: date
    _windows: dict = field(default_factory=dict, repr=False)
    _fits: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_referral(cls, referral, as_of):
        travel = referral.max_travel_miles
        return cls(
            referral_id=referral.id,
            need=referral.need,
            needs_mat=referral.needs_mat,
            birth_date=referral.birth_date,
            gender=referral.gender,
            language=referral.language,
            payer_id=referral.payer_id,
            self_pay=referral.self_pay,
            origin=referral.origin,
            modality=referral.modality,
            max_travel_miles=DEFAULT_TRAVEL_MILES if travel is None else travel,
            latitude=referral.latitude,
            longitude=referral.longitude,
            state=referral.patient_state,
            timezone=referral.timezone,
            availability=None
            if referral.availability is None
            else tuple((w["day"], w["start"], w["end"]) for w in referral.availability),
            discharge_date=referral.discharge_date,
            earliest_start=max(referral.discharge_date, as_of),
        )

    def windows_for_week(self, week_start):
        """Merged availability intervals (UTC epoch seconds) around the week starting week_start."""
        if week_start not in self._windows:
            self._windows[week_start] = _availability_intervals(self.timezone, self.availability, week_start)
        return self._windows[week_start]


@dataclass
class Evaluation:
    """The verdict of the rules on one (referral, track) pair."""

    ok: bool
    failed: list = field(default_factory=list)
    reasons: list = field(default_factory=list)
    first_intake_date: date | None = None
    distance_miles: float | None = None
    slack_minutes: float | None = None
    score: float = 0.0
    misses_7_day_target: bool = False
    track: TrackFacts | None = None


# ---------------------------------------------------------------- time helpers


def _local_instant(day, hhmm, zone):
    """Epoch seconds of a local wall time; 24:00 is the next midnight."""
    minutes = minutes_of_day(hhmm)
    if minutes == 1440:
        moment = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone)
    else:
        moment = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    return moment.timestamp()


@lru_cache(maxsize=65536)
def _session_intervals(timezone, sessions, week_start):
    """Each session of a weekly schedule as (start, end) epoch seconds in the week from week_start."""
    zone = ZoneInfo(timezone)
    intervals = []
    for day, start, end in sessions:
        offset = (WEEKDAYS.index(day) - week_start.weekday()) % 7
        session_day = week_start + timedelta(days=offset)
        intervals.append((_local_instant(session_day, start, zone), _local_instant(session_day, end, zone)))
    return tuple(intervals)


def _availability_intervals(timezone, windows, week_start):
    """Patient windows on the real dates around the week, joined where they touch (midnight splits)."""
    if windows is None:
        return None
    zone = ZoneInfo(timezone)
    spans = []
    # A day either side: a cross-zone session can land on the patient's previous or next date.
    for offset in range(-1, 9):
        day = week_start + timedelta(days=offset)
        name = WEEKDAYS[day.weekday()]
        for window_day, start, end in windows:
            if window_day == name:
                spans.append((_local_instant(day, start, zone), _local_instant(day, end, zone)))
    spans.sort()
    merged = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def schedule_fit(referral_facts, track_facts, week_start):
    """(fits, slack minutes): every session inside an availability window on the first intake week."""
    # Tracks share schedules (a directory has a few dozen distinct ones), so each is placed once per patient.
    key = track_facts.timezone, track_facts.sessions, week_start
    if key not in referral_facts._fits:
        referral_facts._fits[key] = _schedule_fit(referral_facts, track_facts, week_start)
    return referral_facts._fits[key]


def _schedule_fit(referral_facts, track_facts, week_start):
    windows = referral_facts.windows_for_week(week_start)
    if windows is None:
        return True, None
    slack = None
    for start, end in _session_intervals(track_facts.timezone, track_facts.sessions, week_start):
        enclosing = next((w for w in windows if w[0] <= start and end <= w[1]), None)
        if enclosing is None:
            return False, None
        margin = min(start - enclosing[0], enclosing[1] - end) / 60
        slack = margin if slack is None else min(slack, margin)
    return True, slack


@lru_cache(maxsize=4096)
def first_intake_date(earliest, intake_days):
    for offset in range(7):
        day = earliest + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] in intake_days:
            return day
    return None


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


def _score(ref, track, verdict, age):
    """Documented weights (docs/matching.md): wait first, then slack, distance, intensity; age on the first intake."""
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
    verdict.score = round(timeliness + slack + nearness + intensity, 3)
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
