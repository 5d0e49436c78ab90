"""The matching use cases: ranked matches for one referral, and the allocation of many to open seats."""

from dataclasses import dataclass, field

from sqlalchemy import select

from transitions import policy
from transitions.core import audit
from transitions.core.db import db, races_as_conflicts
from transitions.matching import allocation, engine
from transitions.offers.models import Offer
from transitions.referrals.models import Referral
from transitions.referrals.states import WAITING


def find_matches(actor, referral_id, limit, include_excluded, now):
    """The best `limit` tracks for a referral the actor may see, with exclusion counts and, on request, near misses."""
    referral = policy.get_referral(actor, referral_id, "referral.match")
    policy.FIND_MATCHES.require(actor, referral)
    return engine.ranked_matches(referral, limit, now.date(), include_excluded=include_excluded)


@dataclass
class AllocationRun:
    """What one allocation did: its plan, how many referrals it considered, offers made, and who was left out why."""

    plan: allocation.Plan
    applied: bool
    considered: int
    offer_ids: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)


def waiting_referrals(actor, referral_ids):
    """The actor's visible referrals that wait for a seat (submitted or no_match, no pending offer), and
    {referral_id: why not} for each asked-for id that is not one of them."""
    has_pending_offer = select(Offer.id).where(Offer.referral_id == Referral.id, Offer.status == "pending").exists()
    query = select(Referral).where(policy.referral_visibility(actor), Referral.status.in_(WAITING), ~has_pending_offer)
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


def allocate(actor, referral_ids, apply, now):
    """Assign waiting referrals (all the actor sees, or these ids) to open seats: the most placements, then the
    best total score; with apply, make the offers, one refusal not undoing the others."""
    policy.ALLOCATE.require(actor)
    referrals, errors = waiting_referrals(actor, referral_ids)
    referrals, blocked = allocation.offerable(referrals, now)
    errors.update(blocked)
    plan = allocation.allocate(referrals, now.date())
    run = AllocationRun(plan=plan, applied=apply, considered=len(referrals), errors=errors)
    if apply:
        with races_as_conflicts():
            run.offer_ids, refused = allocation.apply_plan(actor, plan, now)
        errors.update(refused)
        # As a single offer is audited (offers.commands.send_offer): one offer.create row per offer made.
        for offer_id in run.offer_ids.values():
            audit.record("offer.create", "offer", offer_id, user=actor)
    return run
