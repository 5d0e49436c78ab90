"""Applying an allocation plan: many offers in one batch, with the single offer's checks, locks and seat holds, in a
few multi-row statements."""

from collections import defaultdict

from sqlalchemy import insert, or_, select, update

from transitions.core.clock import rfc3339, utcnow
from transitions.core.db import db
from transitions.core.errors import DomainError
from transitions.core.types import new_id
from transitions.notify.events import event_values
from transitions.notify.models import Event
from transitions.offers.ledger import add_seat_change, add_seats_in_bulk, lock_referrals, lock_tracks
from transitions.offers.models import Offer
from transitions.offers.service import check_new_offer, offer_ttl
from transitions.referrals.states import ensure_transition


def _due_offers_to_close(referral_ids, track_ids, now):
    """Pending offers past expiry of these referrals or on these tracks, locked in id order (as the one-by-one
    path closes them), so a racing change to the same offer waits instead of deadlocking."""
    if not referral_ids and not track_ids:
        return []
    return db.session.execute(
        select(Offer.id, Offer.referral_id, Offer.track_id, Offer.program_id)
        .where(
            Offer.status == "pending",
            Offer.expires_at <= now,
            or_(Offer.referral_id.in_(sorted(referral_ids)), Offer.track_id.in_(sorted(track_ids))),
        )
        .order_by(Offer.id)
        .with_for_update()
    ).all()


def create_offers(actor, pairs, now=None):
    """Offer many (referral_id, track) pairs in one go, with create_offer's rules, locks and seat holds.

    Every referral is locked first (in id order), then every track it touches (in id order); each pair is checked
    as create_offer checks it and the seats are counted under the track locks, so no track is ever oversold and a
    refused pair changes nothing. The writes are a few multi-row statements: due offers closed, seat counters,
    offers, referral states, events. Tracks come loaded with their programs; one pair per referral.
    Returns ({referral_id: offer_id}, {referral_id: why it was not offered}).
    """
    now = now or utcnow()
    referral_ids = [referral_id for referral_id, _ in pairs]
    if len(set(referral_ids)) != len(referral_ids):
        raise ValueError("create_offers takes one pair per referral")
    referrals = lock_referrals(referral_ids)
    pending = defaultdict(list)
    for offer in db.session.scalars(
        select(Offer)
        .where(Offer.referral_id.in_(sorted(referrals)), Offer.status == "pending")
        .order_by(Offer.created_at, Offer.id)
        .execution_options(populate_existing=True)
    ):
        pending[offer.referral_id].append(offer)

    refused, checked = {}, []
    for referral_id, track in pairs:
        referral = referrals.get(referral_id)
        if referral is None:
            refused[referral_id] = "No such referral."
            continue
        try:
            check_new_offer(referral, track, [o for o in pending[referral_id] if o.expires_at > now], now)
        except DomainError as error:
            refused[referral_id] = error.detail
            continue
        checked.append((referral, track))

    # Seats, under the track locks: a track's open seats are what its due holds free plus what it had open.
    due = _due_offers_to_close({r.id for r, _ in checked}, {t.id for _, t in checked}, now)
    counters = lock_tracks({t.id for _, t in checked} | {row.track_id for row in due})
    freed = defaultdict(int)
    for row in due:
        freed[row.track_id] += 1
    open_seats = {
        track_id: capacity - occupied - held + freed[track_id]
        for track_id, (capacity, occupied, held) in counters.items()
    }
    # Plain ids from here on: the seat update expires loaded tracks, and reading one again would cost a query each.
    granted = []
    for referral, track in checked:
        if open_seats.get(track.id, 0) > 0:
            open_seats[track.id] -= 1
            granted.append((referral, track.id, track.program_id))
        else:
            refused[referral.id] = "No open seat on this track."
    if not granted:
        return {}, refused

    # What create_offer would have closed: the offered referrals' due offers and the due offers on the tracks
    # that take a hold (a refused pair closes nothing, as its savepoint would have rolled back).
    offered_referrals = {r.id for r, _, _ in granted}
    holding_tracks = {track_id for _, track_id, _ in granted}
    closing = [row for row in due if row.referral_id in offered_referrals or row.track_id in holding_tracks]
    changes = {}
    events = []
    if closing:
        db.session.execute(
            update(Offer)
            .where(Offer.id.in_([row.id for row in closing]), Offer.status == "pending")
            .values(status="expired", decided_at=now, decided_by=None)
            .execution_options(synchronize_session=False)
        )
        for row in closing:
            add_seat_change(changes, row.track_id, held=-1)
            events.append(
                event_values(
                    "offer.expired",
                    referral_id=row.referral_id,
                    subject_type="offer",
                    subject_id=row.id,
                    data={
                        "offer_id": row.id,
                        "referral_id": row.referral_id,
                        "track_id": row.track_id,
                        "program_id": row.program_id,
                    },
                )
            )
        for offer in db.session.identity_map.values():
            if isinstance(offer, Offer):
                db.session.expire(offer)
    for _, track_id, _ in granted:
        add_seat_change(changes, track_id, held=1)
    add_seats_in_bulk(changes)

    expires_at = now + offer_ttl()
    created_by = actor.id if actor is not None else None
    offers, offer_ids = [], {}
    for referral, track_id, program_id in granted:
        offer_id = new_id()
        offer_ids[referral.id] = offer_id
        offers.append(
            {
                "id": offer_id,
                "referral_id": referral.id,
                "track_id": track_id,
                "program_id": program_id,
                "status": "pending",
                "expires_at": expires_at,
                "created_by": created_by,
                "created_at": now,
            }
        )
        data = {"offer_id": offer_id, "referral_id": referral.id, "track_id": track_id, "program_id": program_id}
        if referral.status != "offered":
            ensure_transition(referral, "offered")
            events.append(
                event_values(
                    "referral.offered",
                    referral_id=referral.id,
                    subject_type="referral",
                    subject_id=referral.id,
                    actor=actor,
                    from_status=referral.status,
                    to_status="offered",
                    data=data,
                )
            )
            referral.status = "offered"
        events.append(
            event_values(
                "offer.created",
                referral_id=referral.id,
                subject_type="offer",
                subject_id=offer_id,
                actor=actor,
                data=dict(data, expires_at=rfc3339(expires_at)),
            )
        )
    connection = db.session.connection()
    connection.execute(insert(Offer), offers)
    db.session.flush()  # the referrals' new states, before the events that point at them
    connection.execute(insert(Event), events)
    return offer_ids, refused
