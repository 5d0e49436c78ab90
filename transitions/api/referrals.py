"""Referral intake API: discharge planners submit and manage; plans and offered providers read."""

from flask import url_for

from transitions import policy
from transitions.api.auth import current_user
from transitions.api.common import api_blueprint, json_response, shaped_page_response
from transitions.core.clock import utcnow
from transitions.core.fields import PageQuerySchema, page_of
from transitions.notify.schemas import EventSchema
from transitions.referrals import commands, present, queries, schemas

blp = api_blueprint("referrals", __name__, "Discharge referrals.")
ReferralPage = page_of(schemas.ReferralSchema, "ReferralPage")
EventPage = page_of(EventSchema, "EventPage")


@blp.create_route("/referrals", schemas.ReferralInSchema, schemas.ReferralSchema, policy.SUBMIT_REFERRAL)
def create_referral(data):
    """Submit a discharge referral (discharge_planner)."""
    user = current_user()
    referral = commands.submit_referral(user, data, utcnow())
    return json_response(
        present.referral(user, referral), 201, {"Location": url_for("referrals.get_referral", referral_id=referral.id)}
    )


@blp.query_route("/referrals", schemas.ReferralListQuerySchema, ReferralPage)
def list_referrals(args):
    """Referrals you may see, newest first, with filters."""
    user = current_user()
    rows, cursor = queries.list_referrals(user, args)
    return shaped_page_response([present.referral(user, r) for r in rows], cursor)


@blp.read_route("/referrals/<referral_id>", schemas.ReferralSchema)
def get_referral(referral_id):
    """One referral, shaped for who is asking."""
    user = current_user()
    return json_response(present.referral(user, policy.get_referral(user, referral_id)))


@blp.change_route("/referrals/<referral_id>", schemas.REFERRAL_CHANGES, schemas.ReferralSchema)
def update_referral(changes, referral_id):
    """Change a referral until it is placed (the referring org's planners)."""
    user = current_user()
    return json_response(present.referral(user, commands.update_referral(user, referral_id, changes, utcnow())))


@blp.action_route("/referrals/<referral_id>/cancel", schemas.CancelInSchema, schemas.ReferralSchema)
def cancel_referral(data, referral_id):
    """Cancel a referral; pending offers are withdrawn and their seats freed."""
    user = current_user()
    referral = commands.cancel_referral(user, referral_id, data.get("reason"), utcnow())
    return json_response(present.referral(user, referral))


@blp.query_route("/referrals/<referral_id>/timeline", PageQuerySchema, EventPage)
def referral_timeline(args, referral_id):
    """Every state change and event of a referral, oldest first, with time and actor."""
    user = current_user()
    referral, events, cursor = queries.timeline(user, referral_id, args)
    return shaped_page_response(present.timeline(user, referral, events), cursor)
