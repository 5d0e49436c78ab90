"""Placements: attendance and lapse warnings, IOP discharge, and readmissions, each freeing the seat in the database."""

from flask import current_app
from sqlalchemy import select, update

from transitions.core.clock import local_today, utcnow
from transitions.core.db import db
from transitions.core.errors import Conflict, ValidationFailed
from transitions.directory import seats
from transitions.directory.models import WEEKDAYS, Track
from transitions.notify.events import record_event
from transitions.notify.models import Event
from transitions.offers.ledger import add_seat_change, apply_seat_changes, lock_referral
from transitions.offers.models import Attendance, Placement, Readmission
from transitions.offers.queries import readmission_class
from transitions.offers.service import close_referral_offers
from transitions.referrals.states import ALLOWED_TRANSITIONS, TERMINAL, transition

# Where an IOP discharge leaves the referral. A transfer ends this episode with the patient
# still in care elsewhere, the favourable outcome in SAMHSA's TEDS-D ("completed or
# transferred to further treatment"); docs/decisions.md explains the choice.
OUTCOME_STATUS = {
    "completed": "completed",
    "dropped_out": "dropped_out",
    "readmitted": "readmitted",
    "transferred": "completed",
}


def _locked_placement(placement_id):
    placement = db.session.get(Placement, placement_id)
    referral = lock_referral(placement.referral_id)
    db.session.refresh(placement)
    return placement, referral


def _recorded(model, actor, now, **values):
    """Insert a fact a user records about a patient (a session's attendance, a readmission), stamped with who and
    when; flushed, so it has its id."""
    row = model(**values, recorded_by=actor.id if actor is not None else None, created_at=now)
    db.session.add(row)
    db.session.flush()
    return row


def record_placement_event(event_type, placement, referral, actor, **data):
    """An event about a placement (its subject), its data led by the placement's id."""
    return record_event(
        event_type, referral=referral, subject=placement, actor=actor, data={"placement_id": placement.id, **data}
    )


def _require_active(placement):
    if placement.status != "active":
        raise Conflict(
            "This placement has ended (outcome %s)." % placement.outcome,
            extra={"placement_status": placement.status, "outcome": placement.outcome},
        )


def end_placement(placement, referral, outcome, now, actor, changes):
    """Discharge an active placement (conditional UPDATE, so it ends once); the caller applies the seat change."""
    result = db.session.execute(
        update(Placement)
        .where(Placement.id == placement.id, Placement.status == "active")
        .values(status="discharged", outcome=outcome, discharged_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(placement)
    if result.rowcount != 1:
        raise Conflict("This placement has already ended.", extra={"placement_status": "discharged"})
    add_seat_change(changes, placement.track_id, occupied=-1)
    record_placement_event(
        "placement.discharged",
        placement,
        referral,
        actor,
        referral_id=referral.id,
        track_id=placement.track_id,
        program_id=placement.program_id,
        outcome=outcome,
    )


def active_placement(referral_id):
    return db.session.scalar(
        select(Placement).where(Placement.referral_id == referral_id, Placement.status == "active")
    )


# ---------------------------------------------------------------- attendance


def _check_session_date(placement, track, day, now):
    session_days = [d for d in WEEKDAYS if any(s["day"] == d for s in track.sessions)]
    problems = []
    if WEEKDAYS[day.weekday()] not in session_days:
        problems.append(
            "%s is a %s; this track meets on %s." % (day.isoformat(), WEEKDAYS[day.weekday()], ", ".join(session_days))
        )
    if day < placement.intake_date:
        problems.append("The date is before the intake date %s." % placement.intake_date.isoformat())
    today = local_today(track.timezone, now)
    if day > today:
        problems.append(
            "Attendance cannot be recorded ahead of the session (today is %s in %s)."
            % (today.isoformat(), track.timezone)
        )
    if problems:
        raise ValidationFailed({"date": problems}, "The date is not a session of this placement.")


def record_attendance(actor, placement_id, day, status, now=None):
    """One session's attendance; the first attended one makes the referral attending; returns (row, lapse event)."""
    now = now or utcnow()
    placement, referral = _locked_placement(placement_id)
    _require_active(placement)
    _check_session_date(placement, placement_track(placement), day, now)
    existing = db.session.scalar(
        select(Attendance).where(Attendance.placement_id == placement.id, Attendance.session_date == day)
    )
    if existing is not None:
        raise Conflict(
            "Attendance for %s is already recorded (%s)." % (day.isoformat(), existing.status),
            extra={"attendance_id": existing.id, "attendance_status": existing.status},
        )
    row = _recorded(Attendance, actor, now, placement_id=placement.id, session_date=day, status=status)
    record_placement_event("attendance.recorded", placement, referral, actor, attendance_id=row.id, status=status)
    seats.mark_confirmed(placement.track_id, now)  # taking attendance is the coordinator at work on the track
    if status == "attended" and referral.status == "placed":
        transition(referral, "attending", actor, data={"placement_id": placement.id, "attendance_id": row.id})
    lapse = _check_lapse(referral, placement, row, actor)
    db.session.flush()
    return row, lapse


def placement_track(placement):
    return db.session.get(Track, placement.track_id)


def missed_run(rows, index):
    """The run of missed sessions around rows[index] (date order); excused sessions neither break nor extend it."""
    if rows[index].status != "missed":
        return []
    run = [rows[index]]
    for step in (-1, 1):
        position = index + step
        while 0 <= position < len(rows) and rows[position].status != "attended":
            if rows[position].status == "missed":
                run.append(rows[position])
            position += step
    return sorted(run, key=lambda r: r.session_date)


def _check_lapse(referral, placement, row, actor):
    """LAPSE_MISSED_IN_A_ROW missed sessions in a row write one attendance.lapsed event per run."""
    threshold = int(current_app.config.get("LAPSE_MISSED_IN_A_ROW", 2))
    rows = db.session.scalars(
        select(Attendance).where(Attendance.placement_id == placement.id).order_by(Attendance.session_date)
    ).all()
    run = missed_run(rows, rows.index(row))
    if len(run) < threshold:
        return None
    run_ids = [r.id for r in run]
    earlier = db.session.scalars(
        select(Event).where(Event.type == "attendance.lapsed", Event.subject_id == placement.id)
    ).all()
    if any(set(run_ids) & set((event.data or {}).get("attendance_ids", [])) for event in earlier):
        return None
    return record_placement_event(
        "attendance.lapsed",
        placement,
        referral,
        actor,
        referral_id=referral.id,
        program_id=placement.program_id,
        missed_in_a_row=len(run),
        attendance_ids=run_ids,
    )


# ---------------------------------------------------------------- discharge and readmission


def discharge(actor, placement_id, outcome, now=None):
    """End the placement with an outcome, free its seat and move the referral (transferred -> completed)."""
    now = now or utcnow()
    placement, referral = _locked_placement(placement_id)
    _require_active(placement)
    target = OUTCOME_STATUS[outcome]
    changes = {}
    end_placement(placement, referral, outcome, now, actor, changes)
    apply_seat_changes(changes)
    # A referral that already ended (say, cancelled) keeps its status; the seat is freed either way.
    if referral.status not in TERMINAL:
        transition(referral, target, actor, data={"placement_id": placement.id, "outcome": outcome})
    db.session.flush()
    return placement


def record_readmission(actor, referral_id, admitted_on, facility=None, now=None, today=None):
    """Record a readmission; classify it by days after discharge; end the referral's offers or placement. An
    admission after today (by default the referral's own today) is refused."""
    now = now or utcnow()
    referral = lock_referral(referral_id)
    days = (admitted_on - referral.discharge_date).days
    if days < 0:
        raise ValidationFailed(
            {"date": ["A readmission cannot be before the discharge date %s." % (referral.discharge_date.isoformat())]}
        )
    if admitted_on > (today or local_today(referral.timezone, now)):
        raise ValidationFailed({"date": ["A readmission cannot be in the future."]})
    classification = readmission_class(days)
    row = _recorded(
        Readmission,
        actor,
        now,
        referral_id=referral.id,
        admitted_on=admitted_on,
        facility=facility,
        classification=classification,
    )
    changes = {}
    close_referral_offers(referral, now, actor, live_status="withdrawn", reason="readmitted", changes=changes)
    placement = active_placement(referral.id)
    if placement is not None:
        end_placement(placement, referral, "readmitted", now, actor, changes)
    apply_seat_changes(changes)
    data = {
        "referral_id": referral.id,
        "readmission_id": row.id,
        "classification": classification,
        "days_after_discharge": days,
    }
    if "readmitted" in ALLOWED_TRANSITIONS[referral.status]:
        transition(referral, "readmitted", actor, event_type="referral.readmitted", data=data)
    else:
        record_event("referral.readmitted", referral=referral, subject=row, actor=actor, data=data)
    db.session.flush()
    return row, days
