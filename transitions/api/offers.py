"""Offers and placements API: planners offer, coordinators accept or decline and record attendance, both sides read."""

from flask import url_for
from sqlalchemy import and_, or_, select

from transitions import policy
from transitions.api.auth import current_user, permits
from transitions.api.common import api_blueprint, json_response, shaped_page_response
from transitions.core import audit
from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.fields import page_of
from transitions.core.idempotency import idempotent
from transitions.core.pagination import keyset_page
from transitions.offers import commands, present
from transitions.offers.models import Offer, Placement
from transitions.offers.schemas import (
    AcceptInSchema,
    AttendanceInSchema,
    AttendanceResultSchema,
    DeclineInSchema,
    DischargeInSchema,
    EmptyInSchema,
    OfferInSchema,
    OfferListQuerySchema,
    OfferSchema,
    PlacementListQuerySchema,
    PlacementSchema,
    ReadmissionInSchema,
    ReadmissionSchema,
)
from transitions.referrals import present as referrals_present
from transitions.referrals.schemas import ReferralSchema

blp = api_blueprint("offers", __name__, "Offers, placements, attendance, IOP discharge and readmissions.")
OfferPage = page_of(OfferSchema, "OfferPage")
PlacementPage = page_of(PlacementSchema, "PlacementPage")


# ---------------------------------------------------------------- offers


@blp.route("/referrals/<referral_id>/offers", methods=["POST"])
@permits(policy.SEND_OFFER)
@blp.arguments(OfferInSchema)
@blp.response(201, OfferSchema)
@idempotent
def create_offer(data, referral_id):
    """Offer a track to a referral, holding one seat (the referring org's planners)."""
    user, now = current_user(), utcnow()
    offer = commands.send_offer(user, referral_id, data["track_id"], now)
    return json_response(
        present.offer(user, offer, now), 201, {"Location": url_for("offers.get_offer", offer_id=offer.id)}
    )


@blp.query_route("/offers", OfferListQuerySchema, OfferPage, policy=policy.READ_OFFERS)
def list_offers(args):
    """Offers you are a side of, oldest first: a coordinator's inbox with ?status=pending."""
    user, now = current_user(), utcnow()
    query = select(Offer).where(policy.offer_visibility(user))
    status = args.get("status")
    if status == "pending":
        query = query.where(Offer.status == "pending", Offer.expires_at > now)
    elif status == "expired":
        query = query.where(or_(Offer.status == "expired", and_(Offer.status == "pending", Offer.expires_at <= now)))
    elif status:
        query = query.where(Offer.status == status)
    for key, column in (
        ("referral_id", Offer.referral_id),
        ("program_id", Offer.program_id),
        ("track_id", Offer.track_id),
    ):
        if key in args:
            query = query.where(column == args[key])
    rows, cursor = keyset_page(query, [Offer.created_at, Offer.id], args)
    placements = dict(
        db.session.execute(
            select(Placement.offer_id, Placement.id).where(Placement.offer_id.in_([o.id for o in rows]))
        ).all()
    )
    items = []
    for offer in rows:
        audit.record("offer.list", "offer", offer.id)
        items.append(present.offer(user, offer, now, placements.get(offer.id)))
    return shaped_page_response(items, cursor)


@blp.route("/offers/<offer_id>", methods=["GET"])
@permits(policy.READ_OFFERS)
@blp.response(200, OfferSchema)
def get_offer(offer_id):
    """One offer, for either side of it."""
    user = current_user()
    return json_response(present.offer(user, policy.get_offer(user, offer_id), utcnow()))


@blp.route("/offers/<offer_id>/accept", methods=["POST"])
@permits(policy.DECIDE_OFFER)
@blp.arguments(AcceptInSchema)
@blp.response(200, OfferSchema)
@idempotent
def accept_offer(data, offer_id):
    """Accept with an intake date (the program's coordinators): the seat becomes occupied, the referral placed."""
    user, now = current_user(), utcnow()
    offer, placement = commands.accept_offer(user, offer_id, data["intake_date"], now)
    return json_response(present.offer(user, offer, now, placement.id))


@blp.route("/offers/<offer_id>/decline", methods=["POST"])
@permits(policy.DECIDE_OFFER)
@blp.arguments(DeclineInSchema)
@blp.response(200, OfferSchema)
def decline_offer(data, offer_id):
    """Decline with a coded reason (the program's coordinators); the seat is freed."""
    user, now = current_user(), utcnow()
    offer = commands.decline_offer(user, offer_id, data["reason"], data.get("note"), now)
    return json_response(present.offer(user, offer, now))


@blp.route("/offers/<offer_id>/withdraw", methods=["POST"])
@permits(policy.WITHDRAW_OFFER)
@blp.arguments(EmptyInSchema)
@blp.response(200, OfferSchema)
def withdraw_offer(data, offer_id):
    """Take an offer back (the referring org's planners); the seat is freed."""
    user, now = current_user(), utcnow()
    offer = commands.withdraw_offer(user, offer_id, now)
    return json_response(present.offer(user, offer, now))


@blp.route("/referrals/<referral_id>/consent/revoke", methods=["POST"])
@permits(policy.REVOKE_CONSENT)
@blp.arguments(EmptyInSchema)
@blp.response(200, ReferralSchema)
def revoke_consent(data, referral_id):
    """Revoke the 42 CFR Part 2 consent: pending offers are withdrawn and their seats freed."""
    user = current_user()
    referral = commands.revoke_consent(user, referral_id, utcnow())
    return json_response(referrals_present.referral(user, referral))


# ---------------------------------------------------------------- placements


@blp.query_route("/placements", PlacementListQuerySchema, PlacementPage)
def list_placements(args):
    """Placements you may see, oldest first (a coordinator's roster with ?status=active)."""
    user = current_user()
    query = select(Placement).where(policy.placement_visibility(user))
    for key, column in (
        ("status", Placement.status),
        ("referral_id", Placement.referral_id),
        ("program_id", Placement.program_id),
    ):
        if key in args:
            query = query.where(column == args[key])
    rows, cursor = keyset_page(query, [Placement.created_at, Placement.id], args)
    for placement in rows:
        audit.record("placement.list", "placement", placement.id)
    return shaped_page_response([present.placement(user, p) for p in rows], cursor)


@blp.route("/placements/<placement_id>", methods=["GET"])
@blp.response(200, PlacementSchema)
def get_placement(placement_id):
    """One placement with its attendance."""
    user = current_user()
    return json_response(present.placement(user, policy.get_placement(user, placement_id)))


@blp.route("/placements/<placement_id>/attendance", methods=["POST"])
@permits(policy.MANAGE_PLACEMENT)
@blp.arguments(AttendanceInSchema)
@blp.response(201, AttendanceResultSchema)
@idempotent
def record_attendance(data, placement_id):
    """Record one session (the program's coordinators); the first attended one makes the referral attending."""
    row, lapse = commands.record_attendance(current_user(), placement_id, data["date"], data["status"], utcnow())
    return json_response(
        present.attendance_result(row, lapse),
        201,
        {"Location": url_for("offers.get_placement", placement_id=row.placement_id)},
    )


@blp.route("/placements/<placement_id>/discharge", methods=["POST"])
@permits(policy.MANAGE_PLACEMENT)
@blp.arguments(DischargeInSchema)
@blp.response(200, PlacementSchema)
def discharge_placement(data, placement_id):
    """End the placement with an outcome (the program's coordinators); frees the seat."""
    user = current_user()
    placement = commands.discharge_placement(user, placement_id, data["outcome"], utcnow())
    return json_response(present.placement(user, placement))


@blp.route("/referrals/<referral_id>/readmission", methods=["POST"])
@permits(policy.RECORD_READMISSION)
@blp.arguments(ReadmissionInSchema)
@blp.response(201, ReadmissionSchema)
@idempotent
def record_readmission(data, referral_id):
    """Report a readmission (planner or case manager): days 0-2 a transfer, 3-30 a 30-day readmission."""
    row, days = commands.record_readmission(current_user(), referral_id, data["date"], data.get("facility"), utcnow())
    return json_response(present.readmission(row, days), 201)
