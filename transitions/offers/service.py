"""Offers: seat holds decided by the database, parallel offers, accept/decline/withdraw, lazy expiry, auto-cascade."""

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from transitions.core.clock import local_today, rfc3339, utcnow
from transitions.core.db import db, is_race
from transitions.core.errors import Conflict, ValidationFailed
from transitions.directory import seats
from transitions.directory.models import WEEKDAYS, Track
from transitions.matching import engine as matching
from transitions.notify.events import record_event
from transitions.offers.ledger import add_seat_change, apply_seat_changes, lock_referral
from transitions.offers.models import Offer, Placement
from transitions.offers.queries import MAX_INTAKE_LEAD_DAYS, consent_blocker, effective_status, intake_window
from transitions.referrals.models import Referral
from transitions.referrals.states import OFFERABLE, ensure_transition, transition

log = logging.getLogger(__name__)

# How many ranked candidates an auto-cascade tries before giving up and requeueing the referral.
CASCADE_ATTEMPTS = 5
# How many ranked tracks to ask for: enough to get past tracks of programs already tried.
CASCADE_RANKED = 25


# ---------------------------------------------------------------- small helpers


def _max_pending():
    return int(current_app.config.get("MAX_PENDING_OFFERS", 3))


def offer_ttl():
    return timedelta(hours=float(current_app.config.get("OFFER_TTL_HOURS", 48)))


def _offer_data(offer, **extra):
    """Event payload: ids and codes only, never patient data (webhooks carry it)."""
    data = {
        "offer_id": offer.id,
        "referral_id": offer.referral_id,
        "track_id": offer.track_id,
        "program_id": offer.program_id,
    }
    data.update(extra)
    return data


# ---------------------------------------------------------------- closing offers


def _close(offer, status, now, actor=None, live_only=False, **values):
    """pending -> status with a conditional UPDATE; False if someone else closed it first (theirs to free the seat)."""
    conditions = [Offer.id == offer.id, Offer.status == "pending"]
    if live_only:
        conditions.append(Offer.expires_at > now)
    result = db.session.execute(
        update(Offer)
        .where(*conditions)
        .values(status=status, decided_at=now, decided_by=actor.id if actor is not None else None, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(offer)
    return result.rowcount == 1


def _pending_offers(referral_id):
    query = (
        select(Offer)
        .where(Offer.referral_id == referral_id, Offer.status == "pending")
        .order_by(Offer.created_at, Offer.id)
        .execution_options(populate_existing=True)
    )
    return db.session.scalars(query).all()


def _has_live_offer(referral_id, now):
    return db.session.scalar(
        select(exists().where(Offer.referral_id == referral_id, Offer.status == "pending", Offer.expires_at > now))
    )


def close_referral_offers(referral, now, actor=None, live_status=None, reason=None, changes=None):
    """Close a locked referral's pending offers: due ones expire; live ones become live_status (if given).

    Returns (changes, closed offers); the caller applies the seat changes.
    """
    changes = {} if changes is None else changes
    closed = []
    for offer in _pending_offers(referral.id):
        if offer.expires_at <= now:
            if _close(offer, "expired", now):
                add_seat_change(changes, offer.track_id, held=-1)
                record_event("offer.expired", referral=referral, subject=offer, data=_offer_data(offer))
                closed.append(offer)
        elif live_status is not None:
            if _close(offer, live_status, now, actor):
                add_seat_change(changes, offer.track_id, held=-1)
                record_event(
                    "offer.%s" % live_status,
                    referral=referral,
                    subject=offer,
                    actor=actor,
                    data=_offer_data(offer, reason=reason),
                )
                closed.append(offer)
    return changes, closed


def _expire_due_on_track(track_id, now, changes):
    """Expire other referrals' due offers on one track (no referral lock: only the offer rows and the seat).

    Their referrals are settled (requeued or cascaded) by their own next change or by the sweep.
    """
    due = db.session.scalars(
        select(Offer)
        .where(Offer.track_id == track_id, Offer.status == "pending", Offer.expires_at <= now)
        .order_by(Offer.id)
    ).all()
    expired = []
    for offer in due:
        if _close(offer, "expired", now):
            add_seat_change(changes, track_id, held=-1)
            record_event(
                "offer.expired",
                referral=db.session.get(Referral, offer.referral_id),
                subject=offer,
                data=_offer_data(offer),
            )
            expired.append(offer)
    return expired


# ---------------------------------------------------------------- rules shared by offer and accept


def _check_consent(referral, now):
    blocker = consent_blocker(referral, now)
    if blocker is not None:
        raise Conflict(blocker, extra={"current_status": referral.status, "rule": "part2_consent"})


def _check_offerable(referral):
    if referral.status not in OFFERABLE:
        ensure_transition(referral, "offered")


def _require_live(offer, now):
    status = effective_status(offer, now)
    if status != "pending":
        raise Conflict("This offer is %s; only a pending offer can change." % status, extra={"offer_status": status})


def check_intake_date(referral, track, intake_date, now):
    """An intake on one of the track's intake days, not before discharge or today (track time), not absurdly late."""
    day = WEEKDAYS[intake_date.weekday()]
    problems = []
    if day not in track.intake_days:
        problems.append(
            "%s is a %s; this track takes new patients on %s."
            % (intake_date.isoformat(), day, ", ".join(track.intake_days))
        )
    if intake_date < referral.discharge_date:
        problems.append("The intake cannot be before the discharge date %s." % referral.discharge_date.isoformat())
    today = local_today(track.timezone, now)
    if intake_date < today:
        problems.append("The intake cannot be in the past (today is %s in %s)." % (today.isoformat(), track.timezone))
    _, latest = intake_window(referral, track, now)
    if intake_date > latest:
        problems.append("The intake must be within %d days." % MAX_INTAKE_LEAD_DAYS)
    if problems:
        raise ValidationFailed({"intake_date": problems}, "The intake date does not fit the track.")


# ---------------------------------------------------------------- offer


def check_new_offer(referral, track, live, now):
    """Every rule an offer must pass before anything is written; `live` is the referral's live pending offers."""
    _check_offerable(referral)
    if track.program.unconfirmed:
        # Imported from the national directory: nobody has confirmed its schedule or seats (SPEC: a 409).
        raise Conflict(
            "This program is unconfirmed (imported from the national directory); it takes offers once its provider "
            "claims it and publishes a track.",
            extra={"program_id": track.program_id, "rule": "unconfirmed_program"},
        )
    _check_consent(referral, now)
    verdict = matching.evaluate(referral, track, now.date(), ignore_capacity=True)
    if not verdict.ok:
        error = ValidationFailed(
            {"track_id": list(verdict.reasons) or list(verdict.failed)},
            "The track fails the matching rules: %s." % ", ".join(verdict.failed),
        )
        error.extra = {"failed": list(verdict.failed)}
        raise error
    same_program = next((o for o in live if o.program_id == track.program_id), None)
    if same_program is not None:
        raise Conflict(
            "This referral already has a pending offer to this program.", extra={"offer_id": same_program.id}
        )
    if len(live) >= _max_pending():
        raise Conflict(
            "This referral already has %d pending offers, the most allowed at once." % len(live),
            extra={"pending_offers": [o.id for o in live]},
        )


def _make_offer(actor, referral, track, now, cascade_from=None):
    """Offer `track` to a locked referral: rules, limits, then one conditional seat hold; returns the offer."""
    check_new_offer(referral, track, [o for o in _pending_offers(referral.id) if o.expires_at > now], now)
    changes, _ = close_referral_offers(referral, now)
    _expire_due_on_track(track.id, now, changes)
    apply_seat_changes(changes, hold=track.id)
    offer = Offer(
        referral_id=referral.id,
        track_id=track.id,
        program_id=track.program_id,
        status="pending",
        expires_at=now + offer_ttl(),
        created_by=actor.id if actor is not None else None,
        created_at=now,
    )
    db.session.add(offer)
    db.session.flush()
    extra = {"cascade": True, "after_offer_id": cascade_from.id} if cascade_from is not None else {}
    if referral.status != "offered":
        transition(referral, "offered", actor, data=_offer_data(offer))
    record_event(
        "offer.created",
        referral=referral,
        subject=offer,
        actor=actor,
        data=_offer_data(offer, expires_at=rfc3339(offer.expires_at), **extra),
    )
    return offer


def create_offer(actor, referral_id, track, now=None):
    """Offer a track to a referral, holding one seat (the caller has checked the actor may change the referral)."""
    now = now or utcnow()
    referral = lock_referral(referral_id)
    offer = _make_offer(actor, referral, track, now)
    db.session.flush()
    return offer


# ---------------------------------------------------------------- settle and cascade


def _settle(referral, actor, now, cascade, summary=None):
    """A locked 'offered' referral with no live offer left cascades (if it may) or goes back to submitted."""
    if referral.status != "offered" or _has_live_offer(referral.id, now):
        return None
    if cascade and referral.auto_cascade:
        offer = _cascade(referral, now)
        if offer is not None:
            if summary is not None:
                summary["cascaded"].append(offer.id)
            return offer
    transition(
        referral,
        "submitted",
        actor,
        event_type="referral.requeued",
        data={"referral_id": referral.id, "auto_cascade": bool(referral.auto_cascade)},
    )
    if summary is not None:
        summary["requeued"].append(referral.id)
    return None


def _ranked_track_ids(referral, now, limit):
    """Track ids of the best matches, best first; empty when the ranking fails."""
    try:
        # A savepoint, so a failing ranking costs the cascade, never the decline or expiry that asked for it.
        with db.session.begin_nested():
            result = matching.ranked_matches(referral, limit, now.date())
    except Exception:
        log.exception("auto-cascade could not rank matches for referral %s", referral.id)
        return []
    return [verdict.track.track_id for verdict in result.items]


def _cascade(referral, now):
    """Offer the next best match no program has been offered before; each attempt in a savepoint."""
    if consent_blocker(referral, now) is not None:
        return None
    tried_programs = set(db.session.scalars(select(Offer.program_id).where(Offer.referral_id == referral.id)))
    last = db.session.scalars(
        select(Offer)
        .where(Offer.referral_id == referral.id, Offer.decided_at.is_not(None))
        .order_by(Offer.decided_at.desc(), Offer.id)
    ).first()
    attempts = 0
    for track_id in _ranked_track_ids(referral, now, CASCADE_RANKED):
        track = db.session.get(Track, track_id)
        if track is None or track.program_id in tried_programs:
            continue
        attempts += 1
        try:
            with db.session.begin_nested():
                return _make_offer(None, referral, track, now, cascade_from=last)
        except (Conflict, ValidationFailed) as error:
            log.info("auto-cascade skipped track %s: %s", track_id, error.detail)
        except (IntegrityError, OperationalError) as error:
            if not is_race(error):
                raise
            log.info("auto-cascade lost a race on track %s", track_id)
            return None
        if attempts >= CASCADE_ATTEMPTS:
            break
    return None


# ---------------------------------------------------------------- accept, decline, withdraw


def _locked_offer(offer_id):
    """The offer with its referral locked, re-read after the lock so a racing change is seen."""
    offer = db.session.get(Offer, offer_id)
    referral = lock_referral(offer.referral_id)
    db.session.refresh(offer)
    return offer, referral


def accept_offer(actor, offer_id, intake_date, now=None):
    """Accept: held seat becomes occupied, a placement is made, the referral's other pending offers are withdrawn."""
    now = now or utcnow()
    offer, referral = _locked_offer(offer_id)
    _require_live(offer, now)
    ensure_transition(referral, "placed")
    _check_consent(referral, now)
    track = db.session.get(Track, offer.track_id)
    check_intake_date(referral, track, intake_date, now)
    if not _close(offer, "accepted", now, actor, live_only=True, intake_date=intake_date):
        raise Conflict("This offer is no longer pending.", extra={"offer_status": effective_status(offer, now)})
    record_event("offer.accepted", referral=referral, subject=offer, actor=actor, data=_offer_data(offer))
    changes = {}
    add_seat_change(changes, offer.track_id, held=-1, occupied=1)
    # The other offers are withdrawn by the system, not by the coordinator who accepted (who may not even see them).
    close_referral_offers(referral, now, None, live_status="withdrawn", reason="accepted_elsewhere", changes=changes)
    apply_seat_changes(changes)
    # A coordinator accepting knows the seat is there: the track's seat count counts as confirmed now.
    seats.mark_confirmed(offer.track_id, now)
    placement = Placement(
        referral_id=referral.id,
        offer_id=offer.id,
        track_id=offer.track_id,
        program_id=offer.program_id,
        intake_date=intake_date,
        status="active",
        created_at=now,
    )
    db.session.add(placement)
    db.session.flush()
    transition(referral, "placed", actor, data=_offer_data(offer, placement_id=placement.id))
    db.session.flush()
    return offer, placement


def _end_live_offer(actor, offer_id, now, status, reason, cascade, **values):
    """Close one live offer as `status`, free its seat, then settle the referral (cascading if asked)."""
    offer, referral = _locked_offer(offer_id)
    _require_live(offer, now)
    if not _close(offer, status, now, actor, live_only=True, **values):
        raise Conflict("This offer is no longer pending.", extra={"offer_status": effective_status(offer, now)})
    record_event(
        "offer.%s" % status, referral=referral, subject=offer, actor=actor, data=_offer_data(offer, reason=reason)
    )
    changes = {}
    add_seat_change(changes, offer.track_id, held=-1)
    close_referral_offers(referral, now, changes=changes)
    apply_seat_changes(changes)
    _settle(referral, actor, now, cascade=cascade)
    db.session.flush()
    return offer


def decline_offer(actor, offer_id, reason, note=None, now=None):
    """Decline with a coded reason; frees the seat; the referral cascades or is requeued if no offer is left."""
    return _end_live_offer(
        actor, offer_id, now or utcnow(), "declined", reason, cascade=True, decline_reason=reason, decline_note=note
    )


def withdraw_offer(actor, offer_id, now=None):
    """The planner takes an offer back; frees the seat; no cascade (the planner chose this)."""
    return _end_live_offer(actor, offer_id, now or utcnow(), "withdrawn", "withdrawn_by_planner", cascade=False)


def revoke_consent(actor, referral_id, now=None):
    """Revoke the Part 2 consent and withdraw every pending offer (freeing their seats); revoking twice is a no-op."""
    now = now or utcnow()
    referral = lock_referral(referral_id)
    if referral.consent_signed_on is None:
        raise Conflict(
            "This referral has no Part 2 consent on file to revoke.", extra={"current_status": referral.status}
        )
    if referral.consent_revoked_at is not None:
        return referral
    referral.consent_revoked_at = now
    record_event(
        "referral.consent_revoked", referral=referral, subject=referral, actor=actor, data={"referral_id": referral.id}
    )
    changes, _ = close_referral_offers(referral, now, actor, live_status="withdrawn", reason="consent_revoked")
    apply_seat_changes(changes)
    _settle(referral, actor, now, cascade=False)
    db.session.flush()
    return referral


# ---------------------------------------------------------------- durable expiry (the sweep)


class ExpirySummary:
    """What an expiry sweep did: the offers it expired, the offers cascading made, the referrals it requeued (ids)."""

    def __init__(self):
        self.expired = []
        self.cascaded = []
        self.requeued = []

    def __str__(self):
        return "expired %d offers, cascaded %d, requeued %d referrals" % (
            len(self.expired),
            len(self.cascaded),
            len(self.requeued),
        )


def expire_due_offers(now=None):
    """Make expiry durable: due offers become expired, their seats are freed, their referrals cascade or requeue.

    Called by the scheduler and `flask sweep`; reads and writes already treat due offers as
    expired without it. Also settles referrals left 'offered' after another request expired
    their last offer. A referral locked by a running request is skipped (that request or the
    next sweep settles it). Does not commit. Returns an ExpirySummary.
    """
    now = now or utcnow()
    live = exists().where(Offer.referral_id == Referral.id, Offer.status == "pending", Offer.expires_at > now)
    due = set(
        db.session.scalars(
            select(Offer.referral_id).where(Offer.status == "pending", Offer.expires_at <= now).distinct()
        )
    )
    stranded = set(db.session.scalars(select(Referral.id).where(Referral.status == "offered", ~live)))
    summary = ExpirySummary()
    for referral_id in sorted(due | stranded):
        step = {"expired": [], "cascaded": [], "requeued": []}
        try:
            with db.session.begin_nested():
                referral = lock_referral(referral_id, skip_locked=True)
                if referral is None:
                    continue
                changes, closed = close_referral_offers(referral, now)
                apply_seat_changes(changes)
                step["expired"] = [offer.id for offer in closed]
                _settle(referral, None, now, cascade=True, summary=step)
        except (IntegrityError, OperationalError) as error:
            if not is_race(error):
                raise
            log.info("sweep lost a race on referral %s; the next sweep retries it", referral_id)
            continue
        summary.expired.extend(step["expired"])
        summary.cascaded.extend(step["cascaded"])
        summary.requeued.extend(step["requeued"])
    db.session.flush()
    return summary
