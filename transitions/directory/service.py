"""The IOP directory: programs and their weekly tracks, written by the provider's coordinators."""

from sqlalchemy import update

from transitions.core import codes
from transitions.core.clock import minutes_of_day as minutes
from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.core.errors import Conflict, ValidationFailed
from transitions.directory.models import Program, Track


def _locate(zip_code):
    latitude, longitude, _, _ = codes.zip_location(zip_code)
    return latitude, longitude


def create_program(owner_id, data):
    """A program of the provider organization owner_id, placed on the map by its ZIP code."""
    program = Program(organization_id=owner_id, **data)
    program.latitude, program.longitude = _locate(program.zip)
    db.session.add(program)
    db.session.flush()
    return program


def update_program(program, changes):
    merged_min = changes.get("min_age", program.min_age)
    merged_max = changes.get("max_age", program.max_age)
    if merged_min > merged_max:
        raise ValidationFailed({"max_age": ["max_age must be at least min_age."]})
    for key, value in changes.items():
        setattr(program, key, value)
    if "zip" in changes:
        program.latitude, program.longitude = _locate(program.zip)
    db.session.flush()
    return program


def hours_per_week(sessions):
    return round(sum(minutes(s["end"]) - minutes(s["start"]) for s in sessions) / 60, 2)


def _session_days(sessions):
    return [day for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") if any(s["day"] == day for s in sessions)]


def confirm_seats(track, now):
    track.seats_confirmed_at = now
    db.session.flush()
    return track


def claim_program(program, owner_id, now):
    """Give an imported program to its provider; once it has tracks (confirmed) it no longer changes hands."""
    if program.source != "samhsa":
        raise Conflict("Only programs imported from the national directory are claimed; this one has its provider.")
    if program.organization_id == owner_id and program.claimed_at is not None:
        return program
    if not program.unconfirmed:
        raise Conflict(
            "This program is already run by its provider, who published its tracks.",
            extra={"organization_id": program.organization_id},
        )
    program.organization_id = owner_id
    program.claimed_at = now
    db.session.flush()
    return program


def create_track(program, data):
    if program.unconfirmed:
        if program.claimed_at is None:
            raise Conflict(
                "This program is unconfirmed (imported from the national directory): an admin hands it to its "
                "provider organization (POST /programs/{id}/claim) before it gets tracks.",
                extra={"program_id": program.id},
            )
        # The provider's coordinator publishing its first track confirms the program: an ordinary program now.
        program.unconfirmed = False
    data = dict(data)
    sessions = _sorted_sessions(data.pop("sessions"))
    intake_days = data.pop("intake_days", None) or _session_days(sessions)
    track = Track(
        program_id=program.id,
        sessions=sessions,
        intake_days=intake_days,
        hours_per_week=hours_per_week(sessions),
        occupied=0,
        held=0,
        **data,
    )
    db.session.add(track)
    db.session.flush()
    return track


def _sorted_sessions(sessions):
    order = {day: index for index, day in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
    return sorted((dict(s) for s in sessions), key=lambda s: (order[s["day"]], s["start"]))


def update_track(track, changes):
    """Change a track; capacity is lowered with a conditional UPDATE so a racing hold cannot slip past it."""
    changes = dict(changes)
    sessions = changes.pop("sessions", None)
    if sessions is not None:
        track.sessions = _sorted_sessions(sessions)
        track.hours_per_week = hours_per_week(track.sessions)
    intake_days = changes.pop("intake_days", None)
    if intake_days is not None or sessions is not None:
        session_days = _session_days(track.sessions)
        days = intake_days if intake_days is not None else [d for d in track.intake_days if d in session_days]
        stray = [d for d in days if d not in session_days]
        if stray:
            raise ValidationFailed({"intake_days": ["Intake days must be session days: %s." % ", ".join(stray)]})
        track.intake_days = days or session_days
    capacity = changes.pop("capacity", None)
    if capacity is not None:
        # Any capacity edit is the coordinator saying how many seats there are.
        track.seats_confirmed_at = utcnow()
    for key, value in changes.items():
        setattr(track, key, value)
    db.session.flush()
    if capacity is not None and capacity != track.capacity:
        result = db.session.execute(
            update(Track)
            .where(Track.id == track.id, Track.occupied + Track.held <= capacity)
            .values(capacity=capacity)
            .execution_options(synchronize_session=False)
        )
        db.session.refresh(track)
        if result.rowcount != 1:
            raise Conflict(
                "Capacity %d is below the %d seats occupied and %d held." % (capacity, track.occupied, track.held),
                extra={"occupied": track.occupied, "held": track.held},
            )
    return track
