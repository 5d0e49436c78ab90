"""Directory reads: the program list with its filters, a program's tracks, the programs a user edits with their live
seats, and one track's live seats."""

from datetime import timedelta

from sqlalchemy import select

from transitions import policy
from transitions.core.clock import utcnow
from transitions.core.db import db, json_array_contains
from transitions.core.pagination import keyset_page
from transitions.directory import seats
from transitions.directory.models import Program, Track
from transitions.identity.models import Organization, User

# The programs page lists this many programs at most.
EDITABLE_LIMIT = 200


def list_programs_query(filters):
    """Programs filtered on state, service, active and owner, as a query (the caller orders and pages it)."""
    query = select(Program)
    if "state" in filters:
        query = query.where(Program.state == filters["state"])
    if "service" in filters:
        query = query.where(json_array_contains(Program.services, filters["service"]))
    if "active" in filters:
        query = query.where(Program.active.is_(filters["active"]))
    if "unconfirmed" in filters:
        query = query.where(Program.unconfirmed.is_(filters["unconfirmed"]))
    if "source" in filters:
        query = query.where(Program.source == filters["source"])
    if "organization_id" in filters:
        query = query.where(Program.organization_id == filters["organization_id"])
    return query


def list_programs(filters):
    """One keyset page of the directory, oldest first: (programs, next cursor). The directory is public."""
    return keyset_page(list_programs_query(filters), [Program.created_at, Program.id], filters)


def list_tracks(program_id, filters):
    """One keyset page of a program's tracks, oldest first: (tracks, next cursor); an unknown program is a 404."""
    program = policy.get_program(program_id)
    return keyset_page(select(Track).where(Track.program_id == program.id), [Track.created_at, Track.id], filters)


def editable_programs(user, organization_id, now, name_contains=None):
    """The programs this user edits, by name, and the live seats of their tracks: (programs, seats by track id).

    A coordinator's are their provider's; an admin's are every provider's, or organization_id's when given.
    name_contains narrows them by name (case-insensitive), so an admin finds one imported program among thousands."""
    filters = {}
    if not policy.ACT_FOR_ANY_PROVIDER.allows(user):
        filters["organization_id"] = user.organization_id
    elif organization_id:
        filters["organization_id"] = organization_id
    query = list_programs_query(filters)
    if name_contains:
        escaped = name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Program.name.ilike("%" + escaped + "%", escape="\\"))
    programs = db.session.scalars(query.order_by(Program.name, Program.id).limit(EDITABLE_LIMIT)).all()
    return programs, seats.seat_counts([t for p in programs for t in p.tracks], now)


def availability(track, now=None):
    """Seats now: holds of offers already past expiry are not counted, swept or not."""
    db.session.refresh(track)
    return seats.seat_counts([track], now or utcnow())[track.id]


def claimant_organizations():
    """The provider organizations an imported program may be handed to: those with a coordinator, by name (the
    import's own one-program organizations have none)."""
    has_coordinator = (
        select(User.id).where(User.organization_id == Organization.id, User.role == "iop_coordinator").exists()
    )
    return db.session.execute(
        select(Organization.id, Organization.name)
        .where(Organization.kind == "iop_provider", has_coordinator)
        .order_by(Organization.name, Organization.id)
    ).all()


def seats_stale(track, now, max_age_days):
    """True when nobody has confirmed the track's seats for longer than max_age_days."""
    confirmed = track.seats_confirmed_at or track.updated_at
    return confirmed is None or (now - confirmed).days >= max_age_days


def tracks_with_unconfirmed_seats(now, max_age_days):
    """Active tracks of active, confirmed (claimed or provider-made) programs whose seat count was last confirmed
    more than `max_age_days` ago, oldest first, each with its program: (track, program) pairs."""
    rows = db.session.execute(
        select(Track, Program)
        .join(Program, Program.id == Track.program_id)
        .where(
            Track.active.is_(True),
            Program.active.is_(True),
            Program.unconfirmed.is_(False),
            Track.seats_confirmed_at.is_not(None),
            Track.seats_confirmed_at < now - timedelta(days=max_age_days),
        )
        .order_by(Track.seats_confirmed_at, Track.id)
    ).all()
    return [(track, program) for track, program in rows]
