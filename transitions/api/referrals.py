"""Referral intake API: discharge planners submit and manage; plans and offered providers read."""
from flask import url_for

from transitions import policy
from transitions.api.auth import current_user, require_authentication, require_roles
from transitions.api.common import Blueprint, json_response
from transitions.core import audit
from transitions.core.fields import PageQuerySchema, page_of
from transitions.core.idempotency import idempotent
from transitions.core.pagination import keyset_page
from transitions.notify.models import Event
from transitions.notify.schemas import EventSchema
from transitions.referrals import service
from transitions.referrals.models import Referral
from transitions.referrals.schemas import (
    CancelInSchema,
    ReferralFieldsSchema,
    ReferralForProviderSchema,
    ReferralInSchema,
    ReferralListQuerySchema,
    ReferralSchema,
)

blp = Blueprint("referrals", __name__, url_prefix="/api/v1", description="Discharge referrals.")
blp.before_request(require_authentication)
ReferralPage = page_of(ReferralSchema, "ReferralPage")
EventPage = page_of(EventSchema, "EventPage")

_FULL = ReferralSchema()
_PROVIDER = ReferralForProviderSchema()


def dump_referral(user, referral):
    """Shape a referral for this viewer: full for its org, plan and admins; minimum necessary for providers."""
    schema = _PROVIDER if policy.referral_disclosure(user, referral) == "provider" else _FULL
    body = schema.dump(referral)
    body["part2_notice"] = policy.part2_notice_for(user, referral)
    return body


@blp.route("/referrals", methods=["POST"])
@require_roles("discharge_planner")
@blp.arguments(ReferralInSchema)
@blp.response(201, ReferralSchema)
@idempotent
def create_referral(data):
    """Submit a discharge referral (discharge_planner)."""
    user = current_user()
    referral = service.create_referral(user, data)
    audit.record("referral.create", "referral", referral.id)
    return json_response(dump_referral(user, referral), 201,
                         {"Location": url_for("referrals.get_referral", referral_id=referral.id)})


@blp.route("/referrals", methods=["GET"])
@blp.arguments(ReferralListQuerySchema, location="query")
@blp.response(200, ReferralPage)
def list_referrals(args):
    """Referrals you may see, newest first, with filters."""
    user = current_user()
    rows, cursor = keyset_page(service.list_referrals_query(user, args), [Referral.created_at, Referral.id], args,
                               descending=True)
    for referral in rows:
        audit.record("referral.list", "referral", referral.id)
    return json_response({"items": [dump_referral(user, r) for r in rows], "next_cursor": cursor})


@blp.route("/referrals/<referral_id>", methods=["GET"])
@blp.response(200, ReferralSchema)
def get_referral(referral_id):
    """One referral, shaped for who is asking."""
    user = current_user()
    return json_response(dump_referral(user, policy.get_referral(user, referral_id)))


@blp.route("/referrals/<referral_id>", methods=["PATCH"])
@blp.arguments(ReferralFieldsSchema)
@blp.response(200, ReferralSchema)
def update_referral(changes, referral_id):
    """Change a referral until it is placed (the referring org's planners)."""
    user = current_user()
    referral = policy.get_referral(user, referral_id, "referral.update")
    return json_response(dump_referral(user, service.update_referral(user, referral, changes)))


@blp.route("/referrals/<referral_id>/cancel", methods=["POST"])
@blp.arguments(CancelInSchema)
@blp.response(200, ReferralSchema)
def cancel_referral(data, referral_id):
    """Cancel a referral; pending offers are withdrawn and their seats freed."""
    user = current_user()
    referral = policy.get_referral(user, referral_id, "referral.cancel")
    return json_response(dump_referral(user, service.cancel_referral(user, referral, data.get("reason"))))


@blp.route("/referrals/<referral_id>/timeline", methods=["GET"])
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, EventPage)
def referral_timeline(args, referral_id):
    """Every state change and event of a referral, oldest first, with time and actor."""
    user = current_user()
    referral = policy.get_referral(user, referral_id, "referral.timeline")
    rows, cursor = keyset_page(service.timeline_query(referral), [Event.seq], args)
    return json_response({"items": EventSchema().dump(rows, many=True), "next_cursor": cursor})
