"""Allocation: assign many pending referrals to open seats at once, placing the most and then the best fits."""

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import min_cost_flow
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.geo import bounding_box, distances_miles
from transitions.directory import seats
from transitions.directory.models import Program, Track
from transitions.matching.facts import ReferralFacts
from transitions.matching.rules import age_bounds, evaluate_facts
from transitions.matching.screening import load_track_facts
from transitions.offers import batch as offer_batch
from transitions.offers import queries as offer_queries

# Scores carry three decimals; the solver wants integer costs.
COST_SCALE = 1000
GRID_DEGREES = 1.0


@dataclass
class Candidate:
    referral_id: str
    track_id: str
    program_id: str
    score: float
    first_intake_date: object


@dataclass
class Plan:
    assignments: list
    unassigned: list
    candidates: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def total_score(self):
        return round(sum(a.score for a in self.assignments), 3)


class Directory:
    """Every active track with an open seat: TrackFacts for the rules, and the same facts as columns for a
    vectorized prefilter, indexed by map cell (in person) and licensed state (telehealth).

    The prefilter is the in-memory twin of matching's SQL prefilter: a relaxation of the rules that only
    narrows which tracks the rules look at; evaluate_facts decides every pair.
    """

    # Generous against float differences between numpy's and math's great-circle arithmetic.
    DISTANCE_SLACK_MILES = 0.5

    def __init__(self, tracks):
        self.tracks = list(tracks)
        self.latitude = np.array([t.latitude for t in self.tracks], dtype=float)
        self.longitude = np.array([t.longitude for t in self.tracks], dtype=float)
        self.mat = np.array([t.mat for t in self.tracks], dtype=bool)
        self.min_age = np.array([t.min_age for t in self.tracks], dtype=np.int32)
        self.max_age = np.array([t.max_age for t in self.tracks], dtype=np.int32)
        self.self_pay = np.array([t.self_pay for t in self.tracks], dtype=bool)
        self.interpreter = np.array([t.interpreter_services for t in self.tracks], dtype=bool)
        self.gender = np.array([t.gender for t in self.tracks], dtype=object)
        self.any_gender = self.gender == "any"
        members = defaultdict(list)
        cells, states = defaultdict(list), defaultdict(list)
        for index, track in enumerate(self.tracks):
            for attribute in ("services", "languages", "payers", "accepts_from"):
                for value in getattr(track, attribute):
                    members[attribute, value].append(index)
            if track.modality == "in_person":
                cells[self._cell(track.latitude, track.longitude)].append(index)
            else:
                for state in track.telehealth_states:
                    states[state].append(index)
        self._members = members
        self._masks = {}
        self.by_cell = {cell: np.array(indexes, dtype=np.int64) for cell, indexes in cells.items()}
        self.by_state = {state: np.array(indexes, dtype=np.int64) for state, indexes in states.items()}

    @classmethod
    def load(cls, now=None):
        now = now or utcnow()
        return cls(
            load_track_facts(Track.active.is_(True), Program.active.is_(True), seats.has_open_seat(now), now=now)
        )

    @staticmethod
    def _cell(latitude, longitude):
        return int(latitude // GRID_DEGREES), int(longitude // GRID_DEGREES)

    def _has(self, attribute, value):
        """Boolean column: which tracks list `value` in `attribute` (built on first use)."""
        key = attribute, value
        if key not in self._masks:
            mask = np.zeros(len(self.tracks), dtype=bool)
            mask[self._members.get(key, [])] = True
            self._masks[key] = mask
        return self._masks[key]

    def nearby(self, ref):
        """Indexes of tracks that could pass the distance and telehealth rules."""
        found = []
        if ref.modality in ("in_person", "either"):
            min_lat, max_lat, min_lon, max_lon = bounding_box(ref.latitude, ref.longitude, ref.max_travel_miles)
            for row in range(int(min_lat // GRID_DEGREES), int(max_lat // GRID_DEGREES) + 1):
                for col in range(int(min_lon // GRID_DEGREES), int(max_lon // GRID_DEGREES) + 1):
                    if (row, col) in self.by_cell:
                        found.append(self.by_cell[row, col])
            if found:
                in_box = np.concatenate(found)
                miles = distances_miles(ref.latitude, ref.longitude, self.latitude[in_box], self.longitude[in_box])
                found = [in_box[miles <= ref.max_travel_miles + self.DISTANCE_SLACK_MILES]]
        if ref.modality in ("telehealth", "either") and ref.state in self.by_state:
            found.append(self.by_state[ref.state])
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def prefiltered(self, ref):
        """The tracks within reach that also pass every program-level condition of matching's prefilter."""
        index = self.nearby(ref)
        if not index.size:
            return []
        youngest, oldest = age_bounds(ref)
        keep = self._has("services", ref.need)[index]
        if ref.needs_mat:
            keep &= self.mat[index]
        keep &= (self.min_age[index] <= oldest) & (self.max_age[index] >= youngest)
        keep &= self.any_gender[index] | (self.gender[index] == ref.gender)
        keep &= self.interpreter[index] | self._has("languages", ref.language)[index]
        keep &= self.self_pay[index] if ref.self_pay else self._has("payers", ref.payer_id)[index]
        keep &= self._has("accepts_from", ref.origin)[index]
        return [self.tracks[i] for i in index[keep].tolist()]


def candidate_edges(referrals, directory, as_of):
    """Every (referral, track) pair the full rule set accepts, with its score."""
    edges = {}
    for referral in referrals:
        ref = ReferralFacts.from_referral(referral, as_of)
        accepted = []
        for track in directory.prefiltered(ref):
            verdict = evaluate_facts(ref, track, collect_all=False, explain=False)
            if verdict.ok:
                accepted.append(
                    Candidate(referral.id, track.track_id, track.program_id, verdict.score, verdict.first_intake_date)
                )
        edges[referral.id] = accepted
    return edges


def solve(edges, seats):
    """Max-flow min-cost: the most referrals placed, and among those the highest total score.

    edges: {referral_id: [Candidate]}; seats: {track_id: open seats}.
    """
    referral_ids = sorted(edges)
    track_ids = sorted({c.track_id for cands in edges.values() for c in cands})
    if not track_ids:
        return [], referral_ids
    source, sink = 0, 1 + len(referral_ids) + len(track_ids)
    referral_node = {rid: 1 + i for i, rid in enumerate(referral_ids)}
    track_node = {tid: 1 + len(referral_ids) + i for i, tid in enumerate(track_ids)}
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = {}
    for rid in referral_ids:
        flow.add_arc_with_capacity_and_unit_cost(source, referral_node[rid], 1, 0)
        for candidate in edges[rid]:
            arc = flow.add_arc_with_capacity_and_unit_cost(
                referral_node[rid], track_node[candidate.track_id], 1, -int(round(candidate.score * COST_SCALE))
            )
            arcs[arc] = candidate
    for tid in track_ids:
        flow.add_arc_with_capacity_and_unit_cost(track_node[tid], sink, max(0, seats[tid]), 0)
    flow.set_node_supply(source, len(referral_ids))
    flow.set_node_supply(sink, -len(referral_ids))
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        raise RuntimeError("min-cost flow solver returned status %s" % status)
    assignments = [candidate for arc, candidate in arcs.items() if flow.flow(arc) > 0]
    placed = {a.referral_id for a in assignments}
    assignments.sort(key=lambda a: a.referral_id)
    return assignments, [rid for rid in referral_ids if rid not in placed]


def offerable(referrals, now):
    """(referrals an offer could be made for now, {referral_id: why not} for the rest).

    A referral the Part 2 consent gate blocks would only take a seat in the plan that no offer can fill,
    while another patient who could start goes without one; it stays out until its consent is on file.
    """
    ready, blocked = [], {}
    for referral in referrals:
        reason = offer_queries.consent_blocker(referral, now)
        if reason is None:
            ready.append(referral)
        else:
            blocked[referral.id] = reason
    return ready, blocked


def allocate(referrals, as_of):
    """Plan the assignment of these referrals to the directory's open seats (no writes)."""
    started = time.perf_counter()
    directory = Directory.load()
    loaded = time.perf_counter()
    edges = candidate_edges(referrals, directory, as_of)
    graphed = time.perf_counter()
    seats = {track.track_id: track.open_seats for track in directory.tracks}
    assignments, unassigned = solve(edges, seats)
    solved = time.perf_counter()
    return Plan(
        assignments=assignments,
        unassigned=unassigned,
        candidates=edges,
        timings={
            "load_directory_s": round(loaded - started, 3),
            "candidate_graph_s": round(graphed - loaded, 3),
            "solve_s": round(solved - graphed, 3),
            "edges": sum(len(c) for c in edges.values()),
        },
    )


def apply_plan(user, plan, now=None):
    """Turn a plan into offers in one batch, with the planner's checks and a seat hold each (offers.batch).

    Returns ({referral_id: offer_id}, {referral_id: why it could not be offered}); one refusal (a seat
    taken meanwhile, a missing Part 2 consent) does not undo the others.
    """
    # One query for every track the plan uses and one for their programs, not one per offer.
    tracks = {
        track.id: track
        for track in db.session.scalars(
            select(Track)
            .where(Track.id.in_({a.track_id for a in plan.assignments}))
            .options(selectinload(Track.program))
        )
    }
    return offer_batch.create_offers(user, [(a.referral_id, tracks[a.track_id]) for a in plan.assignments], now)
