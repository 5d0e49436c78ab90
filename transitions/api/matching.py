"""Matching API: ranked tracks for one referral, and the optimal allocation of many."""

from transitions import policy
from transitions.api.auth import current_user
from transitions.api.common import api_blueprint, json_response
from transitions.core.clock import utcnow
from transitions.matching import commands, present, schemas

blp = api_blueprint("matching", __name__, "Matching and allocation.")


@blp.query_route(
    "/referrals/<referral_id>/matches", schemas.MatchQuerySchema, schemas.MatchListSchema, policy=policy.FIND_MATCHES
)
def referral_matches(args, referral_id):
    """Tracks that can take this patient, best first, each with its reasons; exclusions counted by rule."""
    result = commands.find_matches(current_user(), referral_id, args["limit"], args["include_excluded"], utcnow())
    return json_response(present.match_list(result, args["include_excluded"]))


@blp.action_route(
    "/allocations", schemas.AllocationInSchema, schemas.AllocationSchema, policy.ALLOCATE, replayable=True
)
def create_allocation(data):
    """Assign pending referrals to open seats: the most placements, then the best total score."""
    run = commands.allocate(current_user(), data.get("referral_ids"), data["apply"], utcnow())
    return json_response(present.allocation(run))
