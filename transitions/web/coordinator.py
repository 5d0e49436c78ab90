"""IOP coordinator pages: the offer inbox (accept with an intake day, decline with a reason), programs and tracks
with live seats and editing, and today's roster with one-click attendance."""

from datetime import date
from functools import partial

from flask import current_app, g, jsonify, redirect, request, url_for

from transitions import policy
from transitions.core import audit
from transitions.core.clock import local_today, utcnow
from transitions.core.db import db
from transitions.core.errors import DomainError, Forbidden, NotFound
from transitions.directory import commands as program_commands
from transitions.directory import queries as program_queries
from transitions.directory import seats as seat_service
from transitions.directory.models import ORIGINS, SERVICES, WEEKDAYS
from transitions.directory.schemas import PROGRAM_CHANGES, TRACK_CHANGES, TrackInSchema
from transitions.offers import commands as offer_commands
from transitions.offers import queries as offer_queries
from transitions.offers.models import ATTENDANCE_STATUSES, DECLINE_REASONS, Placement
from transitions.offers.schemas import AcceptInSchema, AttendanceInSchema, DeclineInSchema
from transitions.referrals import present as referrals_present
from transitions.referrals.models import Referral
from transitions.web import forms
from transitions.web.blueprint import bp, notice, permits, render
from transitions.web.present import US_TIMEZONES

INTAKE_CHOICES = 10


def refused(error, title, back):
    """A bad form (forms.load_for) or a rule's refusal as an error page linking back; lookup 404s and 403s keep the
    plain page."""
    if isinstance(error, (NotFound, Forbidden)):
        raise error
    failure, status = forms.failed_form(error)
    detail = "; ".join(m for msgs in failure.errors.values() for m in msgs) or failure.message
    return render("error.html", status=status, title=title, detail=detail, back=back)


# ---------------------------------------------------------------- offer inbox


@bp.get("/offers")
@permits(policy.DECIDE_OFFER)
def offer_inbox():
    user, now = g.user, utcnow()
    pending, decided = offer_queries.inbox(user, now)
    cards = [
        dict(
            item,
            referral=referrals_present.referral(user, item["referral"]),
            intake_days=offer_queries.intake_days(item["referral"], item["track"], now, INTAKE_CHOICES),
        )
        for item in pending
    ]
    recent = [
        dict(item, patient="%s %s" % (item["referral"].given_name, item["referral"].family_name)) for item in decided
    ]
    return render("offers.html", cards=cards, recent=recent, decline_reasons=DECLINE_REASONS, now=now)


@bp.post("/offers/<offer_id>/accept")
@permits(policy.DECIDE_OFFER)
def accept_offer(offer_id):
    user = g.user
    find = partial(offer_commands.offer_to_decide, user, offer_id, "offer.accept")
    try:
        data = forms.load_for(AcceptInSchema(), {"intake_date": forms.text(request.form, "intake_date")}, find)
        offer, placement = offer_commands.accept_offer(user, offer_id, data["intake_date"], utcnow())
    except DomainError as error:
        return refused(error, "The offer was not accepted", url_for("web.offer_inbox"))
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
    find = partial(offer_commands.offer_to_decide, user, offer_id, "offer.decline")
    form = {"reason": forms.text(request.form, "reason"), "note": forms.text(request.form, "note")}
    try:
        data = forms.load_for(DeclineInSchema(), form, find)
        offer_commands.decline_offer(user, offer_id, data["reason"], data.get("note"), utcnow())
    except DomainError as error:
        return refused(error, "The offer was not declined", url_for("web.offer_inbox"))
    notice("Offer declined; the seat is free again and the planner will see the reason.", "success")
    return redirect(url_for("web.offer_inbox"))


# ---------------------------------------------------------------- programs and tracks


PROGRAM_SEARCH_FIELDS = ("name", "city", "track")


def _program_search():
    """The programs page's filters from its query string: {name, city, track}, each trimmed, blank ones left out."""
    found = {key: (request.args.get(key) or "").strip()[:200] for key in PROGRAM_SEARCH_FIELDS}
    return {key: value for key, value in found.items() if value}


def _page_number():
    raw = request.args.get("page") or "1"
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 else 1


def _programs_shown(user):
    """The programs page's page of programs, seats and totals; an admin may name one provider (?organization_id=)."""
    return program_queries.editable_programs(
        user, (request.args.get("organization_id") or "")[:36], utcnow(), _program_search(), _page_number()
    )


@bp.get("/programs")
@permits(policy.EDIT_PROGRAM)
def programs():
    shown = _programs_shown(g.user)
    now = utcnow()
    rows = shown["programs"]
    max_age = current_app.config["SEATS_CONFIRMATION_MAX_AGE_DAYS"]
    stale = {t.id for p in rows for t in p.tracks if program_queries.seats_stale(t, now, max_age)}
    claimants = program_queries.claimant_organizations() if policy.CLAIM_PROGRAM.allows(g.user) else []
    search = _program_search()
    # Links to other pages keep the filters (and an admin's provider); the page number is theirs to set.
    kept = {key: value for key, value in request.args.items() if key in PROGRAM_SEARCH_FIELDS + ("organization_id",)}
    return render(
        "programs.html",
        programs=rows,
        seats=shown["seats"],
        totals=shown["totals"],
        page=shown["page"],
        pages=shown["pages"],
        per_page=program_queries.PROGRAMS_PER_PAGE,
        search=search,
        kept=kept,
        stale=stale,
        max_age=max_age,
        claimants=claimants,
        now=now,
    )


@bp.post("/programs/<program_id>/claim")
@permits(policy.CLAIM_PROGRAM)
def claim_program(program_id):
    organization_id = (request.form.get("organization_id") or "")[:36]
    try:
        program = program_commands.claim_program(g.user, program_id, organization_id, utcnow())
    except DomainError as error:
        return refused(error, "The program was not handed over", url_for("web.programs"))
    notice("Handed %s to its provider; their coordinators can now publish its tracks." % program.name, "success")
    return redirect(url_for("web.programs") + "#program-" + program.id)


@bp.post("/tracks/<track_id>/seats-confirmed")
@permits(policy.EDIT_PROGRAM)
def confirm_seats(track_id):
    try:
        track = program_commands.confirm_seats(g.user, track_id, utcnow())
    except DomainError as error:
        return refused(error, "The seats were not confirmed", url_for("web.programs"))
    notice("Seats of %s confirmed: planners see them as current." % track.name, "success")
    return redirect(url_for("web.programs") + "#program-" + track.program_id)


@bp.get("/programs/seats.json")
@permits(policy.EDIT_PROGRAM)
def program_seats():
    return jsonify(_programs_shown(g.user)["seats"])


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
    now = utcnow()
    chosen = _parse_day(request.args.get("date"))
    groups = offer_queries.roster(g.user, chosen, now)
    for group in groups:
        # Attendance is taken on or after the session's day in the track's own zone (the command's rule): a day
        # still ahead shows who is expected, without buttons that could only be refused.
        group["ahead"] = group["day"] > local_today(group["track"].timezone, now)
    return render("roster.html", groups=groups, chosen=chosen, now=now, statuses=ATTENDANCE_STATUSES)


@bp.post("/roster/attendance")
@permits(policy.MANAGE_PLACEMENT)
def record_attendance():
    user = g.user
    placement_id = (request.form.get("placement_id") or "")[:36]
    back = url_for("web.roster", date=request.form.get("back_date") or None)
    find = partial(offer_commands.placement_to_manage, user, placement_id)
    form = {"date": forms.text(request.form, "date"), "status": forms.text(request.form, "status")}
    try:
        data = forms.load_for(AttendanceInSchema(), form, find)
        row, lapse = offer_commands.record_attendance(user, placement_id, data["date"], data["status"], utcnow())
    except (NotFound, Forbidden):
        raise
    except DomainError as error:
        # A refused session (a day still ahead, already recorded, not a session day) is said on the roster it came
        # from, not on an error page: the coordinator is one click from the right day.
        db.session.rollback()
        failure, status = forms.failed_form(error)
        audit.mark_failed(status)  # the redirect commits: the refused write is still audited as failed
        problems = [m for msgs in failure.errors.values() for m in msgs] or [failure.message]
        notice("Attendance was not recorded: %s" % " ".join(problems), "warning")
        return redirect(back, code=303)
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
