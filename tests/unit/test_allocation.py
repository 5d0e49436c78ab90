"""Allocation optimality: equal to brute force on small instances, to networkx's min-cost flow on larger ones."""

import itertools
import random
from datetime import date

import networkx as nx
import pytest

from transitions.matching.allocation import COST_SCALE, Candidate, solve


def random_instance(rng, referrals, tracks, density, max_seats):
    seats = {"t%02d" % j: rng.randint(0, max_seats) for j in range(tracks)}
    edges = {}
    for i in range(referrals):
        rid = "r%02d" % i
        edges[rid] = [
            Candidate(rid, tid, "p", round(rng.uniform(0, 150), 3), date(2026, 12, 1))
            for tid in seats
            if rng.random() < density
        ]
    return edges, seats


def brute_force(edges, seats):
    """Try every choice (a track or nothing) per referral: best (count, total score)."""
    rids = sorted(edges)
    best = (0, 0.0)
    options = [[None] + edges[rid] for rid in rids]
    for choice in itertools.product(*options):
        used = {}
        for candidate in choice:
            if candidate is not None:
                used[candidate.track_id] = used.get(candidate.track_id, 0) + 1
        if any(count > seats[tid] for tid, count in used.items()):
            continue
        picked = [c for c in choice if c is not None]
        value = (len(picked), round(sum(c.score for c in picked), 3))
        best = max(best, value)
    return best


def networkx_optimum(edges, seats):
    graph = nx.DiGraph()
    for rid, candidates in edges.items():
        graph.add_edge("source", rid, capacity=1, weight=0)
        for c in candidates:
            graph.add_edge(rid, c.track_id, capacity=1, weight=-int(round(c.score * COST_SCALE)))
    for tid, count in seats.items():
        graph.add_edge(tid, "sink", capacity=count, weight=0)
    if "source" not in graph or "sink" not in graph:
        return 0, 0
    flow = nx.max_flow_min_cost(graph, "source", "sink")
    placed = sum(flow["source"].values())
    return placed, -nx.cost_of_flow(graph, flow)


def check_feasible(assignments, edges, seats):
    used = {}
    for a in assignments:
        assert a in edges[a.referral_id]
        used[a.track_id] = used.get(a.track_id, 0) + 1
    assert all(count <= seats[tid] for tid, count in used.items())
    assert len({a.referral_id for a in assignments}) == len(assignments)


@pytest.mark.parametrize("seed", range(40))
def test_small_instances_equal_brute_force(seed):
    rng = random.Random(seed)
    edges, seats = random_instance(rng, referrals=rng.randint(1, 6), tracks=rng.randint(1, 4), density=0.5, max_seats=2)
    assignments, unassigned = solve(edges, seats)
    check_feasible(assignments, edges, seats)
    assert (len(assignments), round(sum(a.score for a in assignments), 3)) == brute_force(edges, seats)
    assert sorted(unassigned + [a.referral_id for a in assignments]) == sorted(edges)


def test_placing_more_beats_a_higher_score():
    """One seat each: the best single fit (A→T1, 150) would leave B out; placing both wins."""
    edges = {
        "A": [Candidate("A", "T1", "p", 150, None), Candidate("A", "T2", "p", 10, None)],
        "B": [Candidate("B", "T1", "p", 20, None)],
    }
    assignments, unassigned = solve(edges, {"T1": 1, "T2": 1})
    assert {(a.referral_id, a.track_id) for a in assignments} == {("A", "T2"), ("B", "T1")}
    assert unassigned == []


@pytest.mark.parametrize("seed", range(5))
def test_larger_instances_equal_networkx(seed):
    rng = random.Random(1000 + seed)
    edges, seats = random_instance(rng, referrals=120, tracks=40, density=0.08, max_seats=3)
    assignments, _ = solve(edges, seats)
    check_feasible(assignments, edges, seats)
    placed, cost = networkx_optimum(edges, seats)
    assert len(assignments) == placed
    assert sum(int(round(a.score * COST_SCALE)) for a in assignments) == cost


def test_nothing_to_place():
    assert solve({"A": []}, {}) == ([], ["A"])
    assert solve({}, {"T": 1}) == ([], [])
