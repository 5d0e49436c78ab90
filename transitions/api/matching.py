"""Matching API: ranked tracks for one referral, and the optimal allocation of many."""

from transitions import policy
from transitions.api.auth import current_user, permits
from transitions.api.common import api_blueprint, json_response
from transitions.core.clock import utcnow
from transitions.matching import commands, present
from transitions.matching.schemas import AllocationInSchema, AllocationSchema, MatchListSchema, MatchQuerySchema

blp = api_blueprint("matching", __name__, "Matching and allocation.")


@blp.query_route("/referrals/<referral_id>/matches", MatchQuerySchema, MatchListSchema, policy=policy.FIND_MATCHES)
def referral_matches(args, referral_id):
    """Tracks that can take this patient, best first, each with its reasons; exclusions counted by rule."""
    result = commands.find_matches(current_user(), referral_id, args["limit"], args["include_excluded"], utcnow())
    return json_response(present.match_list(result, args["include_excluded"]))


@blp.route("/allocations", methods=["POST"])
@permits(policy.ALLOCATE)
@blp.arguments(AllocationInSchema)
@blp.response(200, AllocationSchema)
def create_allocation(data):
    """Assign pending referrals to open seats: the most placements, then the best total score."""
    run = commands.allocate(current_user(), data.get("referral_ids"), data["apply"], utcnow())
    return json_response(present.allocation(run))
