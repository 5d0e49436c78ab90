"""Screening in the database: loading TrackFacts, the SQL prefilter that narrows which tracks reach the rules
(a relaxation of them, never stricter), the exclusion counts, and the near misses.
"""

import json
from functools import lru_cache

from sqlalchemy import Text, and_, case, cast, func, or_, select, true

from transitions.core.clock import utcnow
from transitions.core.db import db, json_array_contains
from transitions.core.geo import bounding_box, distance_miles
from transitions.directory import seats
from transitions.directory.models import Program, Track
from transitions.matching.facts import JSON_SET_VALUES, STORED_ATTRIBUTES, TrackFacts, sessions_tuple, stored_name
from transitions.matching.rules import age_bounds, evaluate_facts

# At most this many unconfirmed programs are read as possible leads (the nearest survive the rules).
LEAD_CANDIDATES = 2000
# The models STORED_ATTRIBUTES names by key.
MODELS = {"track": Track, "program": Program}


def _track_columns(now):
    """The columns TrackFacts are made from (TrackFacts.from_stored), JSON as text; held counts only live holds as
    of now."""
    columns = []
    for model, attributes in STORED_ATTRIBUTES.items():
        for attribute in attributes:
            column = getattr(MODELS[model], attribute)
            if attribute == "held":
                column = seats.live_held(now)
            elif attribute in JSON_SET_VALUES or attribute == "sessions":
                column = cast(column, Text)
            columns.append(column.label(stored_name(model, attribute)))
    return columns


# JSON columns come back as text and are parsed once per distinct value: directories repeat the same lists
# (payers, languages, schedules) thousands of times, and the drivers' per-value JSON decoding dominated loading.
@lru_cache(maxsize=16384)
def _json_set(text):
    return frozenset(json.loads(text))


@lru_cache(maxsize=16384)
def _json_sessions(text):
    return sessions_tuple(json.loads(text))


def track_facts_from_row(row):
    """TrackFacts from a Core row of _track_columns(): no ORM objects on the hot path."""
    return TrackFacts.from_stored(row._mapping, _json_set, _json_sessions)


def load_track_facts(*conditions, now=None):
    """TrackFacts for every track (with its program) meeting the conditions, seats as of now."""
    query = select(*_track_columns(now or utcnow())).join(Program, Program.id == Track.program_id).where(*conditions)
    return [track_facts_from_row(row) for row in db.session.execute(query)]


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


def prefilter_conditions(ref, now):
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
    conditions = [
        (code, cond) for code, cond in prefilter_conditions(ref, now) if not (ignore_capacity and code == "capacity")
    ]
    first_failed = case(*[(~cond, code) for code, cond in conditions], else_=None).label("first_failed")
    # Only ids and verdicts for everything within reach; full rows (JSON and all) for the survivors alone.
    # The programs within reach are picked first (by index), then their tracks by program_id: joined the
    # other way round, PostgreSQL scans every track.
    programs_in_reach, tracks_in_reach = _reach_conditions(ref)
    verdicts = db.session.execute(
        select(Track.id, Track.modality, first_failed)
        .join(Program, Program.id == Track.program_id)
        .where(Track.program_id.in_(select(Program.id).where(programs_in_reach)), tracks_in_reach)
    ).all()
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
        .where(
            Track.program_id.in_(select(Program.id).where(or_(near, in_state))),
            or_(and_(Track.modality == "in_person", near), and_(Track.modality == "telehealth", in_state)),
        )
    ).all()

    def place(failed_count, distance, track_id):
        # Telehealth tracks count as being at the edge of the radius.
        return failed_count, radius if distance is None else distance, track_id

    candidates = sorted(
        place(
            bound,
            round(distance_miles(ref.latitude, ref.longitude, latitude, longitude), 1)
            if modality == "in_person"
            else None,
            track_id,
        )
        for track_id, modality, latitude, longitude, bound in rows
    )
    misses = []
    for start in range(0, len(candidates), NEAR_MISS_BATCH):
        batch = candidates[start : start + NEAR_MISS_BATCH]
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
        or_(
            Track.modality != "in_person",
            and_(Program.latitude.between(min_lat, max_lat), Program.longitude.between(min_lon, max_lon)),
        ),
        or_(Track.modality != "telehealth", json_array_contains(Program.telehealth_states, ref.state)),
    ]
    return reach + [condition for _, condition in prefilter_conditions(ref, now)]


def candidate_leads(ref):
    """Unconfirmed active programs that may be within the referral's reach: a box around the patient for in-person
    care (the rules measure the real distance), or licensed for telehealth in the patient's state."""
    reach = []
    if ref.modality in ("in_person", "either"):
        south, north, west, east = bounding_box(ref.latitude, ref.longitude, ref.max_travel_miles)
        reach.append(Program.latitude.between(south, north) & Program.longitude.between(west, east))
    if ref.modality in ("telehealth", "either"):
        reach.append(json_array_contains(Program.telehealth_states, ref.state))
    query = select(Program).where(Program.unconfirmed.is_(True), Program.active.is_(True), or_(*reach))
    return db.session.scalars(query.order_by(Program.id).limit(LEAD_CANDIDATES)).all()
