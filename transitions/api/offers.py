"""Offers and placements API: planners offer, coordinators accept or decline and record attendance, both sides read."""
from flask import url_for
from sqlalchemy import and_, or_, select

from transitions import policy
from transitions.api.auth import current_user, require_authentication, require_roles
from transitions.api.common import Blueprint, json_response
from transitions.api.referrals import dump_referral
from transitions.core import audit
from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.errors import ValidationFailed
from transitions.core.fields import page_of
from transitions.core.idempotency import idempotent
from transitions.core.pagination import keyset_page
from transitions.directory.models import Program, Track
from transitions.offers import placements as placement_service
from transitions.offers import service
from transitions.offers.models import Offer, Placement
from transitions.offers.schemas import (
    AcceptInSchema,
    AttendanceInSchema,
    AttendanceResultSchema,
    AttendanceSchema,
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
from transitions.referrals.models import Referral
from transitions.referrals.schemas import ReferralSchema

blp = Blueprint("offers", __name__, url_prefix="/api/v1",
                description="Offers, placements, attendance, IOP discharge and readmissions.")
blp.before_request(require_authentication)
OfferPage = page_of(OfferSchema, "OfferPage")
PlacementPage = page_of(PlacementSchema, "PlacementPage")

_OFFER = OfferSchema()
_PLACEMENT = PlacementSchema()


def dump_offer(user, offer, now, placement_id=None):
    """An offer for either side, with the referral shaped for the viewer (a disclosure, so audited)."""
    referral = db.session.get(Referral, offer.referral_id)
    track = db.session.get(Track, offer.track_id)
    program = db.session.get(Program, offer.program_id)
    if placement_id is None and offer.status == "accepted":
        placement_id = db.session.scalar(select(Placement.id).where(Placement.offer_id == offer.id))
    body = _OFFER.dump({
        "id": offer.id, "referral_id": offer.referral_id, "track_id": offer.track_id,
        "program_id": offer.program_id, "program_name": program.name, "track_name": track.name,
        "status": service.effective_status(offer, now), "expires_at": offer.expires_at,
        "created_at": offer.created_at, "created_by": offer.created_by, "decided_at": offer.decided_at,
        "decided_by": offer.decided_by, "decline_reason": offer.decline_reason, "decline_note": offer.decline_note,
        "intake_date": offer.intake_date, "placement_id": placement_id,
        "part2_notice": policy.part2_notice_for(user, referral),
    })
    body["referral"] = dump_referral(user, referral)
    audit.record("referral.read", "referral", referral.id)
    return body


def dump_placement(user, placement):
    referral = db.session.get(Referral, placement.referral_id)
    rows = placement_service.attendance_of(placement)
    return _PLACEMENT.dump({
        "id": placement.id, "referral_id": placement.referral_id, "offer_id": placement.offer_id,
        "track_id": placement.track_id, "program_id": placement.program_id, "intake_date": placement.intake_date,
        "status": placement.status, "outcome": placement.outcome, "discharged_at": placement.discharged_at,
        "created_at": placement.created_at, "referral_status": referral.status,
        "sessions_attended": sum(1 for r in rows if r.status == "attended"),
        "missed_in_a_row": placement_service.current_missed_run(rows), "attendance": rows,
        "part2_notice": policy.part2_notice_for(user, referral),
    })


# ---------------------------------------------------------------- offers


@blp.route("/referrals/<referral_id>/offers", methods=["POST"])
@require_roles("discharge_planner", "admin")
@blp.arguments(OfferInSchema)
@blp.response(201, OfferSchema)
@idempotent
def create_offer(data, referral_id):
    """Offer a track to a referral, holding one seat (the referring org's planners)."""
    user = current_user()
    referral = policy.get_referral(user, referral_id, "offer.create")
    policy.ensure_can_change_referral(user, referral, "offer.create")
    track = db.session.get(Track, data["track_id"])
    if track is None:
        raise ValidationFailed({"track_id": ["No track with this id."]})
    now = utcnow()
    with service.races_as_conflicts():
        offer = service.create_offer(user, referral.id, track, now)
    audit.record("offer.create", "offer", offer.id)
    return json_response(dump_offer(user, offer, now), 201,
                         {"Location": url_for("offers.get_offer", offer_id=offer.id)})


@blp.route("/offers", methods=["GET"])
@require_roles("discharge_planner", "iop_coordinator", "admin")
@blp.arguments(OfferListQuerySchema, location="query")
@blp.response(200, OfferPage)
def list_offers(args):
    """Offers you are a side of, oldest first: a coordinator's inbox with ?status=pending."""
    user = current_user()
    now = utcnow()
    query = select(Offer).where(policy.offer_visibility(user))
    status = args.get("status")
    if status == "pending":
        query = query.where(Offer.status == "pending", Offer.expires_at > now)
    elif status == "expired":
        query = query.where(or_(Offer.status == "expired", and_(Offer.status == "pending", Offer.expires_at <= now)))
    elif status:
        query = query.where(Offer.status == status)
    for key, column in (("referral_id", Offer.referral_id), ("program_id", Offer.program_id),
                        ("track_id", Offer.track_id)):
        if key in args:
            query = query.where(column == args[key])
    rows, cursor = keyset_page(query, [Offer.created_at, Offer.id], args)
    placements = dict(db.session.execute(
        select(Placement.offer_id, Placement.id).where(Placement.offer_id.in_([o.id for o in rows]))).all())
    items = []
    for offer in rows:
        audit.record("offer.list", "offer", offer.id)
        items.append(dump_offer(user, offer, now, placements.get(offer.id)))
    return json_response({"items": items, "next_cursor": cursor})


@blp.route("/offers/<offer_id>", methods=["GET"])
@require_roles("discharge_planner", "iop_coordinator", "admin")
@blp.response(200, OfferSchema)
def get_offer(offer_id):
    """One offer, for either side of it."""
    user = current_user()
    return json_response(dump_offer(user, policy.get_offer(user, offer_id), utcnow()))


@blp.route("/offers/<offer_id>/accept", methods=["POST"])
@require_roles("iop_coordinator", "admin")
@blp.arguments(AcceptInSchema)
@blp.response(200, OfferSchema)
@idempotent
def accept_offer(data, offer_id):
    """Accept with an intake date (the program's coordinators): the seat becomes occupied, the referral placed."""
    user = current_user()
    offer = policy.get_offer(user, offer_id, "offer.accept")
    policy.ensure_can_decide_offer(user, offer, "offer.accept")
    now = utcnow()
    with service.races_as_conflicts():
        offer, placement = service.accept_offer(user, offer.id, data["intake_date"], now)
    audit.record("placement.create", "placement", placement.id)
    return json_response(dump_offer(user, offer, now, placement.id))


@blp.route("/offers/<offer_id>/decline", methods=["POST"])
@require_roles("iop_coordinator", "admin")
@blp.arguments(DeclineInSchema)
@blp.response(200, OfferSchema)
def decline_offer(data, offer_id):
    """Decline with a coded reason (the program's coordinators); the seat is freed."""
    user = current_user()
    offer = policy.get_offer(user, offer_id, "offer.decline")
    policy.ensure_can_decide_offer(user, offer, "offer.decline")
    now = utcnow()
    with service.races_as_conflicts():
        offer = service.decline_offer(user, offer.id, data["reason"], data.get("note"), now)
    return json_response(dump_offer(user, offer, now))


@blp.route("/offers/<offer_id>/withdraw", methods=["POST"])
@require_roles("discharge_planner", "admin")
@blp.arguments(EmptyInSchema)
@blp.response(200, OfferSchema)
def withdraw_offer(data, offer_id):
    """Take an offer back (the referring org's planners); the seat is freed."""
    user = current_user()
    offer = policy.get_offer(user, offer_id, "offer.withdraw")
    policy.ensure_can_change_referral(user, db.session.get(Referral, offer.referral_id), "offer.withdraw")
    now = utcnow()
    with service.races_as_conflicts():
        offer = service.withdraw_offer(user, offer.id, now)
    return json_response(dump_offer(user, offer, now))


@blp.route("/referrals/<referral_id>/consent/revoke", methods=["POST"])
@require_roles("discharge_planner", "admin")
@blp.arguments(EmptyInSchema)
@blp.response(200, ReferralSchema)
def revoke_consent(data, referral_id):
    """Revoke the 42 CFR Part 2 consent: pending offers are withdrawn and their seats freed."""
    user = current_user()
    referral = policy.get_referral(user, referral_id, "referral.consent_revoke")
    policy.ensure_can_change_referral(user, referral, "referral.consent_revoke")
    with service.races_as_conflicts():
        referral = service.revoke_consent(user, referral.id, utcnow())
    return json_response(dump_referral(user, referral))


# ---------------------------------------------------------------- placements


@blp.route("/placements", methods=["GET"])
@blp.arguments(PlacementListQuerySchema, location="query")
@blp.response(200, PlacementPage)
def list_placements(args):
    """Placements you may see, oldest first (a coordinator's roster with ?status=active)."""
    user = current_user()
    query = select(Placement).where(policy.placement_visibility(user))
    for key, column in (("status", Placement.status), ("referral_id", Placement.referral_id),
                        ("program_id", Placement.program_id)):
        if key in args:
            query = query.where(column == args[key])
    rows, cursor = keyset_page(query, [Placement.created_at, Placement.id], args)
    for placement in rows:
        audit.record("placement.list", "placement", placement.id)
    return json_response({"items": [dump_placement(user, p) for p in rows], "next_cursor": cursor})


@blp.route("/placements/<placement_id>", methods=["GET"])
@blp.response(200, PlacementSchema)
def get_placement(placement_id):
    """One placement with its attendance."""
    user = current_user()
    return json_response(dump_placement(user, policy.get_placement(user, placement_id)))


@blp.route("/placements/<placement_id>/attendance", methods=["POST"])
@require_roles("iop_coordinator", "admin")
@blp.arguments(AttendanceInSchema)
@blp.response(201, AttendanceResultSchema)
@idempotent
def record_attendance(data, placement_id):
    """Record one session (the program's coordinators); the first attended one makes the referral attending."""
    user = current_user()
    placement = policy.get_placement(user, placement_id, "placement.attendance")
    policy.ensure_can_manage_placement(user, placement, "placement.attendance")
    with service.races_as_conflicts():
        row, lapse = placement_service.record_attendance(user, placement.id, data["date"], data["status"],
                                                         utcnow())
    body = AttendanceSchema().dump(row)
    referral = db.session.get(Referral, placement.referral_id)
    body.update(referral_status=referral.status, lapsed=lapse is not None,
                missed_in_a_row=placement_service.current_missed_run(placement_service.attendance_of(placement)))
    return json_response(body, 201, {"Location": url_for("offers.get_placement", placement_id=placement.id)})


@blp.route("/placements/<placement_id>/discharge", methods=["POST"])
@require_roles("iop_coordinator", "admin")
@blp.arguments(DischargeInSchema)
@blp.response(200, PlacementSchema)
def discharge_placement(data, placement_id):
    """End the placement with an outcome (the program's coordinators); frees the seat."""
    user = current_user()
    placement = policy.get_placement(user, placement_id, "placement.discharge")
    policy.ensure_can_manage_placement(user, placement, "placement.discharge")
    with service.races_as_conflicts():
        placement = placement_service.discharge(user, placement.id, data["outcome"], utcnow())
    return json_response(dump_placement(user, placement))


@blp.route("/referrals/<referral_id>/readmission", methods=["POST"])
@require_roles("discharge_planner", "case_manager", "admin")
@blp.arguments(ReadmissionInSchema)
@blp.response(201, ReadmissionSchema)
@idempotent
def record_readmission(data, referral_id):
    """Report a readmission (planner or case manager): days 0-2 a transfer, 3-30 a 30-day readmission."""
    user = current_user()
    referral = policy.get_referral(user, referral_id, "referral.readmission")
    policy.ensure_can_record_readmission(user, referral, "referral.readmission")
    with service.races_as_conflicts():
        row, days = placement_service.record_readmission(user, referral.id, data["date"], data.get("facility"),
                                                         utcnow())
    body = ReadmissionSchema().dump(row)
    body.update(days_after_discharge=days, referral_status=db.session.get(Referral, row.referral_id).status)
    return json_response(body, 201)
