"""Offers, placements, attendance and readmissions as one viewer may see them, shaped through their schemas."""

from sqlalchemy import select

from transitions import policy
from transitions.core import audit
from transitions.core.db import db
from transitions.directory.models import Program, Track
from transitions.offers import queries
from transitions.offers.models import Placement
from transitions.offers.schemas import AttendanceResultSchema, OfferSchema, PlacementSchema, ReadmissionSchema
from transitions.referrals import present as referrals_present
from transitions.referrals.models import Referral

_OFFER = OfferSchema()
_PLACEMENT = PlacementSchema()
_ATTENDANCE_RESULT = AttendanceResultSchema()
_READMISSION = ReadmissionSchema()


def offer(user, offer, now, placement_id=None):
    """An offer for either side, with the referral shaped for the viewer (a disclosure, so audited)."""
    referral = db.session.get(Referral, offer.referral_id)
    track = db.session.get(Track, offer.track_id)
    program = db.session.get(Program, offer.program_id)
    if placement_id is None and offer.status == "accepted":
        placement_id = db.session.scalar(select(Placement.id).where(Placement.offer_id == offer.id))
    body = _OFFER.dump(
        {
            "id": offer.id,
            "referral_id": offer.referral_id,
            "track_id": offer.track_id,
            "program_id": offer.program_id,
            "program_name": program.name,
            "track_name": track.name,
            "status": queries.effective_status(offer, now),
            "expires_at": offer.expires_at,
            "created_at": offer.created_at,
            "created_by": offer.created_by,
            "decided_at": offer.decided_at,
            "decided_by": offer.decided_by,
            "decline_reason": offer.decline_reason,
            "decline_note": offer.decline_note,
            "intake_date": offer.intake_date,
            "placement_id": placement_id,
            "referral": referrals_present.referral(user, referral),
            "part2_notice": policy.part2_notice_for(user, referral),
        }
    )
    audit.record("referral.read", "referral", referral.id, user=user)
    return body


def placement(user, placement):
    """A placement with its attendance and where its referral stands."""
    referral = db.session.get(Referral, placement.referral_id)
    rows = queries.attendance_of(placement)
    return _PLACEMENT.dump(
        {
            "id": placement.id,
            "referral_id": placement.referral_id,
            "offer_id": placement.offer_id,
            "track_id": placement.track_id,
            "program_id": placement.program_id,
            "intake_date": placement.intake_date,
            "status": placement.status,
            "outcome": placement.outcome,
            "discharged_at": placement.discharged_at,
            "created_at": placement.created_at,
            "referral_status": referral.status,
            "sessions_attended": queries.sessions_attended(rows),
            "missed_in_a_row": queries.current_missed_run(rows),
            "attendance": rows,
            "part2_notice": policy.part2_notice_for(user, referral),
        }
    )


def attendance_result(row, lapse):
    """One recorded session, with what it did: the referral's status, the missed run and whether it lapsed."""
    placement = db.session.get(Placement, row.placement_id)
    return _ATTENDANCE_RESULT.dump(
        {
            "id": row.id,
            "placement_id": row.placement_id,
            "session_date": row.session_date,
            "status": row.status,
            "recorded_by": row.recorded_by,
            "created_at": row.created_at,
            "referral_status": db.session.get(Referral, placement.referral_id).status,
            "missed_in_a_row": queries.current_missed_run(queries.attendance_of(placement)),
            "lapsed": lapse is not None,
        }
    )


def readmission(row, days_after_discharge):
    """A recorded readmission, its class and where it left the referral."""
    return _READMISSION.dump(
        {
            "id": row.id,
            "referral_id": row.referral_id,
            "admitted_on": row.admitted_on,
            "facility": row.facility,
            "classification": row.classification,
            "days_after_discharge": days_after_discharge,
            "referral_status": db.session.get(Referral, row.referral_id).status,
            "created_at": row.created_at,
        }
    )
