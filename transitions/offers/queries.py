"""Offer and placement reads: an offer's effective status, the consent gate and intake window as reads, a
placement's attendance and missed run, and how a readmission is classed."""

from datetime import timedelta

from sqlalchemy import select

from transitions.core.clock import local_today
from transitions.core.db import db
from transitions.offers.models import Attendance

# An intake further out than this is almost certainly a typo, and it would sit on an occupied seat.
MAX_INTAKE_LEAD_DAYS = 90
# Days after discharge: 0-2 counts as a transfer, 3-30 as a 30-day readmission (the CMS psychiatric measure).
TRANSFER_DAYS = 2
READMISSION_WINDOW_DAYS = 30


# ---------------------------------------------------------------- offers


def is_expired(offer, now):
    return offer.status == "pending" and offer.expires_at <= now


def effective_status(offer, now):
    """What every read reports: a pending offer past expires_at is expired, swept or not."""
    return "expired" if is_expired(offer, now) else offer.status


def consent_blocker(referral, now):
    """Why the Part 2 consent gate keeps this referral from being offered or placed now, or None if it does not."""
    if referral.is_substance_use and not referral.consent_current_on(now.date()):
        return (
            "A %s referral needs a current 42 CFR Part 2 consent (signed, unexpired, not revoked) before it "
            "can be offered or placed." % referral.need
        )
    return None


def intake_window(referral, track, now):
    """(first, last) day a new patient can start on this track: not before discharge or today (track time), and
    at most MAX_INTAKE_LEAD_DAYS after that; which days in between are the track's intake days is the caller's."""
    first = max(referral.discharge_date, local_today(track.timezone, now))
    return first, first + timedelta(days=MAX_INTAKE_LEAD_DAYS)


# ---------------------------------------------------------------- placements


def attendance_of(placement):
    return db.session.scalars(
        select(Attendance).where(Attendance.placement_id == placement.id).order_by(Attendance.session_date)
    ).all()


def sessions_attended(rows):
    return sum(1 for row in rows if row.status == "attended")


def current_missed_run(rows):
    """Missed sessions since the last attended one (excused ones skipped): what a coordinator watches."""
    count = 0
    for row in reversed(rows):
        if row.status == "attended":
            break
        if row.status == "missed":
            count += 1
    return count


def readmission_class(days_after_discharge):
    if days_after_discharge <= TRANSFER_DAYS:
        return "transfer"
    if days_after_discharge <= READMISSION_WINDOW_DAYS:
        return "readmission_30"
    return "later"
