"""Directory reads: the program list with its filters, and one track's live seats."""

from sqlalchemy import select

from transitions.core.clock import utcnow
from transitions.core.db import db, json_array_contains
from transitions.directory import seats
from transitions.directory.models import Program


def list_programs_query(filters):
    """Programs filtered on state, service, active and owner, as a query (the caller orders and pages it)."""
    query = select(Program)
    if "state" in filters:
        query = query.where(Program.state == filters["state"])
    if "service" in filters:
        query = query.where(json_array_contains(Program.services, filters["service"]))
    if "active" in filters:
        query = query.where(Program.active.is_(filters["active"]))
    if "organization_id" in filters:
        query = query.where(Program.organization_id == filters["organization_id"])
    return query


def availability(track, now=None):
    """Seats now: holds of offers already past expiry are not counted, swept or not."""
    db.session.refresh(track)
    return seats.seat_counts([track], now or utcnow())[track.id]
