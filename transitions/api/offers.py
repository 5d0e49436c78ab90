"""Offers and placements API: planners offer, coordinators accept or decline and record attendance, both sides read."""

from flask import url_for

from transitions import policy
from transitions.api.auth import current_user
from transitions.api.common import api_blueprint, json_response, shaped_page_response
from transitions.core.clock import utcnow
from transitions.core.fields import page_of
from transitions.offers import commands, present, queries, schemas
from transitions.referrals import present as referrals_present
from transitions.referrals.schemas import ReferralSchema

blp = api_blueprint("offers", __name__, "Offers, placements, attendance, IOP discharge and readmissions.")
OfferPage = page_of(schemas.OfferSchema, "OfferPage")
PlacementPage = page_of(schemas.PlacementSchema, "PlacementPage")


# ---------------------------------------------------------------- offers


@blp.create_route("/referrals/<referral_id>/offers", schemas.OfferInSchema, schemas.OfferSchema, policy.SEND_OFFER)
def create_offer(data, referral_id):
    """Offer a track to a referral, holding one seat (the referring org's planners)."""
    user, now = current_user(), utcnow()
    offer = commands.send_offer(user, referral_id, data["track_id"], now)
    return json_response(
        present.offer(user, offer, now), 201, {"Location": url_for("offers.get_offer", offer_id=offer.id)}
    )


@blp.query_route("/offers", schemas.OfferListQuerySchema, OfferPage, policy=policy.READ_OFFERS)
def list_offers(args):
    """Offers you are a side of, oldest first: a coordinator's inbox with ?status=pending."""
    user, now = current_user(), utcnow()
    rows, placement_ids, cursor = queries.list_offers(user, args, now)
    return shaped_page_response([present.offer(user, o, now, placement_ids.get(o.id)) for o in rows], cursor)


@blp.read_route("/offers/<offer_id>", schemas.OfferSchema, policy=policy.READ_OFFERS)
def get_offer(offer_id):
    """One offer, for either side of it."""
    user = current_user()
    return json_response(present.offer(user, policy.get_offer(user, offer_id), utcnow()))


@blp.action_route(
    "/offers/<offer_id>/accept", schemas.AcceptInSchema, schemas.OfferSchema, policy.DECIDE_OFFER, replayable=True
)
def accept_offer(data, offer_id):
    """Accept with an intake date (the program's coordinators): the seat becomes occupied, the referral placed."""
    user, now = current_user(), utcnow()
    offer, placement = commands.accept_offer(user, offer_id, data["intake_date"], now)
    return json_response(present.offer(user, offer, now, placement.id))


@blp.action_route("/offers/<offer_id>/decline", schemas.DeclineInSchema, schemas.OfferSchema, policy.DECIDE_OFFER)
def decline_offer(data, offer_id):
    """Decline with a coded reason (the program's coordinators); the seat is freed."""
    user, now = current_user(), utcnow()
    offer = commands.decline_offer(user, offer_id, data["reason"], data.get("note"), now)
    return json_response(present.offer(user, offer, now))


@blp.action_route("/offers/<offer_id>/withdraw", schemas.EmptyInSchema, schemas.OfferSchema, policy.WITHDRAW_OFFER)
def withdraw_offer(data, offer_id):
    """Take an offer back (the referring org's planners); the seat is freed."""
    user, now = current_user(), utcnow()
    offer = commands.withdraw_offer(user, offer_id, now)
    return json_response(present.offer(user, offer, now))


@blp.action_route(
    "/referrals/<referral_id>/consent/revoke", schemas.EmptyInSchema, ReferralSchema, policy.REVOKE_CONSENT
)
def revoke_consent(data, referral_id):
    """Revoke the 42 CFR Part 2 consent: pending offers are withdrawn and their seats freed."""
    user = current_user()
    referral = commands.revoke_consent(user, referral_id, utcnow())
    return json_response(referrals_present.referral(user, referral))


# ---------------------------------------------------------------- placements


@blp.query_route("/placements", schemas.PlacementListQuerySchema, PlacementPage)
def list_placements(args):
    """Placements you may see, oldest first (a coordinator's roster with ?status=active)."""
    user = current_user()
    rows, cursor = queries.list_placements(user, args)
    return shaped_page_response([present.placement(user, p) for p in rows], cursor)


@blp.read_route("/placements/<placement_id>", schemas.PlacementSchema)
def get_placement(placement_id):
    """One placement with its attendance."""
    user = current_user()
    return json_response(present.placement(user, policy.get_placement(user, placement_id)))


@blp.create_route(
    "/placements/<placement_id>/attendance",
    schemas.AttendanceInSchema,
    schemas.AttendanceResultSchema,
    policy.MANAGE_PLACEMENT,
)
def record_attendance(data, placement_id):
    """Record one session (the program's coordinators); the first attended one makes the referral attending."""
    row, lapse = commands.record_attendance(current_user(), placement_id, data["date"], data["status"], utcnow())
    return json_response(
        present.attendance_result(row, lapse),
        201,
        {"Location": url_for("offers.get_placement", placement_id=row.placement_id)},
    )


@blp.action_route(
    "/placements/<placement_id>/discharge", schemas.DischargeInSchema, schemas.PlacementSchema, policy.MANAGE_PLACEMENT
)
def discharge_placement(data, placement_id):
    """End the placement with an outcome (the program's coordinators); frees the seat."""
    user = current_user()
    placement = commands.discharge_placement(user, placement_id, data["outcome"], utcnow())
    return json_response(present.placement(user, placement))


@blp.create_route(
    "/referrals/<referral_id>/readmission",
    schemas.ReadmissionInSchema,
    schemas.ReadmissionSchema,
    policy.RECORD_READMISSION,
)
def record_readmission(data, referral_id):
    """Report a readmission (planner or case manager): days 0-2 a transfer, 3-30 a 30-day readmission."""
    row, days = commands.record_readmission(current_user(), referral_id, data["date"], data.get("facility"), utcnow())
    return json_response(present.readmission(row, days), 201)
