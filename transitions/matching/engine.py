"""Matching: which IOP tracks can take a referral, in what order, and why.

One rule set decides everything: the single-referral ranking, the exclusion counts and
near misses, the offer check, and the allocation graph. The database prefilter only
narrows which tracks reach the rules; it is a relaxation of them, never stricter.
"""
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import Text, and_, case, cast, func, or_, select, true

from transitions.core.clock import utcnow
from transitions.core.db import db, json_array_contains
from transitions.directory import seats
from transitions.directory.models import WEEKDAYS, Program, Track

# Exclusions are counted under the first rule a track fails, in this order. Reach comes first:
# a program 2,000 miles away is out of reach, whatever else it lacks, and the database only
# has to look closely at the tracks within reach.
RULES = (
    "modality", "distance", "telehealth_state",
    "inactive", "need", "mat", "age", "gender", "language", "payer", "origin",
    "schedule", "capacity",
)
RULE_TEXT = {
    "inactive": "program or track is not active",
    "need": "does not offer the needed care",
    "mat": "does not offer medication for addiction treatment",
    "age": "patient's age at intake is outside the program's range",
    "gender": "program serves another gender",
    "language": "does not speak the patient's language and has no interpreter",
    "payer": "does not accept the patient's coverage",
    "origin": "does not take patients from this kind of setting",
    "modality": "modality does not fit the patient's preference",
    "distance": "farther than the patient can travel",
    "telehealth_state": "not licensed for telehealth in the patient's state",
    "schedule": "a session falls outside the patient's available times",
    "capacity": "no open seat",
}
DEFAULT_TRAVEL_MILES = 25.0
FOLLOWUP_TARGET_DAYS = 7
EARTH_RADIUS_MILES = 3958.7613
MILES_PER_DEGREE_LATITUDE = 69.0
UTC = ZoneInfo("UTC")

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
    sessions: tuple          # ((day, "HH:MM", "HH:MM"), ...)
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
    def from_rows(cls, track, program):
        return cls(
            track_id=track.id, program_id=program.id, program_name=program.name, track_name=track.name,
            modality=track.modality, timezone=track.timezone,
            sessions=tuple((s["day"], s["start"], s["end"]) for s in track.sessions),
            intake_days=frozenset(track.intake_days), hours_per_week=track.hours_per_week,
            open_seats=track.capacity - track.occupied - track.held,
            active=bool(track.active and program.active), services=frozenset(program.services),
            mat=program.mat, min_age=program.min_age, max_age=program.max_age, gender=program.gender,
            languages=frozenset(program.languages), interpreter_services=program.interpreter_services,
            payers=frozenset(program.payers), self_pay=program.self_pay,
            accepts_from=frozenset(program.accepts_from), telehealth_states=frozenset(program.telehealth_states),
            latitude=program.latitude, longitude=program.longitude,
        )


# JSON columns come back as text and are parsed once per distinct value: directories repeat the same lists
# (payers, languages, schedules) thousands of times, and the drivers' per-value JSON decoding dominated loading.
_JSON_SET_COLUMNS = ("services", "languages", "payers", "accepts_from", "telehealth_states")


def _track_columns(now):
    """The columns TrackFacts are made from; held counts only live holds as of now."""
    return (
        Track.id.label("track_id"), Track.program_id, Program.name.label("program_name"),
        Track.name.label("track_name"), Track.modality, Track.timezone,
        cast(Track.sessions, Text).label("sessions"), cast(Track.intake_days, Text).label("intake_days"),
        Track.hours_per_week, Track.capacity, Track.occupied, seats.live_held(now).label("held"),
        Track.active.label("track_active"), Program.active.label("program_active"), Program.mat, Program.min_age,
        Program.max_age, Program.gender, Program.interpreter_services, Program.self_pay, Program.latitude,
        Program.longitude, *(cast(getattr(Program, name), Text).label(name) for name in _JSON_SET_COLUMNS),
    )


@lru_cache(maxsize=16384)
def _json_set(text):
    return frozenset(json.loads(text))


@lru_cache(maxsize=16384)
def _json_sessions(text):
    return tuple((s["day"], s["start"], s["end"]) for s in json.loads(text))


def track_facts_from_row(row):
    """TrackFacts from a Core row of _track_columns(): no ORM objects on the hot path."""
    return TrackFacts(
        track_id=row.track_id, program_id=row.program_id, program_name=row.program_name,
        track_name=row.track_name, modality=row.modality, timezone=row.timezone,
        sessions=_json_sessions(row.sessions), intake_days=_json_set(row.intake_days),
        hours_per_week=row.hours_per_week, open_seats=row.capacity - row.occupied - row.held,
        active=bool(row.track_active and row.program_active), services=_json_set(row.services), mat=row.mat,
        min_age=row.min_age, max_age=row.max_age, gender=row.gender, languages=_json_set(row.languages),
        interpreter_services=row.interpreter_services, payers=_json_set(row.payers), self_pay=row.self_pay,
        accepts_from=_json_set(row.accepts_from), telehealth_states=_json_set(row.telehealth_states),
        latitude=row.latitude, longitude=row.longitude,
    )


def load_track_facts(*conditions, now=None):
    """TrackFacts for every track (with its program) meeting the conditions, seats as of now."""
    query = select(*_track_columns(now or utcnow())).join(Program, Program.id == Track.program_id).where(*conditions)
    return [track_facts_from_row(row) for row in db.session.execute(query)]


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
            referral_id=referral.id, need=referral.need, needs_mat=referral.needs_mat,
            birth_date=referral.birth_date, gender=referral.gender, language=referral.language,
            payer_id=referral.payer_id, self_pay=referral.self_pay, origin=referral.origin,
            modality=referral.modality, max_travel_miles=DEFAULT_TRAVEL_MILES if travel is None else travel,
            latitude=referral.latitude, longitude=referral.longitude, state=referral.patient_state,
            timezone=referral.timezone,
            availability=None if referral.availability is None else tuple(
                (w["day"], w["start"], w["end"]) for w in referral.availability),
            discharge_date=referral.discharge_date, earliest_start=max(referral.discharge_date, as_of),
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


def _minutes(hhmm):
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _local_instant(day, hhmm, zone):
    """Epoch seconds of a local wall time; 24:00 is the next midnight."""
    minutes = _minutes(hhmm)
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


def age_on(birth_date, day):
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def distance_miles(lat1, lon1, lat2, lon2):
    """Great-circle distance between two ZIP centroids."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(latitude, longitude, miles):
    """A lat/lon box that surely contains the circle of `miles` around the point (never too small)."""
    dlat = miles / MILES_PER_DEGREE_LATITUDE + 0.01
    widest = min(89.0, abs(latitude) + dlat)
    dlon = miles / (MILES_PER_DEGREE_LATITUDE * math.cos(math.radians(widest))) + 0.01
    return latitude - dlat, latitude + dlat, longitude - dlon, longitude + dlon


# ---------------------------------------------------------------- the rules


def evaluate_facts(ref, track, ignore_capacity=False, collect_all=True, explain=True):
    """Run every hard rule; `failed` lists the rule codes that failed, in RULES order.

    collect_all=False stops at the first failure (ranking and allocation need only the verdict);
    explain=False skips writing the reasons of a match (allocation only needs the score).
    """
    failed = []
    distance = None
    intake = None

    def fail(code):
        failed.append(code)
        return not collect_all

    def stop():
        return _verdict(failed, intake, distance, track)

    if ref.modality != "either" and ref.modality != track.modality and fail("modality"):
        return stop()
    if track.modality == "in_person":
        distance = distance_miles(ref.latitude, ref.longitude, track.latitude, track.longitude)
        if distance > ref.max_travel_miles and fail("distance"):
            return stop()
    elif ref.state not in track.telehealth_states and fail("telehealth_state"):
        return stop()
    if not track.active and fail("inactive"):
        return stop()
    if ref.need not in track.services and fail("need"):
        return stop()
    if ref.needs_mat and not track.mat and fail("mat"):
        return stop()
    intake = first_intake_date(ref.earliest_start, track.intake_days)
    if intake is None or not track.min_age <= age_on(ref.birth_date, intake) <= track.max_age:
        if fail("age"):
            return stop()
    if track.gender != "any" and track.gender != ref.gender and fail("gender"):
        return stop()
    if ref.language not in track.languages and not track.interpreter_services and fail("language"):
        return stop()
    payer_ok = track.self_pay if ref.self_pay else ref.payer_id in track.payers
    if not payer_ok and fail("payer"):
        return stop()
    if ref.origin not in track.accepts_from and fail("origin"):
        return stop()
    fits, slack = (False, None) if intake is None else schedule_fit(ref, track, intake)
    if not fits and fail("schedule"):
        return stop()
    if not ignore_capacity and track.open_seats <= 0:
        fail("capacity")
    verdict = stop()
    verdict.slack_minutes = slack
    if verdict.ok:
        _score(ref, track, verdict)
        if explain:
            verdict.reasons = _inclusion_reasons(ref, track, verdict)
    return verdict


def _verdict(failed, intake, distance, track):
    return Evaluation(
        ok=not failed, failed=list(failed), reasons=[RULE_TEXT[code] for code in failed],
        first_intake_date=intake, distance_miles=None if distance is None else round(distance, 1), track=track,
    )


def _score(ref, track, verdict):
    """Documented weights (docs/matching.md): wait first, then slack, distance, intensity."""
    wait = (verdict.first_intake_date - ref.discharge_date).days
    timeliness = WAIT_POINTS_PER_DAY * max(0, WAIT_HORIZON_DAYS - max(0, wait))
    slack = SLACK_POINTS if verdict.slack_minutes is None else \
        SLACK_POINTS * min(verdict.slack_minutes, SLACK_FULL_MINUTES) / SLACK_FULL_MINUTES
    if track.modality == "in_person":
        nearness = DISTANCE_POINTS * max(0.0, 1 - verdict.distance_miles / max(ref.max_travel_miles, 1.0))
    else:
        nearness = TELEHEALTH_DISTANCE_POINTS
    hours = track.hours_per_week
    adult_from_inpatient = ref.origin == "inpatient_psych" and age_on(ref.birth_date, verdict.first_intake_date) >= 18
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
        reasons.append("first intake %s, %d day%s after discharge" % (
            verdict.first_intake_date.isoformat(), wait, "" if wait == 1 else "s"))
    if verdict.misses_7_day_target:
        reasons.append("misses the 7-day follow-up target")
    reasons.append({"mental_health": "treats mental health", "substance_use": "treats substance use",
                    "co_occurring": "integrated co-occurring care"}[ref.need])
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


def _rank_key(verdict):
    distance = verdict.distance_miles if verdict.distance_miles is not None else 0.0
    return (-verdict.score, verdict.first_intake_date, distance, verdict.track.track_id)


# ---------------------------------------------------------------- the database prefilter


def _reach_conditions(ref):
    """(programs within reach, tracks within reach): in person inside the travel box, or telehealth licensed
    in the patient's state. The program condition alone is what the indexes answer (the lat/lon B-tree, and
    on PostgreSQL the GIN index on telehealth_states)."""
    min_lat, max_lat, min_lon, max_lon = bounding_box(ref.latitude, ref.longitude, ref.max_travel_miles)
    near = and_(Program.latitude.between(min_lat, max_lat), Program.longitude.between(min_lon, max_lon))
    licensed = json_array_contains(Program.telehealth_states, ref.state)
    in_person, telehealth = and_(Track.modality == "in_person", near), and_(Track.modality == "telehealth", licensed)
    if ref.modality == "in_person":
        return near, in_person
    if ref.modality == "telehealth":
        return licensed, telehealth
    return or_(near, licensed), or_(in_person, telehealth)


def age_bounds(ref):
    """(youngest, oldest) age the patient can have at a first intake: it falls within 7 days of the start."""
    return age_on(ref.birth_date, ref.earliest_start), age_on(ref.birth_date, ref.earliest_start + timedelta(days=6))


def _prefilter_conditions(ref, now):
    """Per rule after reach, a SQL condition every track passing that rule satisfies (a relaxation)."""
    youngest, oldest = age_bounds(ref)
    gender_ok = Program.gender == "any"
    if ref.gender in ("female", "male"):
        gender_ok = or_(gender_ok, Program.gender == ref.gender)
    payer_ok = Program.self_pay.is_(True) if ref.self_pay else json_array_contains(Program.payers, ref.payer_id)
    return [
        ("inactive", and_(Program.active.is_(True), Track.active.is_(True))),
        ("need", json_array_contains(Program.services, ref.need)),
        ("mat", Program.mat.is_(True) if ref.needs_mat else true()),
        ("age", and_(Program.min_age <= oldest, Program.max_age >= youngest)),
        ("gender", gender_ok),
        ("language", or_(Program.interpreter_services.is_(True), json_array_contains(Program.languages, ref.language))),
        ("payer", payer_ok),
        ("origin", json_array_contains(Program.accepts_from, ref.origin)),
        ("capacity", seats.has_open_seat(now)),
    ]


def _out_of_reach_counts(ref, in_reach_by_modality):
    """Tracks beyond reach, counted under the reach rule they fail, from per-modality totals."""
    totals = dict(db.session.execute(select(Track.modality, func.count()).group_by(Track.modality)).all())
    excluded = {}
    for modality, total in totals.items():
        missing = total - in_reach_by_modality.get(modality, 0)
        if not missing:
            continue
        if ref.modality not in ("either", modality):
            rule = "modality"
        else:
            rule = "distance" if modality == "in_person" else "telehealth_state"
        excluded[rule] = excluded.get(rule, 0) + missing
    return excluded


def screen(ref, ignore_capacity=False, now=None):
    """(survivors as TrackFacts, exclusions by first failed rule), in three small queries: the tracks within
    reach with the first prefilter condition each fails, the survivors' rows, and the count of tracks per
    modality (tracks out of reach are only counted, never fetched).
    """
    now = now or utcnow()
    conditions = [(code, cond) for code, cond in _prefilter_conditions(ref, now)
                  if not (ignore_capacity and code == "capacity")]
    first_failed = case(*[(~cond, code) for code, cond in conditions], else_=None).label("first_failed")
    # Only ids and verdicts for everything within reach; full rows (JSON and all) for the survivors alone.
    # The programs within reach are picked first (by index), then their tracks by program_id: joined the
    # other way round, PostgreSQL scans every track.
    programs_in_reach, tracks_in_reach = _reach_conditions(ref)
    verdicts = db.session.execute(
        select(Track.id, Track.modality, first_failed).join(Program, Program.id == Track.program_id)
        .where(Track.program_id.in_(select(Program.id).where(programs_in_reach)), tracks_in_reach)).all()
    in_reach, excluded, survivor_ids = {}, {}, []
    for track_id, modality, rule in verdicts:
        in_reach[modality] = in_reach.get(modality, 0) + 1
        if rule is None:
            survivor_ids.append(track_id)
        else:
            excluded[rule] = excluded.get(rule, 0) + 1
    survivors = load_track_facts(Track.id.in_(survivor_ids), now=now) if survivor_ids else []
    for rule, count in _out_of_reach_counts(ref, in_reach).items():
        excluded[rule] = excluded.get(rule, 0) + count
    return survivors, excluded


def prefilter_survivors(ref, ignore_capacity=False, now=None):
    return screen(ref, ignore_capacity, now)[0]


# ---------------------------------------------------------------- entry points


def evaluate(referral, track, as_of, ignore_capacity=False):
    """All hard rules for a referral on a track as of a date; offers call it with ignore_capacity=True."""
    return evaluate_facts(ReferralFacts.from_referral(referral, as_of), TrackFacts.from_rows(track, track.program),
                          ignore_capacity=ignore_capacity)


@dataclass
class MatchResult:
    items: list
    excluded: dict
    near_misses: list


def ranked_matches(referral, limit, as_of, include_excluded=False, near_miss_limit=20):
    """The best `limit` tracks for a referral, with exclusion counts and, on request, near misses."""
    ref = ReferralFacts.from_referral(referral, as_of)
    now = utcnow()
    survivors, excluded = screen(ref, now=now)
    matches = []
    for track in survivors:
        verdict = evaluate_facts(ref, track, collect_all=False)
        if verdict.ok:
            matches.append(verdict)
        else:
            excluded[verdict.failed[0]] = excluded.get(verdict.failed[0], 0) + 1
    matches.sort(key=_rank_key)
    near = near_misses(ref, near_miss_limit, now) if include_excluded else []
    return MatchResult(items=matches[:limit], excluded=dict(sorted(excluded.items())), near_misses=near)


NEAR_MISS_BATCH = 50


def near_misses(ref, limit, now=None):
    """Tracks near the patient (in person, inside the box around three times her travel radius) or telehealth
    from her state that fail a rule: fewest failed rules first, then closest, each with every rule it fails.

    Only tracks that could still make the list are read in full. The database counts, for every track in scope,
    the rules it surely fails (each prefilter condition is a relaxation of its rule, so this never exceeds the
    precise count); with the exact distance that gives each track a key no greater than its place in the list,
    and tracks are evaluated in order of that key until none left can beat the last one kept.
    """
    if limit < 1:
        return []
    radius = max(ref.max_travel_miles * 3, 30.0)
    min_lat, max_lat, min_lon, max_lon = bounding_box(ref.latitude, ref.longitude, radius)
    near = and_(Program.latitude.between(min_lat, max_lat), Program.longitude.between(min_lon, max_lon))
    in_state = Program.state == ref.state
    now = now or utcnow()
    lower_bound = sum(case((~passes, 1), else_=0) for passes in _sure_passes(ref, now))
    # Programs first, by index, then their tracks (as in screen()).
    rows = db.session.execute(
        select(Track.id, Track.modality, Program.latitude, Program.longitude, lower_bound)
        .join(Program, Program.id == Track.program_id)
        .where(Track.program_id.in_(select(Program.id).where(or_(near, in_state))),
               or_(and_(Track.modality == "in_person", near), and_(Track.modality == "telehealth", in_state)))).all()

    def place(failed_count, distance, track_id):
        # Telehealth tracks count as being at the edge of the radius.
        return failed_count, radius if distance is None else distance, track_id

    candidates = sorted(place(bound, round(distance_miles(ref.latitude, ref.longitude, latitude, longitude), 1)
                              if modality == "in_person" else None, track_id)
                        for track_id, modality, latitude, longitude, bound in rows)
    misses = []
    for start in range(0, len(candidates), NEAR_MISS_BATCH):
        batch = candidates[start:start + NEAR_MISS_BATCH]
        if len(misses) >= limit and misses[limit - 1][0] < batch[0]:
            break
        for track in load_track_facts(Track.id.in_([track_id for _, _, track_id in batch]), now=now):
            verdict = evaluate_facts(ref, track)
            if not verdict.ok:
                misses.append((place(len(verdict.failed), verdict.distance_miles, track.track_id), verdict))
        misses.sort(key=lambda miss: miss[0])
    return [verdict for _, verdict in misses[:limit]]


def _sure_passes(ref, now):
    """SQL conditions, one per rule, that every track passing the rule meets: failing one means failing the rule."""
    min_lat, max_lat, min_lon, max_lon = bounding_box(ref.latitude, ref.longitude, ref.max_travel_miles)
    reach = [
        true() if ref.modality == "either" else Track.modality == ref.modality,
        # Outside the box around the travel radius is surely too far; inside, only the distance itself can tell.
        or_(Track.modality != "in_person", and_(Program.latitude.between(min_lat, max_lat),
                                                Program.longitude.between(min_lon, max_lon))),
        or_(Track.modality != "telehealth", json_array_contains(Program.telehealth_states, ref.state)),
    ]
    return reach + [condition for _, condition in _prefilter_conditions(ref, now)]


def describe_match(verdict):
    track = verdict.track
    return {
        "track_id": track.track_id, "program_id": track.program_id, "program_name": track.program_name,
        "track_name": track.track_name, "modality": track.modality, "score": verdict.score,
        "distance_miles": verdict.distance_miles, "first_intake_date": verdict.first_intake_date,
        "misses_7_day_target": verdict.misses_7_day_target, "hours_per_week": track.hours_per_week,
        "open_seats": track.open_seats, "reasons": verdict.reasons,
    }


def describe_near_miss(verdict):
    track = verdict.track
    return {
        "track_id": track.track_id, "program_id": track.program_id, "program_name": track.program_name,
        "distance_miles": verdict.distance_miles, "failed": verdict.failed, "reasons": verdict.reasons,
    }
