"""The offer and placement use cases, one command each: lookup with visibility, permission, the change, and audit.

Every entry point (API views, pages, any later one) calls these with plain values. Each command looks its
object up first (another organization's object is an audited 404), then asks the policy (an audited 403), then
lets the service make the change under the referral lock, a lost database race answering 409.
"""

from sqlalchemy import select

from transitions import policy
from transitions.core import audit
from transitions.core.db import db, races_as_conflicts
from transitions.core.errors import Conflict, ValidationFailed
from transitions.directory.models import Track
from transitions.offers import placements, service
from transitions.offers.ledger import lock_referral
from transitions.offers.queries import LEFT_THE_HOSPITAL, READMITTABLE, discharge_happened
from transitions.referrals.models import Referral

# ---------------------------------------------------------------- what each command acts on


def offer_to_decide(actor, offer_id, action="offer.accept"):
    """The offer a coordinator accepts or declines: an audited 404 unless visible, an audited 403 unless theirs."""
    offer = policy.get_offer(actor, offer_id, action)
    policy.DECIDE_OFFER.require(actor, offer, action=action)
    return offer


def placement_to_manage(actor, placement_id, action="placement.attendance"):
    """The placement whose attendance or discharge a coordinator records, checked as offer_to_decide checks."""
    placement = policy.get_placement(actor, placement_id, action)
    policy.MANAGE_PLACEMENT.require(actor, placement, action=action)
    return placement


# ---------------------------------------------------------------- offers


def send_offer(actor, referral_id, track_id, now):
    """Offer a track to a referral, holding one seat (the referring organization's planners)."""
    referral = policy.get_referral(actor, referral_id, "offer.create")
    policy.SEND_OFFER.require(actor, referral)
    track = db.session.get(Track, track_id)
    if track is None:
        raise ValidationFailed({"track_id": ["No track with this id."]})
    with races_as_conflicts():
        offer = service.create_offer(actor, referral.id, track, now)
    audit.record("offer.create", "offer", offer.id, user=actor)
    return offer


def accept_offer(actor, offer_id, intake_date, now):
    """Accept with an intake date: the held seat becomes occupied, the referral placed; returns (offer, placement)."""
    offer = offer_to_decide(actor, offer_id, "offer.accept")
    with races_as_conflicts():
        offer, placement = service.accept_offer(actor, offer.id, intake_date, now)
    audit.record("placement.create", "placement", placement.id, user=actor)
    return offer, placement


def decline_offer(actor, offer_id, reason, note, now):
    """Decline with a coded reason: the seat is freed and the referral cascades or goes back to the queue."""
    offer = offer_to_decide(actor, offer_id, "offer.decline")
    with races_as_conflicts():
        return service.decline_offer(actor, offer.id, reason, note, now)


def withdraw_offer(actor, offer_id, now):
    """The referring organization's planner takes an offer back; the seat is freed."""
    offer = policy.get_offer(actor, offer_id, "offer.withdraw")
    policy.WITHDRAW_OFFER.require(actor, db.session.get(Referral, offer.referral_id))
    with races_as_conflicts():
        return service.withdraw_offer(actor, offer.id, now)


def revoke_consent(actor, referral_id, now):
    """Revoke the 42 CFR Part 2 consent: pending offers are withdrawn and their seats freed."""
    referral = policy.get_referral(actor, referral_id, "referral.consent_revoke")
    policy.REVOKE_CONSENT.require(actor, referral)
    with races_as_conflicts():
        return service.revoke_consent(actor, referral.id, now)


# ---------------------------------------------------------------- placements


def record_attendance(actor, placement_id, day, status, now):
    """Record one session; returns (attendance row, the attendance.lapsed event it started or None)."""
    placement = placement_to_manage(actor, placement_id, "placement.attendance")
    with races_as_conflicts():
        return placements.record_attendance(actor, placement.id, day, status, now)


def discharge_placement(actor, placement_id, outcome, now):
    """End a placement with an outcome; the seat is freed and the referral moves on."""
    placement = placement_to_manage(actor, placement_id, "placement.discharge")
    with races_as_conflicts():
        return placements.discharge(actor, placement.id, outcome, now)


def record_readmission(actor, referral_id, admitted_on, facility, now):
    """Report a readmission (planner or case manager); returns (readmission row, days after discharge)."""
    referral = policy.get_referral(actor, referral_id, "referral.readmission")
    policy.RECORD_READMISSION.require(actor, referral)
    with races_as_conflicts():
        return placements.record_readmission(actor, referral.id, admitted_on, facility, now)


def record_reported_admission(feed, referral_id, report, now):
    """A readmission another organization's ADT feed reports: its admission of the plan member this referral is for
    (the feed matched them by patient and coverage; report, a discharges.commands.ReportedAdmission, is checked
    again here under the referral's lock, and the referral's discharge must be one that happened, not one planned).
    Returns (readmission row, days after discharge). The feed cannot read the referral: the lookup is by the id its
    match found, the policy allows feeds only, and the act is audited as the feed's. The readmission, its events and
    the ended placement name no actor and no facility, so the admitting organization stays unnamed."""
    with races_as_conflicts():
        referral = lock_referral(referral_id)
        if referral is None or not reported_discharge_matches(referral, report):
            raise Conflict("The referral no longer matches the reported admission.")
        policy.REPORT_ADMISSION.require(feed, referral)
        audit.record("referral.readmission", "referral", referral.id, user=feed)
        return placements.record_readmission(None, referral.id, report.admitted_on, None, now, report.admitting_today)


def reported_discharge_matches(referral, report):
    """Whether a referral is the member's discharge elsewhere that report names: readmittable, its discharge one that
    happened (the patient attends or attended the IOP, or the facility's feed reported the discharge), and the
    patient, coverage and window of the report."""
    if referral.status not in READMITTABLE or not report.matches(referral):
        return False
    if referral.status in LEFT_THE_HOSPITAL or referral.id in report.reported_discharges:
        return True
    return bool(db.session.scalar(select(discharge_happened(referral.id))))
