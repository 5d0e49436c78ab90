"""Directory reads: the program list with its filters, a program's tracks, the programs a user edits with their live
seats, and one track's live seats."""

from datetime import timedelta

from sqlalchemy import case, func, select

from transitions import policy
from transitions.core.clock import utcnow
from transitions.core.db import db, json_array_contains
from transitions.core.pagination import keyset_page
from transitions.directory import seats
from transitions.directory.models import Program, Track
from transitions.identity.models import Organization, User

# The programs page shows this many programs a page (their totals count every matching one).
PROGRAMS_PER_PAGE = 25


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


def _contains(column, text):
    """column ILIKE %text%, with the user's % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike("%" + escaped + "%", escape="\\")


def editable_programs_query(user, organization_id, search=None):
    """The programs this user edits, as a query: a coordinator's are their provider's; an admin's are every
    provider's, or organization_id's when given. search narrows them (case-insensitive, each part optional):
    name (the program's), city, track (a track's name)."""
    filters = {}
    if not policy.ACT_FOR_ANY_PROVIDER.allows(user):
        filters["organization_id"] = user.organization_id
    elif organization_id:
        filters["organization_id"] = organization_id
    query = list_programs_query(filters)
    search = search or {}
    if search.get("name"):
        query = query.where(_contains(Program.name, search["name"]))
    if search.get("city"):
        query = query.where(_contains(Program.city, search["city"]))
    if search.get("track"):
        named = select(Track.id).where(Track.program_id == Program.id, _contains(Track.name, search["track"]))
        query = query.where(named.exists())
    return query


def editable_programs(user, organization_id, now, search=None, page=1, per_page=PROGRAMS_PER_PAGE):
    """One page of the programs this user edits, by name, with the live seats of their tracks and the totals over
    every matching program (not only the page's): {programs, seats, page, pages, totals}.

    totals = {programs, tracks, capacity, occupied, held, open}, summed in SQL as seat_counts() counts one track
    (holds of offers past expiry are not counted, swept or not)."""
    query = editable_programs_query(user, organization_id, search)
    matching = query.with_only_columns(Program.id).order_by(None).subquery()
    totals = _seat_totals(matching, now)
    pages = max(1, -(-totals["programs"] // per_page))
    page = min(max(1, page), pages)
    programs = db.session.scalars(
        query.order_by(Program.name, Program.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return {
        "programs": programs,
        "seats": seats.seat_counts([t for p in programs for t in p.tracks], now),
        "page": page,
        "pages": pages,
        "totals": totals,
    }


def _seat_totals(matching_ids, now):
    held = seats.live_held(now)
    held = case((held > 0, held), else_=0)
    programs = db.session.scalar(select(func.count()).select_from(matching_ids))
    row = db.session.execute(
        select(
            func.count(Track.id),
            func.coalesce(func.sum(Track.capacity), 0),
            func.coalesce(func.sum(Track.occupied), 0),
            func.coalesce(func.sum(held), 0),
        ).where(Track.program_id.in_(select(matching_ids.c.id)))
    ).one()
    tracks, capacity, occupied, held_total = (int(v) for v in row)
    return {
        "programs": programs,
        "tracks": tracks,
        "capacity": capacity,
        "occupied": occupied,
        "held": held_total,
        "open": capacity - occupied - held_total,
    }


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
