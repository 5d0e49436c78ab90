"""Allocation: assign many pending referrals to open seats at once, placing the most and then the best fits."""
import time
from collections import defaultdict
from dataclasses import dataclass, field

from ortools.graph.python import min_cost_flow

from ..extensions import db
from ..models import Program, Track
from .matching import ReferralFacts, bounding_box, directory_select, evaluate_facts, track_facts_from_row

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
    """Every active track with an open seat, indexed by map cell (in person) and licensed state (telehealth)."""

    def __init__(self, tracks):
        self.tracks = {t.track_id: t for t in tracks}
        self.by_cell = defaultdict(list)
        self.by_state = defaultdict(list)
        for track in tracks:
            if track.modality == "in_person":
                self.by_cell[self._cell(track.latitude, track.longitude)].append(track)
            else:
                for state in track.telehealth_states:
                    self.by_state[state].append(track)

    @classmethod
    def load(cls):
        query = directory_select().where(Track.active.is_(True), Program.active.is_(True),
                                         Track.occupied + Track.held < Track.capacity)
        return cls([track_facts_from_row(row) for row in db.session.execute(query)])

    @staticmethod
    def _cell(latitude, longitude):
        return int(latitude // GRID_DEGREES), int(longitude // GRID_DEGREES)

    def nearby(self, ref):
        """Tracks that could pass the distance and telehealth rules; the rules decide exactly."""
        found = []
        if ref.modality in ("in_person", "either"):
            min_lat, max_lat, min_lon, max_lon = bounding_box(ref.latitude, ref.longitude, ref.max_travel_miles)
            for row in range(int(min_lat // GRID_DEGREES), int(max_lat // GRID_DEGREES) + 1):
                for col in range(int(min_lon // GRID_DEGREES), int(max_lon // GRID_DEGREES) + 1):
                    found.extend(self.by_cell.get((row, col), ()))
        if ref.modality in ("telehealth", "either"):
            found.extend(self.by_state.get(ref.state, ()))
        return found


def candidate_edges(referrals, directory, as_of):
    """Every (referral, track) pair the full rule set accepts, with its score."""
    edges = {}
    for referral in referrals:
        ref = ReferralFacts.from_referral(referral, as_of)
        accepted = []
        for track in directory.nearby(ref):
            verdict = evaluate_facts(ref, track, collect_all=False)
            if verdict.ok:
                accepted.append(Candidate(referral.id, track.track_id, track.program_id, verdict.score,
                                          verdict.first_intake_date))
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
                referral_node[rid], track_node[candidate.track_id], 1, -int(round(candidate.score * COST_SCALE)))
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


def allocate(referrals, as_of):
    """Plan the assignment of these referrals to the directory's open seats (no writes)."""
    started = time.perf_counter()
    directory = Directory.load()
    loaded = time.perf_counter()
    edges = candidate_edges(referrals, directory, as_of)
    graphed = time.perf_counter()
    seats = {tid: track.open_seats for tid, track in directory.tracks.items()}
    assignments, unassigned = solve(edges, seats)
    solved = time.perf_counter()
    return Plan(assignments=assignments, unassigned=unassigned, candidates=edges, timings={
        "load_directory_s": round(loaded - started, 3), "candidate_graph_s": round(graphed - loaded, 3),
        "solve_s": round(solved - graphed, 3), "edges": sum(len(c) for c in edges.values()),
    })


def apply_plan(user, plan):
    """Turn a plan into offers, one per assignment, each with the planner's checks and a seat hold.

    Returns ({referral_id: offer_id}, {referral_id: why it could not be offered}); one refusal (a seat
    taken meanwhile, a missing Part 2 consent) does not undo the others.
    """
    from ..errors import DomainError
    from ..models import Track
    from .offers import create_offer

    offer_ids, refused = {}, {}
    for assignment in plan.assignments:
        track = db.session.get(Track, assignment.track_id)
        try:
            with db.session.begin_nested():
                offer_ids[assignment.referral_id] = create_offer(user, assignment.referral_id, track).id
        except DomainError as error:
            refused[assignment.referral_id] = error.detail
    return offer_ids, refused
