"""Offer and placement reads: the audited lists (GET /offers and the coordinator's inbox, GET /placements and the
roster), an offer's effective status, the consent gate and intake window as reads, a placement's attendance and missed
run, and how a readmission is classed."""

from datetime import timedelta

from sqlalchemy import and_, exists, or_, select

from transitions import policy
from transitions.adt.models import AdtMessage
from transitions.core import audit
from transitions.core.clock import local_today
from transitions.core.db import db
from transitions.core.pagination import keyset_page
from transitions.directory.models import WEEKDAYS, Track
from transitions.discharges.models import Discharge
from transitions.offers.models import Attendance, Offer, Placement
from transitions.referrals.models import Referral

# An intake further out than this is almost certainly a typo, and it would sit on an occupied seat.
MAX_INTAKE_LEAD_DAYS = 90
# The orders the lists come in: GET /offers oldest first; the inbox's live offers soonest to expire first.
CREATED_ORDER = (Offer.created_at, Offer.id)
EXPIRY_ORDER = (Offer.expires_at, Offer.id)
# The inbox shows this many live offers at most, and this many of the latest decided ones.
INBOX_LIMIT = 200
RECENT_DECIDED = 15
# The roster reads this many active placements at most.
ROSTER_LIMIT = 500
# Days after discharge: 0-2 counts as a transfer, 3-30 as a 30-day readmission (the CMS psychiatric measure).
TRANSFER_DAYS = 2
READMISSION_WINDOW_DAYS = 30
# Referrals an admission may be a readmission of: not cancelled, not already readmitted.
READMITTABLE = ("submitted", "offered", "placed", "attending", "completed", "dropped_out", "no_match")
# Referrals whose patient has certainly left the hospital: they attend, or attended, the IOP.
LEFT_THE_HOSPITAL = ("attending", "completed", "dropped_out")
# The triggers of a discharge message: an HL7 ADT^A03, a FHIR discharge notification.
DISCHARGE_TRIGGERS = ("A03", "discharge")


def discharge_happened(referral_id):
    """A clause: the referral's discharge is one the facility reported, not only planned: a discharge message was
    applied to it (its stored row says so; within a listener batch, before the batch writes its rows, the batch's memo
    does: adt.feed.DISCHARGED), or it adopted a discharge without referral the feed recorded."""
    applied_message = select(AdtMessage.id).where(
        AdtMessage.referral_id == referral_id,
        AdtMessage.state == "processed",
        AdtMessage.trigger.in_(DISCHARGE_TRIGGERS),
    )
    adopted = select(Discharge.id).where(Discharge.adopted_by_referral_id == referral_id)
    return or_(exists(applied_message), exists(adopted))


# ---------------------------------------------------------------- offers


def visible_offers(user, filters, now):
    """The offers this user is a side of, filtered on effective status, referral, program and track, as a query."""
    query = select(Offer).where(policy.offer_visibility(user))
    status = filters.get("status")
    if status == "pending":
        query = query.where(Offer.status == "pending", Offer.expires_at > now)
    elif status == "expired":
        query = query.where(or_(Offer.status == "expired", and_(Offer.status == "pending", Offer.expires_at <= now)))
    elif status:
        query = query.where(Offer.status == status)
    return _where_equal(
        query, filters, referral_id=Offer.referral_id, program_id=Offer.program_id, track_id=Offer.track_id
    )


def _where_equal(query, filters, **columns):
    """query narrowed, for each filter given of these names, to the rows whose column equals its value."""
    for key, column in columns.items():
        if key in filters:
            query = query.where(column == filters[key])
    return query


def list_offers(user, filters, now, order=CREATED_ORDER):
    """One keyset page of the offers this user is a side of (GET /offers and the inbox): (offers, placement id by
    offer id, next cursor). Each listed offer is audited (offer.list); showing its patient is the caller's
    disclosure to audit."""
    rows, cursor = keyset_page(visible_offers(user, filters, now), list(order), filters)
    placement_ids = dict(
        db.session.execute(
            select(Placement.offer_id, Placement.id).where(Placement.offer_id.in_([o.id for o in rows]))
        ).all()
    )
    for offer in rows:
        audit.record("offer.list", "offer", offer.id, user=user)
    return rows, placement_ids, cursor


def inbox(user, now):
    """A coordinator's inbox: the live offers soonest to expire first (GET /offers?status=pending in expiry order)
    and the latest decided ones, each as {offer, referral, track, program}. Listing an offer is audited (offer.list),
    and so is showing its patient (referral.read)."""
    pending, _, _ = list_offers(user, {"status": "pending", "limit": INBOX_LIMIT}, now, EXPIRY_ORDER)
    decided = db.session.scalars(
        select(Offer)
        .where(policy.offer_visibility(user), Offer.status != "pending")
        .order_by(Offer.decided_at.desc(), Offer.id)
        .limit(RECENT_DECIDED)
    ).all()
    for offer in decided:
        audit.record("offer.list", "offer", offer.id, user=user)
    return [_with_patient(user, o) for o in pending], [_with_patient(user, o) for o in decided]


def _with_patient(user, offer):
    referral = db.session.get(Referral, offer.referral_id)
    track = db.session.get(Track, offer.track_id)
    audit.record("referral.read", "referral", referral.id, user=user)
    return {"offer": offer, "referral": referral, "track": track, "program": track.program}


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


def intake_days(referral, track, now, count):
    """The next `count` dates a new patient can start on this track: its intake days within the intake window."""
    first, last = intake_window(referral, track, now)
    days, day = [], first
    while day <= last and len(days) < count:
        if WEEKDAYS[day.weekday()] in track.intake_days:
            days.append(day)
        day += timedelta(days=1)
    return days


# ---------------------------------------------------------------- placements


def visible_placements(user, filters):
    """The placements this user may see, filtered on status, referral and program, as a query."""
    query = select(Placement).where(policy.placement_visibility(user))
    return _where_equal(
        query, filters, status=Placement.status, referral_id=Placement.referral_id, program_id=Placement.program_id
    )


def list_placements(user, filters):
    """One keyset page of the placements this user may see, oldest first: (placements, next cursor); each listed
    placement is audited (placement.list)."""
    rows, cursor = keyset_page(visible_placements(user, filters), [Placement.created_at, Placement.id], filters)
    for placement in rows:
        audit.record("placement.list", "placement", placement.id, user=user)
    return rows, cursor


def roster(user, day, now):
    """The active placements with a session on `day` (None: each track's own today), grouped by track, earliest
    session first: [{track, program, day, sessions, patients}], each patient with the day's attendance and the
    counts a coordinator watches. Each placement shown is audited (placement.list), and so is its patient's name
    (referral.read)."""
    placements = db.session.scalars(
        visible_placements(user, {"status": "active"}).order_by(Placement.intake_date, Placement.id).limit(ROSTER_LIMIT)
    ).all()
    tracks = (
        {t.id: t for t in db.session.scalars(select(Track).where(Track.id.in_({p.track_id for p in placements})))}
        if placements
        else {}
    )
    groups = {}
    for placement in placements:
        track = tracks[placement.track_id]
        session_day = day or local_today(track.timezone, now)
        sessions = [s for s in track.sessions if s["day"] == WEEKDAYS[session_day.weekday()]]
        if not sessions or placement.intake_date > session_day:
            continue
        audit.record("placement.list", "placement", placement.id, user=user)
        referral = db.session.get(Referral, placement.referral_id)
        audit.record("referral.read", "referral", referral.id, user=user)  # the roster shows the name
        rows = attendance_of(placement)
        group = groups.setdefault(
            track.id,
            {"track": track, "program": track.program, "day": session_day, "sessions": sessions, "patients": []},
        )
        group["patients"].append(
            {
                "placement": placement,
                "name": "%s %s" % (referral.given_name, referral.family_name),
                "referral_status": referral.status,
                "today": next((r for r in rows if r.session_date == session_day), None),
                "first_day": placement.intake_date == session_day,
                "attended": sessions_attended(rows),
                "missed_in_a_row": current_missed_run(rows),
            }
        )
    return sorted(
        groups.values(), key=lambda grp: (grp["sessions"][0]["start"], grp["program"].name, grp["track"].name)
    )


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
