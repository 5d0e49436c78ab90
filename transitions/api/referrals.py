"""Referral intake API: discharge planners submit and manage; plans and offered providers read."""

from flask import url_for

from transitions import policy
from transitions.api.auth import current_user, permits
from transitions.api.common import api_blueprint, json_response, keyset_page_response, shaped_page_response
from transitions.core import audit
from transitions.core.clock import utcnow
from transitions.core.fields import PageQuerySchema, page_of
from transitions.core.idempotency import idempotent
from transitions.core.pagination import keyset_page
from transitions.notify.models import Event
from transitions.notify.schemas import EventSchema
from transitions.referrals import commands, present, queries
from transitions.referrals.models import Referral
from transitions.referrals.schemas import (
    REFERRAL_CHANGES,
    CancelInSchema,
    ReferralInSchema,
    ReferralListQuerySchema,
    ReferralSchema,
)

blp = api_blueprint("referrals", __name__, "Discharge referrals.")
ReferralPage = page_of(ReferralSchema, "ReferralPage")
EventPage = page_of(EventSchema, "EventPage")


@blp.route("/referrals", methods=["POST"])
@permits(policy.SUBMIT_REFERRAL)
@blp.arguments(ReferralInSchema)
@blp.response(201, ReferralSchema)
@idempotent
def create_referral(data):
    """Submit a discharge referral (discharge_planner)."""
    user = current_user()
    referral = commands.submit_referral(user, data, utcnow())
    return json_response(
        present.referral(user, referral), 201, {"Location": url_for("referrals.get_referral", referral_id=referral.id)}
    )


@blp.query_route("/referrals", ReferralListQuerySchema, ReferralPage)
def list_referrals(args):
    """Referrals you may see, newest first, with filters."""
    user = current_user()
    rows, cursor = keyset_page(
        queries.list_referrals_query(user, args), [Referral.created_at, Referral.id], args, descending=True
    )
    for referral in rows:
        audit.record("referral.list", "referral", referral.id)
    return shaped_page_response([present.referral(user, r) for r in rows], cursor)


@blp.route("/referrals/<referral_id>", methods=["GET"])
@blp.response(200, ReferralSchema)
def get_referral(referral_id):
    """One referral, shaped for who is asking."""
    user = current_user()
    return json_response(present.referral(user, policy.get_referral(user, referral_id)))


@blp.route("/referrals/<referral_id>", methods=["PATCH"])
@blp.arguments(REFERRAL_CHANGES)
@blp.response(200, ReferralSchema)
def update_referral(changes, referral_id):
    """Change a referral until it is placed (the referring org's planners)."""
    user = current_user()
    return json_response(present.referral(user, commands.update_referral(user, referral_id, changes, utcnow())))


@blp.route("/referrals/<referral_id>/cancel", methods=["POST"])
@blp.arguments(CancelInSchema)
@blp.response(200, ReferralSchema)
def cancel_referral(data, referral_id):
    """Cancel a referral; pending offers are withdrawn and their seats freed."""
    user = current_user()
    referral = commands.cancel_referral(user, referral_id, data.get("reason"), utcnow())
    return json_response(present.referral(user, referral))


@blp.query_route("/referrals/<referral_id>/timeline", PageQuerySchema, EventPage)
def referral_timeline(args, referral_id):
    """Every state change and event of a referral, oldest first, with time and actor."""
    user = current_user()
    referral = policy.get_referral(user, referral_id, "referral.timeline")
    return keyset_page_response(EventSchema(), queries.timeline_query(referral), [Event.seq], args)
