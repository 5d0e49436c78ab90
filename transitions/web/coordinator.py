"""IOP coordinator pages: the offer inbox (accept with an intake day, decline with a reason), programs and tracks
with live seats and editing, and today's roster with one-click attendance."""

from datetime import date, timedelta
from functools import partial

from flask import g, jsonify, redirect, request, url_for
from sqlalchemy import select

from transitions import policy
from transitions.core import audit
from transitions.core.clock import local_today, utcnow
from transitions.core.db import db
from transitions.core.errors import DomainError, Forbidden, NotFound
from transitions.directory import commands as program_commands
from transitions.directory import seats as seat_service
from transitions.directory.models import ORIGINS, SERVICES, WEEKDAYS, Program, Track
from transitions.directory.schemas import PROGRAM_CHANGES, TRACK_CHANGES, TrackInSchema
from transitions.offers import commands as offer_commands
from transitions.offers import queries as offer_queries
from transitions.offers.models import ATTENDANCE_STATUSES, DECLINE_REASONS, Offer, Placement
from transitions.offers.schemas import AcceptInSchema, AttendanceInSchema, DeclineInSchema
from transitions.referrals import present as referrals_present
from transitions.referrals.models import Referral
from transitions.web import forms
from transitions.web.blueprint import bp, notice, permits, render
from transitions.web.present import US_TIMEZONES

INTAKE_CHOICES = 10
RECENT_DECIDED = 15


def intake_choices(referral, track, now, count=INTAKE_CHOICES):
    """The next dates a new patient can start on this track: intake days, not before discharge or today (track time)."""
    first, last = offer_queries.intake_window(referral, track, now)
    days, day = [], first
    while day <= last and len(days) < count:
        if WEEKDAYS[day.weekday()] in track.intake_days:
            days.append(day)
        day += timedelta(days=1)
    return days


def refused(error, title, back, find):
    """A bad form or a rule's refusal as an error page linking back. A bad form is judged after find() looked the
    object up (an unknown one is a 404 first); lookup 404s and 403s keep the plain page."""
    if isinstance(error, (NotFound, Forbidden)):
        raise error
    if isinstance(error, forms.FormErrors):
        find()
    failure, status = forms.failed_form(error)
    detail = "; ".join(m for msgs in failure.errors.values() for m in msgs) or failure.message
    return render("error.html", status=status, title=title, detail=detail, back=back)


# ---------------------------------------------------------------- offer inbox


@bp.get("/offers")
@permits(policy.DECIDE_OFFER)
def offer_inbox():
    user, now = g.user, utcnow()
    visible = policy.offer_visibility(user)
    pending = db.session.scalars(
        select(Offer)
        .where(visible, Offer.status == "pending", Offer.expires_at > now)
        .order_by(Offer.expires_at, Offer.id)
        .limit(200)
    ).all()
    decided = db.session.scalars(
        select(Offer)
        .where(visible, Offer.status != "pending")
        .order_by(Offer.decided_at.desc(), Offer.id)
        .limit(RECENT_DECIDED)
    ).all()
    cards = []
    for offer in pending:
        referral = db.session.get(Referral, offer.referral_id)
        track = db.session.get(Track, offer.track_id)
        audit.record("offer.list", "offer", offer.id, user=user)
        audit.record("referral.read", "referral", referral.id, user=user)
        cards.append(
            {
                "offer": offer,
                "referral": referrals_present.referral(user, referral),
                "track": track,
                "program": track.program,
                "intake_days": intake_choices(referral, track, now),
            }
        )
    recent = []
    for offer in decided:
        audit.record("offer.list", "offer", offer.id, user=user)
        track = db.session.get(Track, offer.track_id)
        referral = db.session.get(Referral, offer.referral_id)
        audit.record("referral.read", "referral", referral.id, user=user)
        recent.append(
            {
                "offer": offer,
                "track": track,
                "program": track.program,
                "patient": "%s %s" % (referral.given_name, referral.family_name),
            }
        )
    return render("offers.html", cards=cards, recent=recent, decline_reasons=DECLINE_REASONS, now=now)


@bp.post("/offers/<offer_id>/accept")
@permits(policy.DECIDE_OFFER)
def accept_offer(offer_id):
    user = g.user
    try:
        data = forms.load(AcceptInSchema(), {"intake_date": forms.text(request.form, "intake_date")})
        offer, placement = offer_commands.accept_offer(user, offer_id, data["intake_date"], utcnow())
    except (forms.FormErrors, DomainError) as error:
        find = partial(offer_commands.offer_to_decide, user, offer_id, "offer.accept")
        return refused(error, "The offer was not accepted", url_for("web.offer_inbox"), find)
    referral = db.session.get(Referral, offer.referral_id)
    notice(
        "Accepted: %s %s starts on %s."
        % (referral.given_name, referral.family_name, placement.intake_date.strftime("%a %b %d")),
        "success",
    )
    return redirect(url_for("web.offer_inbox"))


@bp.post("/offers/<offer_id>/decline")
@permits(policy.DECIDE_OFFER)
def decline_offer(offer_id):
    user = g.user
    try:
        data = forms.load(
            DeclineInSchema(), {"reason": forms.text(request.form, "reason"), "note": forms.text(request.form, "note")}
        )
        offer_commands.decline_offer(user, offer_id, data["reason"], data.get("note"), utcnow())
    except (forms.FormErrors, DomainError) as error:
        find = partial(offer_commands.offer_to_decide, user, offer_id, "offer.decline")
        return refused(error, "The offer was not declined", url_for("web.offer_inbox"), find)
    notice("Offer declined; the seat is free again and the planner will see the reason.", "success")
    return redirect(url_for("web.offer_inbox"))


# ---------------------------------------------------------------- programs and tracks


def my_programs(user):
    query = select(Program).order_by(Program.name, Program.id)
    if not policy.ACT_FOR_ANY_PROVIDER.allows(user):
        query = query.where(Program.organization_id == user.organization_id)
    elif request.args.get("organization_id"):
        query = query.where(Program.organization_id == request.args["organization_id"][:36])
    return db.session.scalars(query.limit(200)).all()


@bp.get("/programs")
@permits(policy.EDIT_PROGRAM)
def programs():
    rows = my_programs(g.user)
    tracks = [t for p in rows for t in p.tracks]
    counts = seat_service.seat_counts(tracks, utcnow())
    totals = {key: sum(c[key] for c in counts.values()) for key in ("capacity", "occupied", "held", "open")}
    return render("programs.html", programs=rows, seats=counts, totals=totals, track_count=len(tracks))


@bp.get("/programs/seats.json")
@permits(policy.EDIT_PROGRAM)
def program_seats():
    tracks = [t for p in my_programs(g.user) for t in p.tracks]
    return jsonify(seat_service.seat_counts(tracks, utcnow()))


def _program_form_context(program, form=None, errors=None, message=None):
    return dict(
        program=program,
        form=form if form is not None else forms.program_values(program),
        errors=errors or {},
        message=message,
        services=SERVICES,
        origins=ORIGINS,
    )


@bp.route("/programs/<program_id>/edit", methods=["GET", "POST"])
@permits(policy.EDIT_PROGRAM)
def edit_program(program_id):
    program = policy.get_program(program_id)
    policy.EDIT_PROGRAM.require(g.user, program)
    if request.method == "GET":
        return render("program_edit.html", **_program_form_context(program))
    try:
        changes = forms.load(PROGRAM_CHANGES, forms.program_changes(request.form))
        program = program_commands.update_program(g.user, program_id, changes)
    except forms.FormErrors as failure:
        db.session.rollback()
        program = policy.get_program(program_id)
        return render(
            "program_edit.html",
            status=422,
            **_program_form_context(program, request.form, failure.errors, failure.message),
        )
    except DomainError as error:
        db.session.rollback()
        program = policy.get_program(program_id)
        failure = forms.domain_form_errors(error)
        return render(
            "program_edit.html",
            status=error.status,
            **_program_form_context(program, request.form, failure.errors, failure.message),
        )
    notice("Saved %s." % program.name, "success")
    return redirect(url_for("web.programs") + "#program-" + program.id)


def _track_form_context(program, track, form=None, errors=None, message=None):
    sessions = (track.sessions if track is not None else []) if form is None else forms.sessions_from_form(form)
    rows = list(sessions) + [{}] * max(2, 7 - len(sessions))
    values = form if form is not None else forms.track_values(track)
    return dict(
        program=program,
        track=track,
        form=values,
        errors=errors or {},
        message=message,
        session_rows=rows[: forms.MAX_SESSION_ROWS],
        weekdays=WEEKDAYS,
        timezones=_zones(values.get("timezone")),
        seats=seat_service.seat_counts([track], utcnow())[track.id] if track is not None else None,
    )


def _track_form_refused(program, track, error):
    """The track form again, as posted, with a bad form's or a rule's errors (a new track: track None)."""
    failure, status = forms.failed_form(error)
    context = _track_form_context(program, track, request.form, failure.errors, failure.message)
    return render("track_edit.html", status=status, **context)


def _zones(current):
    """The US zones, plus the track's own when it is another one (the API takes any IANA zone)."""
    zones = list(US_TIMEZONES)
    if current and current not in dict(zones):
        zones.append((current, current))
    return zones


@bp.route("/tracks/<track_id>/edit", methods=["GET", "POST"])
@permits(policy.EDIT_PROGRAM)
def edit_track(track_id):
    track = policy.get_track(track_id)
    program = track.program
    policy.EDIT_PROGRAM.require(g.user, program, "track.update")
    if request.method == "GET":
        return render("track_edit.html", **_track_form_context(program, track))
    try:
        changes = forms.load(TRACK_CHANGES, forms.track_payload(request.form))
        track = program_commands.update_track(g.user, track_id, changes)
    except (forms.FormErrors, DomainError) as error:
        db.session.rollback()
        track = policy.get_track(track_id)
        return _track_form_refused(track.program, track, error)
    notice("Saved %s — %s." % (program.name, track.name), "success")
    return redirect(url_for("web.programs") + "#program-" + program.id)


@bp.route("/programs/<program_id>/tracks/new", methods=["GET", "POST"])
@permits(policy.EDIT_PROGRAM)
def new_track(program_id):
    program = policy.get_program(program_id)
    policy.EDIT_PROGRAM.require(g.user, program, "track.create")
    if request.method == "GET":
        return render("track_edit.html", **_track_form_context(program, None))
    try:
        data = forms.load(TrackInSchema(), forms.track_payload(request.form))
        track = program_commands.create_track(g.user, program_id, data)
    except (forms.FormErrors, DomainError) as error:
        return _track_form_refused(program, None, error)
    notice("Added %s to %s." % (track.name, program.name), "success")
    return redirect(url_for("web.programs") + "#program-" + program.id)


# ---------------------------------------------------------------- today's roster


def _parse_day(raw):
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@bp.get("/roster")
@permits(policy.MANAGE_PLACEMENT)
def roster():
    user, now = g.user, utcnow()
    chosen = _parse_day(request.args.get("date"))
    placements = db.session.scalars(
        select(Placement)
        .where(policy.placement_visibility(user), Placement.status == "active")
        .order_by(Placement.intake_date, Placement.id)
        .limit(500)
    ).all()
    tracks = (
        {t.id: t for t in db.session.scalars(select(Track).where(Track.id.in_({p.track_id for p in placements})))}
        if placements
        else {}
    )
    groups = {}
    for placement in placements:
        track = tracks[placement.track_id]
        day = chosen or local_today(track.timezone, now)
        sessions = [s for s in track.sessions if s["day"] == WEEKDAYS[day.weekday()]]
        if not sessions or placement.intake_date > day:
            continue
        audit.record("placement.list", "placement", placement.id, user=user)
        referral = db.session.get(Referral, placement.referral_id)
        audit.record("referral.read", "referral", referral.id, user=user)  # the roster shows the name
        rows = offer_queries.attendance_of(placement)
        recorded = next((r for r in rows if r.session_date == day), None)
        group = groups.setdefault(
            track.id, {"track": track, "program": track.program, "day": day, "sessions": sessions, "patients": []}
        )
        group["patients"].append(
            {
                "placement": placement,
                "name": "%s %s" % (referral.given_name, referral.family_name),
                "referral_status": referral.status,
                "today": recorded,
                "first_day": placement.intake_date == day,
                "attended": offer_queries.sessions_attended(rows),
                "missed_in_a_row": offer_queries.current_missed_run(rows),
            }
        )
    ordered = sorted(
        groups.values(), key=lambda grp: (grp["sessions"][0]["start"], grp["program"].name, grp["track"].name)
    )
    return render("roster.html", groups=ordered, chosen=chosen, now=now, statuses=ATTENDANCE_STATUSES)


@bp.post("/roster/attendance")
@permits(policy.MANAGE_PLACEMENT)
def record_attendance():
    user = g.user
    placement_id = (request.form.get("placement_id") or "")[:36]
    back = url_for("web.roster", date=request.form.get("back_date") or None)
    try:
        data = forms.load(
            AttendanceInSchema(),
            {"date": forms.text(request.form, "date"), "status": forms.text(request.form, "status")},
        )
        row, lapse = offer_commands.record_attendance(user, placement_id, data["date"], data["status"], utcnow())
    except (forms.FormErrors, DomainError) as error:
        return refused(
            error, "Attendance was not recorded", back, partial(offer_commands.placement_to_manage, user, placement_id)
        )
    placement = db.session.get(Placement, row.placement_id)
    referral = db.session.get(Referral, placement.referral_id)
    text = "%s %s: %s on %s." % (
        referral.given_name,
        referral.family_name,
        row.status,
        row.session_date.strftime("%a %b %d"),
    )
    if lapse is not None:
        text += " Missed sessions in a row: the planner and the health plan are alerted."
    notice(text, "warning" if lapse is not None else "success")
    return redirect(back + "#placement-" + placement.id)
