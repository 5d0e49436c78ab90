"""Matching: which IOP tracks can take a referral, in what order, and why.

One rule set (rules.py) decides everything: the single-referral ranking, the exclusion counts and
near misses, the offer check, and the allocation graph. The database prefilter (screening.py) only
narrows which tracks reach the rules; it is a relaxation of them, never stricter.
"""

from dataclasses import dataclass, field

from flask import current_app

from transitions.core.clock import utcnow
from transitions.matching.facts import ReferralFacts, TrackFacts
from transitions.matching.rules import evaluate_facts, lead_fits, rank_key
from transitions.matching.screening import candidate_leads, near_misses, screen

# At most this many leads (unconfirmed programs that fit) with a referral's matches.
LEADS_LIMIT = 10


def evaluate(referral, track, as_of, ignore_capacity=False):
    """All hard rules for a referral on a track as of a date; offers call it with ignore_capacity=True."""
    return evaluate_facts(
        ReferralFacts.from_referral(referral, as_of),
        TrackFacts.from_rows(track, track.program),
        ignore_capacity=ignore_capacity,
    )


def seats_max_age_days():
    return current_app.config["SEATS_CONFIRMATION_MAX_AGE_DAYS"]


def mark_stale_seats(verdicts, now):
    """Flag (and say why) the matches whose seat count nobody confirmed within the freshness limit."""
    max_age = seats_max_age_days()
    for verdict in verdicts:
        confirmed = verdict.track.seats_confirmed_at
        age = (now - confirmed).days if confirmed is not None else None
        if age is None or age >= max_age:
            verdict.seats_stale = True
            said = "not confirmed for %d days" % age if age is not None else "never confirmed"
            verdict.reasons = [*verdict.reasons, "seat count %s: ranked after confirmed tracks, call to check" % said]


@dataclass
class MatchResult:
    """Ranked matches (Evaluations, best first), exclusion counts by first failed rule, and near misses."""

    items: list
    excluded: dict
    near_misses: list
    leads: list = field(default_factory=list)


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
    mark_stale_seats(matches, now)
    matches.sort(key=lambda verdict: (verdict.seats_stale, rank_key(verdict)))
    near = near_misses(ref, near_miss_limit, now) if include_excluded else []
    fewer_than = current_app.config["MATCH_LEADS_BELOW"]
    found = leads(ref, LEADS_LIMIT) if len(matches) < fewer_than else []
    return MatchResult(items=matches[:limit], excluded=dict(sorted(excluded.items())), near_misses=near, leads=found)


@dataclass
class Lead:
    """An unconfirmed program (imported, no tracks) that fits every known fact of the referral: someone to call."""

    program_id: str
    program_name: str
    phone: str | None
    street: str | None
    city: str | None
    zip: str
    state: str
    modality: str
    distance_miles: float | None
    reasons: list


def _pseudo_track(program, modality):
    """The program as the rules see a track of it that meets any day: only the program's own facts are real."""
    return TrackFacts(
        track_id="",
        program_id=program.id,
        program_name=program.name,
        track_name="",
        modality=modality,
        timezone="UTC",
        sessions=(),
        intake_days=frozenset(("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
        hours_per_week=0.0,
        open_seats=1,
        active=program.active,
        services=frozenset(program.services),
        mat=program.mat,
        min_age=program.min_age,
        max_age=program.max_age,
        gender=program.gender,
        languages=frozenset(program.languages),
        interpreter_services=program.interpreter_services,
        payers=frozenset(program.payers),
        self_pay=program.self_pay,
        accepts_from=frozenset(program.accepts_from),
        telehealth_states=frozenset(program.telehealth_states),
        latitude=program.latitude,
        longitude=program.longitude,
    )


def leads(ref, limit):
    """Unconfirmed programs within reach (in person within the travel limit, or telehealth licensed in the patient's
    state) that pass every rule not needing a schedule or seats, nearest first: phone them."""
    found = []
    for program in candidate_leads(ref):
        for modality in ("in_person", "telehealth"):
            fits, distance = lead_fits(ref, _pseudo_track(program, modality))
            if fits:
                reach = (
                    "in person, %.1f miles away" % distance
                    if modality == "in_person"
                    else "telehealth, licensed in %s" % ref.state
                )
                found.append(
                    Lead(
                        program_id=program.id,
                        program_name=program.name,
                        phone=program.phone,
                        street=program.street,
                        city=program.city,
                        zip=program.zip,
                        state=program.state,
                        modality=modality,
                        distance_miles=None if distance is None else round(distance, 1),
                        reasons=[
                            "unconfirmed: listed in the national directory, no schedule or seats known; call them",
                            reach,
                        ],
                    )
                )
                break
    found.sort(key=lambda lead: (lead.modality != "in_person", lead.distance_miles or 0.0, lead.program_id))
    return found[:limit]
