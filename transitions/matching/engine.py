"""Matching: which IOP tracks can take a referral, in what order, and why.

One rule set (rules.py) decides everything: the single-referral ranking, the exclusion counts and
near misses, the offer check, and the allocation graph. The database prefilter (screening.py) only
narrows which tracks reach the rules; it is a relaxation of them, never stricter.
"""

from dataclasses import dataclass

from transitions.core.clock import utcnow
from transitions.matching.facts import ReferralFacts, TrackFacts
from transitions.matching.rules import evaluate_facts, rank_key
from transitions.matching.screening import near_misses, screen


def evaluate(referral, track, as_of, ignore_capacity=False):
    """All hard rules for a referral on a track as of a date; offers call it with ignore_capacity=True."""
    return evaluate_facts(
        ReferralFacts.from_referral(referral, as_of),
        TrackFacts.from_rows(track, track.program),
        ignore_capacity=ignore_capacity,
    )


@dataclass
class MatchResult:
    """Ranked matches (Evaluations, best first), exclusion counts by first failed rule, and near misses."""

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
    matches.sort(key=rank_key)
    near = near_misses(ref, near_miss_limit, now) if include_excluded else []
    return MatchResult(items=matches[:limit], excluded=dict(sorted(excluded.items())), near_misses=near)
