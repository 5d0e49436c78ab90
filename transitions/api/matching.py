"""Matching API: ranked tracks for one referral, and the optimal allocation of many."""
from sqlalchemy import select

from transitions import policy
from transitions.api.auth import current_user, require_authentication, require_roles
from transitions.api.common import Blueprint, json_response
from transitions.core.clock import today, utcnow
from transitions.core.db import db
from transitions.matching import allocation as allocation_service
from transitions.matching import engine as matching
from transitions.matching.schemas import (
    AllocationInSchema,
    AllocationSchema,
    MatchListSchema,
    MatchQuerySchema,
)
from transitions.offers.models import Offer
from transitions.referrals.models import Referral

blp = Blueprint("matching", __name__, url_prefix="/api/v1", description="Matching and allocation.")
blp.before_request(require_authentication)

PENDING_STATUSES = ("submitted", "no_match")


@blp.route("/referrals/<referral_id>/matches", methods=["GET"])
@require_roles("discharge_planner", "case_manager", "admin")
@blp.arguments(MatchQuerySchema, location="query")
@blp.response(200, MatchListSchema)
def referral_matches(args, referral_id):
    """Tracks that can take this patient, best first, each with its reasons; exclusions counted by rule."""
    user = current_user()
    referral = policy.get_referral(user, referral_id, "referral.match")
    result = matching.ranked_matches(referral, args["limit"], today(), include_excluded=args["include_excluded"])
    body = MatchListSchema().dump({
        "items": [matching.describe_match(v) for v in result.items],
        "excluded": result.excluded,
        "near_misses": [matching.describe_near_miss(v) for v in result.near_misses],
    })
    if not args["include_excluded"]:
        body.pop("near_misses")
    return json_response(body)


def _pending_referrals(user, referral_ids):
    """The caller's visible referrals that wait for a seat: submitted or no_match, with no pending offer."""
    has_pending_offer = select(Offer.id).where(Offer.referral_id == Referral.id, Offer.status == "pending").exists()
    query = select(Referral).where(policy.referral_visibility(user), Referral.status.in_(PENDING_STATUSES),
                                   ~has_pending_offer)
    errors = {}
    if referral_ids is not None:
        query = query.where(Referral.id.in_(referral_ids))
    referrals = db.session.scalars(query.order_by(Referral.id)).all()
    if referral_ids is not None:
        found = {r.id for r in referrals}
        for rid in referral_ids:
            if rid not in found:
                errors[rid] = "not found, or not waiting for a seat"
    return referrals, errors


@blp.route("/allocations", methods=["POST"])
@require_roles("case_manager", "admin")
@blp.arguments(AllocationInSchema)
@blp.response(200, AllocationSchema)
def create_allocation(data):
    """Assign pending referrals to open seats: the most placements, then the best total score."""
    user = current_user()
    referrals, errors = _pending_referrals(user, data.get("referral_ids"))
    referrals, blocked = allocation_service.offerable(referrals, utcnow())
    errors.update(blocked)
    plan = allocation_service.allocate(referrals, today())
    offer_ids = {}
    if data["apply"]:
        offer_ids, refused = allocation_service.apply_plan(user, plan)
        errors.update(refused)
    body = AllocationSchema().dump({
        "applied": data["apply"],
        "considered": len(referrals),
        "placed": len(plan.assignments),
        "total_score": plan.total_score,
        "assignments": [{
            "referral_id": a.referral_id, "track_id": a.track_id, "program_id": a.program_id, "score": a.score,
            "first_intake_date": a.first_intake_date, "offer_id": offer_ids.get(a.referral_id),
        } for a in plan.assignments],
        "unassigned": plan.unassigned,
        "errors": errors,
    })
    return json_response(body)
