"""Tracks as every reader sees them, shaped through TrackSchema with live seat counts."""

from transitions.directory import seats
from transitions.directory.schemas import TrackSchema

_TRACK = TrackSchema()


def tracks(rows, now):
    """Track bodies whose held and open count only live holds, as /availability does."""
    counts = seats.seat_counts(rows, now)
    return [dict(_TRACK.dump(track), held=counts[track.id]["held"], open=counts[track.id]["open"]) for track in rows]


def track(row, now):
    return tracks([row], now)[0]
