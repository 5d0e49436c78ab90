"""The IOP directory API: programs and tracks, public to every user, written by the provider's coordinators."""

from flask import url_for
from sqlalchemy import select

from transitions import policy
from transitions.api.auth import current_user, permits
from transitions.api.common import api_blueprint, json_response, keyset_page_response, shaped_page_response
from transitions.core.clock import utcnow
from transitions.core.fields import PageQuerySchema, page_of
from transitions.core.idempotency import idempotent
from transitions.core.pagination import keyset_page
from transitions.directory import commands, present, queries
from transitions.directory.models import Program, Track
from transitions.directory.schemas import (
    PROGRAM_CHANGES,
    TRACK_CHANGES,
    AvailabilitySchema,
    ProgramInSchema,
    ProgramListQuerySchema,
    ProgramSchema,
    TrackInSchema,
    TrackSchema,
)
from transitions.policy import get_program, get_track

blp = api_blueprint("programs", __name__, "IOP programs and their tracks.")
ProgramPage = page_of(ProgramSchema, "ProgramPage")
TrackPage = page_of(TrackSchema, "TrackPage")


@blp.route("/programs", methods=["POST"])
@permits(policy.PUBLISH_PROGRAM)
@blp.arguments(ProgramInSchema)
@blp.response(201, ProgramSchema)
@idempotent
def create_program(data):
    """Publish a program (iop_coordinator of the provider, or admin naming organization_id)."""
    program = commands.create_program(current_user(), data)
    return program, 201, {"Location": url_for("programs.get_program_view", program_id=program.id)}


@blp.query_route("/programs", ProgramListQuerySchema, ProgramPage)
def list_programs(args):
    """The directory, filterable by state, service, active and owner."""
    query = queries.list_programs_query(args)
    return keyset_page_response(ProgramSchema(), query, [Program.created_at, Program.id], args)


@blp.route("/programs/<program_id>", methods=["GET"])
@blp.response(200, ProgramSchema)
def get_program_view(program_id):
    """One program with its tracks."""
    return get_program(program_id)


@blp.route("/programs/<program_id>", methods=["PATCH"])
@permits(policy.EDIT_PROGRAM)
@blp.arguments(PROGRAM_CHANGES)
@blp.response(200, ProgramSchema)
def update_program(changes, program_id):
    """Change a program (its provider's coordinators, or admin)."""
    return commands.update_program(current_user(), program_id, changes)


@blp.route("/programs/<program_id>/tracks", methods=["POST"])
@permits(policy.EDIT_PROGRAM)
@blp.arguments(TrackInSchema)
@blp.response(201, TrackSchema)
@idempotent
def create_track(data, program_id):
    """Add a weekly track with its sessions and seats."""
    track = commands.create_track(current_user(), program_id, data)
    return track, 201, {"Location": url_for("programs.get_track_view", track_id=track.id)}


@blp.query_route("/programs/<program_id>/tracks", PageQuerySchema, TrackPage)
def list_tracks(args, program_id):
    """A program's tracks."""
    program = get_program(program_id)
    query = select(Track).where(Track.program_id == program.id)
    rows, cursor = keyset_page(query, [Track.created_at, Track.id], args)
    return shaped_page_response(present.tracks(rows, utcnow()), cursor)


@blp.route("/tracks/<track_id>", methods=["GET"])
@blp.response(200, TrackSchema)
def get_track_view(track_id):
    """One track, with its live seat counts."""
    return json_response(present.track(get_track(track_id), utcnow()))


@blp.route("/tracks/<track_id>", methods=["PATCH"])
@permits(policy.EDIT_PROGRAM)
@blp.arguments(TRACK_CHANGES)
@blp.response(200, TrackSchema)
def update_track(changes, track_id):
    """Change a track; capacity below occupied + held is a 409."""
    track = commands.update_track(current_user(), track_id, changes)
    return json_response(present.track(track, utcnow()))


@blp.route("/tracks/<track_id>/availability", methods=["GET"])
@blp.response(200, AvailabilitySchema)
def track_availability(track_id):
    """Seats: capacity, occupied, held and open."""
    return queries.availability(get_track(track_id))
