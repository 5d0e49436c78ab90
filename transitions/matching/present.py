"""Matches, near misses and allocation plans shaped for the API and the pages, through their declared schemas."""

from transitions.matching.rules import RULE_TEXT
from transitions.matching.schemas import AllocationSchema, MatchListSchema

_MATCH_LIST = MatchListSchema()
_ALLOCATION = AllocationSchema()


def _about_track(verdict):
    """What a match and a near miss both say: which track of which program, how far, and why."""
    track = verdict.track
    return {
        "track_id": track.track_id,
        "program_id": track.program_id,
        "program_name": track.program_name,
        "distance_miles": verdict.distance_miles,
        "reasons": verdict.reasons,
    }


def match(verdict):
    """One track that can take the patient, with its score and reasons (a MatchSchema body, before dumping)."""
    track = verdict.track
    return _about_track(verdict) | {
        "track_name": track.track_name,
        "modality": track.modality,
        "score": verdict.score,
        "first_intake_date": verdict.first_intake_date,
        "misses_7_day_target": verdict.misses_7_day_target,
        "hours_per_week": track.hours_per_week,
        "open_seats": track.open_seats,
    }


def excluded_in_words(excluded):
    """The exclusion counts as a page says them: (why, how many tracks), in the rules' order."""
    return [(RULE_TEXT.get(rule, rule.replace("_", " ")), count) for rule, count in excluded.items()]


def near_miss(verdict):
    """One track that fails a rule, with every rule it fails (a NearMissSchema body, before dumping)."""
    return _about_track(verdict) | {"failed": verdict.failed}


def match_list(result, include_excluded):
    """The ranked matches and exclusion counts; the near misses only when they were asked for."""
    body = _MATCH_LIST.dump(
        {
            "items": [match(v) for v in result.items],
            "excluded": result.excluded,
            "near_misses": [near_miss(v) for v in result.near_misses],
            "leads": [vars(lead) for lead in result.leads],
        }
    )
    if not include_excluded:
        body.pop("near_misses")
    return body


def allocation(run):
    """An allocation run: the plan, the offers made when it was applied, and why referrals were left out."""
    plan = run.plan
    return _ALLOCATION.dump(
        {
            "applied": run.applied,
            "considered": run.considered,
            "placed": len(plan.assignments),
            "total_score": plan.total_score,
            "assignments": [
                {
                    "referral_id": a.referral_id,
                    "track_id": a.track_id,
                    "program_id": a.program_id,
                    "score": a.score,
                    "first_intake_date": a.first_intake_date,
                    "offer_id": run.offer_ids.get(a.referral_id),
                }
                for a in plan.assignments
            ],
            "unassigned": plan.unassigned,
            "errors": run.errors,
        }
    )
