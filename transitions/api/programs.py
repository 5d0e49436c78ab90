"""The IOP directory API: programs and tracks, public to every user, written by the provider's coordinators."""
from flask import url_for
from sqlalchemy import select

from transitions.api.auth import current_user, require_authentication, require_roles
from transitions.api.common import Blueprint, json_response, page_response
from transitions.core.clock import utcnow
from transitions.core.fields import PageQuerySchema, page_of
from transitions.core.idempotency import idempotent
from transitions.core.pagination import keyset_page
from transitions.directory import seats, service
from transitions.directory.models import Program, Track
from transitions.directory.schemas import (
    AvailabilitySchema,
    ProgramFieldsSchema,
    ProgramInSchema,
    ProgramListQuerySchema,
    ProgramSchema,
    TrackFieldsSchema,
    TrackInSchema,
    TrackSchema,
)
from transitions.policy import ensure_can_edit_program, get_program, get_track

blp = Blueprint("programs", __name__, url_prefix="/api/v1", description="IOP programs and their tracks.")
blp.before_request(require_authentication)
ProgramPage = page_of(ProgramSchema, "ProgramPage")
TrackPage = page_of(TrackSchema, "TrackPage")


def dump_tracks(tracks):
    """Track bodies whose held and open count only live holds, as /availability does."""
    counts = seats.seat_counts(tracks, utcnow())
    return [dict(TrackSchema().dump(track), held=counts[track.id]["held"], open=counts[track.id]["open"])
            for track in tracks]


@blp.route("/programs", methods=["POST"])
@require_roles("iop_coordinator", "admin")
@blp.arguments(ProgramInSchema)
@blp.response(201, ProgramSchema)
@idempotent
def create_program(data):
    """Publish a program (iop_coordinator of the provider, or admin naming organization_id)."""
    program = service.create_program(current_user(), data)
    return program, 201, {"Location": url_for("programs.get_program_view", program_id=program.id)}


@blp.route("/programs", methods=["GET"])
@blp.arguments(ProgramListQuerySchema, location="query")
@blp.response(200, ProgramPage)
def list_programs(args):
    """The directory, filterable by state, service, active and owner."""
    query = service.list_programs_query(args)
    rows, cursor = keyset_page(query, [Program.created_at, Program.id], args)
    return page_response(ProgramSchema(), rows, cursor)


@blp.route("/programs/<program_id>", methods=["GET"])
@blp.response(200, ProgramSchema)
def get_program_view(program_id):
    """One program with its tracks."""
    return get_program(program_id)


@blp.route("/programs/<program_id>", methods=["PATCH"])
@require_roles("iop_coordinator", "admin")
@blp.arguments(ProgramFieldsSchema)
@blp.response(200, ProgramSchema)
def update_program(changes, program_id):
    """Change a program (its provider's coordinators, or admin)."""
    program = get_program(program_id)
    ensure_can_edit_program(current_user(), program)
    return service.update_program(program, changes)


@blp.route("/programs/<program_id>/tracks", methods=["POST"])
@require_roles("iop_coordinator", "admin")
@blp.arguments(TrackInSchema)
@blp.response(201, TrackSchema)
@idempotent
def create_track(data, program_id):
    """Add a weekly track with its sessions and seats."""
    program = get_program(program_id)
    ensure_can_edit_program(current_user(), program)
    track = service.create_track(program, data)
    return track, 201, {"Location": url_for("programs.get_track_view", track_id=track.id)}


@blp.route("/programs/<program_id>/tracks", methods=["GET"])
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, TrackPage)
def list_tracks(args, program_id):
    """A program's tracks."""
    program = get_program(program_id)
    query = select(Track).where(Track.program_id == program.id)
    rows, cursor = keyset_page(query, [Track.created_at, Track.id], args)
    return json_response({"items": dump_tracks(rows), "next_cursor": cursor})


@blp.route("/tracks/<track_id>", methods=["GET"])
@blp.response(200, TrackSchema)
def get_track_view(track_id):
    """One track, with its live seat counts."""
    return json_response(dump_tracks([get_track(track_id)])[0])


@blp.route("/tracks/<track_id>", methods=["PATCH"])
@require_roles("iop_coordinator", "admin")
@blp.arguments(TrackFieldsSchema)
@blp.response(200, TrackSchema)
def update_track(changes, track_id):
    """Change a track; capacity below occupied + held is a 409."""
    track = get_track(track_id)
    ensure_can_edit_program(current_user(), track.program)
    return json_response(dump_tracks([service.update_track(track, changes)])[0])


@blp.route("/tracks/<track_id>/availability", methods=["GET"])
@blp.response(200, AvailabilitySchema)
def track_availability(track_id):
    """Seats: capacity, occupied, held and open."""
    return service.availability(get_track(track_id))
