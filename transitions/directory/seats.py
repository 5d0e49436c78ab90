"""Seat counts as every read reports them: a pending offer past expires_at holds nothing, swept or not.

The counters on the track row (occupied, held) are what seat holds are decided on; an expired offer keeps its
hold there until a request on that track or the sweep closes it. Reads subtract those stale holds so that
availability, matching, allocation and the coordinator's pages all agree with the offers they list.
"""

from sqlalchemy import func, select, update

from transitions.core.db import db
from transitions.directory.models import Track
from transitions.offers.models import Offer


def pending_past_expiry(now):
    return (Offer.status == "pending") & (Offer.expires_at <= now)


def live_held(now):
    """SQL: Track.held without the holds of offers already past expiry (correlated per track row)."""
    stale = (
        select(func.count())
        .select_from(Offer)
        .where(Offer.track_id == Track.id, pending_past_expiry(now))
        .correlate(Track)
        .scalar_subquery()
    )
    return Track.held - stale


def has_open_seat(now):
    """SQL condition: the track has a seat free of live holds and occupants."""
    return Track.occupied + live_held(now) < Track.capacity


def seat_counts(tracks, now):
    """{track_id: {capacity, occupied, held, open}} with only live holds counted."""
    if not tracks:
        return {}
    stale = dict(
        db.session.execute(
            select(Offer.track_id, func.count())
            .where(Offer.track_id.in_([t.id for t in tracks]), pending_past_expiry(now))
            .group_by(Offer.track_id)
        ).all()
    )
    counts = {}
    for track in tracks:
        held = max(0, track.held - stale.get(track.id, 0))
        counts[track.id] = {
            "capacity": track.capacity,
            "occupied": track.occupied,
            "held": held,
            "open": track.capacity - track.occupied - held,
        }
    return counts


def mark_confirmed(track_id, now):
    """The track's seat count is known right as of now: an accept or an attendance is the coordinator at work on it.

    For the offers domain to call in the same transaction (one UPDATE, no lock beyond the row it already holds)."""
    db.session.execute(
        update(Track)
        .where(Track.id == track_id)
        .values(seats_confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
