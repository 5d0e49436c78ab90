"""The use cases of the directory, one function each: publish and change programs and their weekly tracks.

The API and the coordinator's pages call these with the acting user and plain values (ids, validated fields).
"""

from transitions import policy
from transitions.core.clock import utcnow
from transitions.core.db import db, races_as_conflicts
from transitions.core.errors import ValidationFailed
from transitions.directory import importer, service
from transitions.identity.models import Organization


def program_owner(actor, organization_id):
    """Who owns a new program: admins name an iop_provider organization, coordinators publish for their own."""
    if policy.ACT_FOR_ANY_PROVIDER.allows(actor):
        owner = db.session.get(Organization, organization_id) if organization_id else None
        if owner is None or owner.kind != "iop_provider":
            raise ValidationFailed(
                {"organization_id": ["Admins name the iop_provider organization that owns the program."]}
            )
        return owner.id
    if organization_id not in (None, actor.organization_id):
        raise ValidationFailed({"organization_id": ["Coordinators create programs for their own organization."]})
    return actor.organization_id


def create_program(actor, data):
    """Publish a program from ProgramInSchema fields (organization_id: the owner, for admins)."""
    policy.PUBLISH_PROGRAM.require(actor)
    fields = dict(data)
    owner_id = program_owner(actor, fields.pop("organization_id", None))
    with races_as_conflicts():
        return service.create_program(owner_id, fields)


def update_program(actor, program_id, changes):
    """Change a program; the ages are checked merged with the stored ones."""
    program = policy.get_program(program_id)
    policy.EDIT_PROGRAM.require(actor, program)
    with races_as_conflicts():
        return service.update_program(program, changes)


def create_track(actor, program_id, data):
    """Add a weekly track to a program."""
    program = policy.get_program(program_id)
    policy.EDIT_PROGRAM.require(actor, program, "track.create")
    with races_as_conflicts():
        return service.create_track(program, data)


def update_track(actor, track_id, changes):
    """Change a track; intake days are checked against the stored sessions, capacity below the seats taken is a 409."""
    track = policy.get_track(track_id)
    policy.EDIT_PROGRAM.require(actor, track.program, "track.update")
    with races_as_conflicts():
        return service.update_track(track, changes)


def claim_program(actor, program_id, organization_id, now=None):
    """Hand an imported program to the iop_provider organization that runs it (admins); its coordinators then
    publish tracks, and with the first one it is an ordinary program."""
    program = policy.get_program(program_id)
    policy.CLAIM_PROGRAM.require(actor, program)
    owner = db.session.get(Organization, organization_id) if organization_id else None
    if owner is None or owner.kind != "iop_provider":
        raise ValidationFailed({"organization_id": ["Name the iop_provider organization that runs this program."]})
    with races_as_conflicts():
        return service.claim_program(program, owner.id, now or utcnow())


def import_directory(path, states=None, strict=False, dry_run=False, on_progress=None, on_problem=None):
    """Import an N-SUMHSS facility file (an operator's command: no acting user); the caller commits when
    the summary says `write` and rolls back otherwise (a dry run, a refused file, a bad line under strict)."""
    return importer.import_file(
        path, states=states, strict=strict, dry_run=dry_run, on_progress=on_progress, on_problem=on_problem
    )


def confirm_seats(actor, track_id, now=None):
    """The coordinator says the track's seat count is still right (the programs page's one-click button)."""
    track = policy.get_track(track_id)
    policy.EDIT_PROGRAM.require(actor, track.program, "track.confirm_seats")
    return service.confirm_seats(track, now or utcnow())
