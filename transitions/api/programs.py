"""The IOP directory API: programs and tracks, public to every user, written by the provider's coordinators."""

from flask import url_for

from transitions import policy
from transitions.api.auth import current_user
from transitions.api.common import api_blueprint, json_response, page_response, shaped_page_response
from transitions.core.clock import utcnow
from transitions.core.fields import PageQuerySchema, page_of
from transitions.directory import commands, present, queries, schemas
from transitions.policy import get_program, get_track

blp = api_blueprint("programs", __name__, "IOP programs and their tracks.")
ProgramPage = page_of(schemas.ProgramSchema, "ProgramPage")
TrackPage = page_of(schemas.TrackSchema, "TrackPage")


@blp.create_route("/programs", schemas.ProgramInSchema, schemas.ProgramSchema, policy.PUBLISH_PROGRAM)
def create_program(data):
    """Publish a program (iop_coordinator of the provider, or admin naming organization_id)."""
    program = commands.create_program(current_user(), data)
    return program, 201, {"Location": url_for("programs.get_program_view", program_id=program.id)}


@blp.query_route("/programs", schemas.ProgramListQuerySchema, ProgramPage)
def list_programs(args):
    """The directory, filterable by state, service, active and owner."""
    return page_response(schemas.ProgramSchema(), *queries.list_programs(args))


@blp.read_route("/programs/<program_id>", schemas.ProgramSchema)
def get_program_view(program_id):
    """One program with its tracks."""
    return get_program(program_id)


@blp.change_route("/programs/<program_id>", schemas.PROGRAM_CHANGES, schemas.ProgramSchema, policy.EDIT_PROGRAM)
def update_program(changes, program_id):
    """Change a program (its provider's coordinators, or admin)."""
    return commands.update_program(current_user(), program_id, changes)


@blp.action_route("/programs/<program_id>/claim", schemas.ClaimInSchema, schemas.ProgramSchema, policy.CLAIM_PROGRAM)
def claim_program(data, program_id):
    """Hand an imported (unconfirmed) program to the iop_provider organization that runs it (admin)."""
    return commands.claim_program(current_user(), program_id, data["organization_id"])


@blp.create_route("/programs/<program_id>/tracks", schemas.TrackInSchema, schemas.TrackSchema, policy.EDIT_PROGRAM)
def create_track(data, program_id):
    """Add a weekly track with its sessions and seats."""
    track = commands.create_track(current_user(), program_id, data)
    return track, 201, {"Location": url_for("programs.get_track_view", track_id=track.id)}


@blp.query_route("/programs/<program_id>/tracks", PageQuerySchema, TrackPage)
def list_tracks(args, program_id):
    """A program's tracks."""
    rows, cursor = queries.list_tracks(program_id, args)
    return shaped_page_response(present.tracks(rows, utcnow()), cursor)


@blp.read_route("/tracks/<track_id>", schemas.TrackSchema)
def get_track_view(track_id):
    """One track, with its live seat counts."""
    return json_response(present.track(get_track(track_id), utcnow()))


@blp.change_route("/tracks/<track_id>", schemas.TRACK_CHANGES, schemas.TrackSchema, policy.EDIT_PROGRAM)
def update_track(changes, track_id):
    """Change a track; capacity below occupied + held is a 409."""
    track = commands.update_track(current_user(), track_id, changes)
    return json_response(present.track(track, utcnow()))


@blp.read_route("/tracks/<track_id>/availability", schemas.AvailabilitySchema)
def track_availability(track_id):
    """Seats: capacity, occupied, held and open."""
    return queries.availability(get_track(track_id))
