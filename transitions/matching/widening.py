"""What the planner's page adds to the matches, by the same rules: why each match ranks above the next, the reasons
the matches do not share, the single changes that would add programs, and the near misses said in plain words."""

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from transitions.core.clock import age_on
from transitions.directory.models import WEEKDAYS
from transitions.matching import engine
from transitions.matching.facts import ReferralFacts
from transitions.matching.rules import RULE_TEXT, evaluate_facts, score_parts
from transitions.matching.schedule import _session_intervals
from transitions.matching.screening import near_misses, screen

# Fewer matches than this and the page says what would widen the options.
WIDEN_BELOW = 3
# Extra miles tried, the farthest capped at the schema's 500.
TRAVEL_STEPS = (10, 25, 50)
MAX_TRAVEL_MILES = 500.0
# The blocks of a day a planner adds in one go (the form's quick fills), in the patient's time zone.
DAY_BLOCKS = (("mornings", "08:00", "13:00"), ("afternoons", "12:00", "17:00"), ("evenings", "17:00", "22:00"))
LATER_START_DAYS = (7, 14)
# At most this many day blocks and widenings in all are shown (the best first), and this many near misses.
MAX_BLOCKS, MAX_WIDENINGS, MAX_NEAR_MISSES = 4, 8, 5
DAY_NAMES = dict(
    zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True)
)


@dataclass
class Widening:
    """One change to the referral and how many more programs would then match; `changes` are the referral's fields
    as the API names them (availability as weekly windows, None for any time), for the edit form to prefill."""

    label: str
    gained: int
    changes: dict


@dataclass
class PlannerMatches:
    """The ranked matches and, aligned with them, why each is above the next (None for the last) and the reasons it
    does not share with every other match; the reasons all share; widenings and near misses when few match."""

    result: engine.MatchResult
    edges: list
    distinct_reasons: list
    shared_reasons: list
    widenings: list = field(default_factory=list)
    near_misses: list = field(default_factory=list)


def explain(referral, limit, now):
    result = engine.ranked_matches(referral, limit, now.date())
    ref = ReferralFacts.from_referral(referral, now.date())
    items = result.items
    edges = [deciding_factor(ref, upper, lower) for upper, lower in zip(items, items[1:], strict=False)] + (
        [None] if items else []
    )
    shared = [r for r in items[0].reasons if all(r in v.reasons for v in items[1:])] if len(items) > 1 else []
    distinct = [[r for r in v.reasons if r not in shared] for v in items]
    view = PlannerMatches(result=result, edges=edges, distinct_reasons=distinct, shared_reasons=shared)
    if len(items) < WIDEN_BELOW:
        view.widenings = widenings(ref, now)
        view.near_misses = [
            "%s at %s: %s" % (v.track.track_name, v.track.program_name, near_miss_text(ref, v))
            for v in near_misses(ref, 20, now)
            if len(v.failed) == 1
        ][:MAX_NEAR_MISSES]
    return view


# ---------------------------------------------------------------- why #1 is above #2


def _plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def deciding_factor(ref, upper, lower):
    """What puts `upper` above `lower` in the ranking (rank_key after the stale-seat split), in plain words."""
    if upper.seats_stale != lower.seats_stale:
        return "its seat count is confirmed"
    if upper.score == lower.score:
        days = (lower.first_intake_date - upper.first_intake_date).days
        if days > 0:
            return "starts %s earlier" % _plural(days, "day")
        if (upper.distance_miles or 0.0) < (lower.distance_miles or 0.0):
            return "closer (%.1f miles against %.1f)" % (upper.distance_miles or 0.0, lower.distance_miles or 0.0)
        return "equal on every measure; listed first by its track id"
    parts = {}
    for name, verdict in (("upper", upper), ("lower", lower)):
        age = age_on(ref.birth_date, verdict.first_intake_date)
        parts[name] = score_parts(ref, verdict.track, verdict, age)[0]
    gaps = {key: parts["upper"][key] - parts["lower"][key] for key in parts["upper"]}
    key = max(gaps, key=lambda k: gaps[k])
    if key == "timeliness":
        days = (lower.first_intake_date - upper.first_intake_date).days
        return "starts %s earlier" % _plural(days, "day")
    if key == "slack":
        return "more time to spare (%d min against %d)" % (upper.slack_minutes or 0, lower.slack_minutes or 0)
    if key == "nearness":
        if upper.distance_miles is None:
            return "telehealth: no travel (the other is %.1f miles away)" % lower.distance_miles
        if lower.distance_miles is None:
            return "close by in person (%.1f miles)" % upper.distance_miles
        return "closer (%.1f miles against %.1f)" % (upper.distance_miles, lower.distance_miles)
    return "more hours a week (%g against %g)" % (upper.track.hours_per_week, lower.track.hours_per_week)


# ---------------------------------------------------------------- what would widen the options


def _changed(ref, **changes):
    """The referral's facts with some changed, and fresh caches (availability and fit are cached per referral)."""
    return dataclasses.replace(ref, _windows={}, _fits={}, **changes)


def _matching_programs(ref, pool):
    return {track.program_id for track in pool if evaluate_facts(ref, track, collect_all=False, explain=False).ok}


def _widest(ref):
    """The referral with every reach and time change tried at once: the tracks it screens in are a superset of
    those any single change can match (the screen is a relaxation of the rules), so one screen serves them all."""
    return _changed(
        ref,
        modality="either",
        max_travel_miles=min(MAX_TRAVEL_MILES, ref.max_travel_miles + TRAVEL_STEPS[-1]),
        availability=None,
    )


def widenings(ref, now):
    """The single changes that would add programs to the referral's matches, most added first."""
    pool, _ = screen(_widest(ref), now=now)
    current = _matching_programs(ref, pool)
    found = []

    def gained(changed_ref, candidates=pool):
        return len(_matching_programs(changed_ref, candidates) - current)

    if ref.modality == "in_person":
        found.append(Widening("allow telehealth", gained(_changed(ref, modality="either")), {"modality": "either"}))
    elif ref.modality == "telehealth":
        label = "allow in-person care within %g miles" % ref.max_travel_miles
        found.append(Widening(label, gained(_changed(ref, modality="either")), {"modality": "either"}))
    if ref.modality != "telehealth":
        best = 0
        for step in TRAVEL_STEPS:
            miles = min(MAX_TRAVEL_MILES, ref.max_travel_miles + step)
            if miles <= ref.max_travel_miles:
                break
            added = gained(_changed(ref, max_travel_miles=miles))
            if added > best:
                best = added
                label = "travel %g miles instead of %g" % (miles, ref.max_travel_miles)
                found.append(Widening(label, added, {"max_travel_miles": miles}))
    if ref.availability is not None:
        found.append(Widening("any time of day", gained(_changed(ref, availability=None)), {"availability": None}))
        blocks = []
        for day in WEEKDAYS:
            for name, start, end in DAY_BLOCKS:
                windows = ref.availability + ((day, start, end),)
                label = "add %s %s (%s–%s)" % (DAY_NAMES[day], name, start, end)
                changes = {"availability": [{"day": d, "start": s, "end": e} for d, s, e in windows]}
                blocks.append(Widening(label, gained(_changed(ref, availability=windows)), changes))
        blocks.sort(key=lambda widening: -widening.gained)
        found.extend(blocks[:MAX_BLOCKS])
    for days in LATER_START_DAYS:
        discharge = ref.discharge_date + timedelta(days=days)
        later = _changed(ref, discharge_date=discharge, earliest_start=max(discharge, ref.earliest_start))
        # The age rule's screen depends on the start: a later start is screened on its own.
        later_pool, _ = screen(_widest(later), now=now)
        label = "start on or after %s" % discharge.strftime("%a %b %-d")
        found.append(Widening(label, gained(later, later_pool), {"discharge_date": discharge}))
    found = [widening for widening in found if widening.gained > 0]
    found.sort(key=lambda widening: -widening.gained)
    return found[:MAX_WIDENINGS]


# ---------------------------------------------------------------- near misses in plain words


def _clock(epoch, zone):
    moment = datetime.fromtimestamp(epoch, zone)
    return DAY_NAMES[WEEKDAYS[moment.weekday()]], moment.strftime("%H:%M")


def schedule_miss_text(ref, verdict):
    """Which session falls outside the patient's windows and by how much, in the patient's time zone."""
    track, week = verdict.track, verdict.first_intake_date
    windows = ref.windows_for_week(week) or []
    zone = ZoneInfo(ref.timezone)
    for start, end in _session_intervals(track.timezone, track.sessions, week):
        if any(w[0] <= start and end <= w[1] for w in windows):
            continue
        day, starts = _clock(start, zone)
        _, ends = _clock(end, zone)
        overlapping = next((w for w in windows if w[0] < end and start < w[1]), None)
        if overlapping is None:
            return "its %s session (%s–%s) is outside every time marked for the patient" % (day, starts, ends)
        if end > overlapping[1]:
            return "its %s session ends %s, after the patient's window (ends %s)" % (
                day,
                ends,
                _clock(overlapping[1], zone)[1],
            )
        return "its %s session starts %s, before the patient's window (starts %s)" % (
            day,
            starts,
            _clock(overlapping[0], zone)[1],
        )
    return RULE_TEXT["schedule"]


def near_miss_text(ref, verdict):
    """Why a track that fails one rule fails it, with the figures that decide it."""
    rule, track = verdict.failed[0], verdict.track
    if rule == "schedule" and verdict.first_intake_date is not None:
        return schedule_miss_text(ref, verdict)
    if rule == "distance" and verdict.distance_miles is not None:
        return "%.1f miles away, beyond the %g-mile limit" % (verdict.distance_miles, ref.max_travel_miles)
    if rule == "modality":
        return "telehealth only" if track.modality == "telehealth" else "in person only"
    if rule == "telehealth_state":
        return "not licensed for telehealth in %s" % ref.state
    if rule == "capacity":
        return "no open seat right now"
    if rule == "age":
        return "takes ages %d to %d" % (track.min_age, track.max_age)
    return RULE_TEXT[rule]
