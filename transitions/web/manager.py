"""Case manager pages: the step-down board, a member's journey with outreach, and the follow-up metrics with charts."""

from datetime import timedelta
from functools import partial

from flask import g, redirect, request, url_for
from marshmallow import ValidationError

from transitions import policy
from transitions.core import audit
from transitions.core.clock import local_today, today, utcnow
from transitions.core.db import db
from transitions.core.errors import DomainError, Forbidden, NotFound
from transitions.directory.models import SERVICES
from transitions.discharges import commands as discharge_commands
from transitions.discharges import queries as discharge_queries
from transitions.discharges.models import Discharge
from transitions.discharges.schemas import DischargeVisitInSchema
from transitions.followups import commands, dashboards, queries
from transitions.followups.checks import RATE_MEASURES
from transitions.followups.schemas import FollowUpContactInSchema, MetricsQuerySchema, StepdownQuerySchema
from transitions.identity import queries as identity_queries
from transitions.referrals import queries as referral_queries
from transitions.web import charts, forms
from transitions.web.blueprint import bp, notice, permits, render

BOARD_LIMIT = 500
# The board's columns: the stage a member is at, from nobody arranging a step-down (a discharge without referral the
# ADT feed told of: the members to call) and waiting for a seat to the end of the episode.
NO_STEP_DOWN = "no_step_down"
COLUMNS = (
    (NO_STEP_DOWN, "No step-down arranged", (NO_STEP_DOWN,)),
    ("waiting", "Waiting for a seat", ("submitted", "no_match")),
    ("offered", "Offered", ("offered",)),
    ("placed", "Placed, not started", ("placed",)),
    ("attending", "Attending", ("attending",)),
    ("ended", "Episode ended", ("completed", "dropped_out", "readmitted")),
)
# The follow-up rates over every member: charted by discharge cohort (the needs-specific ones are tiles only), and
# their checks are milestones of a member's journey.
MEMBER_RATES = tuple(measure for measure in RATE_MEASURES if measure.needs is None)


def _filters_from(args, schema, keys):
    """Query-string filters through the API's schema; blanks dropped, invalid ones reported, not applied."""
    raw = {key: args.get(key).strip() for key in keys if (args.get(key) or "").strip()}
    try:
        return schema.load(raw), {}
    except ValidationError as error:  # the page shows the messages next to the filters
        messages = error.messages
        valid = {k: v for k, v in raw.items() if k not in messages}
        return schema.load(valid), forms.flatten(messages)


def _filter_form(errors, organizations, payers):
    """What a dashboard's filter form shows: the query as typed, the filters ignored and why, and the choices of
    referring organization and payer."""
    return {"args": request.args, "errors": errors, "organizations": organizations, "payers": payers}


@bp.get("/board")
@permits(policy.VIEW_DASHBOARDS)
def board():
    user, now = g.user, utcnow()
    filters, errors = _filters_from(
        request.args,
        StepdownQuerySchema(),
        ("need", "overdue", "missed", "discharge_from", "discharge_to", "payer_id", "organization_id"),
    )
    subjects, details, cursor = dashboards.stepdowns(user, dict(filters, limit=BOARD_LIMIT), now)
    placements = [d["placement"] for d in details.values() if d["placement"] is not None]
    track_names = referral_queries.names_for({p.track_id for p in placements})["tracks"]
    columns = {key: {"key": key, "title": title, "cards": []} for key, title, _ in COLUMNS}
    stage = {status: key for key, _, statuses in COLUMNS for status in statuses}
    for subject in subjects:
        detail = details[subject.id]
        if isinstance(subject, Discharge):
            columns[NO_STEP_DOWN]["cards"].append(_discharge_card(subject, detail))
            continue
        columns[stage.get(subject.status, "waiting")]["cards"].append(_referral_card(subject, detail, track_names, now))
    referrals = subjects
    org_ids = {r.organization_id for r in referrals} | (
        {filters["organization_id"]} if filters.get("organization_id") else set()
    )
    payers = sorted({r.payer_id for r in referrals if r.payer_id} | set(user.organization.payer_ids or []))
    organizations = identity_queries.organization_choices(org_ids)
    return render(
        "board.html",
        columns=[columns[key] for key, _, _ in COLUMNS],
        filters=filters,
        services=SERVICES,
        truncated=cursor is not None,
        count=len(referrals),
        now=now,
        facility_names=dict(organizations),
        can_record_visit=policy.RECORD_VISIT.allows(user),
        **_filter_form(errors, organizations, payers),
    )


def _referral_card(referral, detail, track_names, now):
    """A referral's card: one status line for where the member is (a future discharge said as planned; a placed
    member's intake said once), and the flags of its checks. The day-1 intake check of a placed member is no longer
    flagged overdue: its intake is scheduled, so the flag would contradict the card (the sweep judges it)."""
    placement = detail["placement"]
    placed = placement is not None and referral.status in ("placed", "attending")
    overdue = [c for c in detail["overdue_checks"] if not (placed and c == "intake_scheduled")]
    next_check = detail["next_check"]
    if placed and next_check and next_check["check"] == "intake_scheduled":
        next_check = None
    intake = None
    if placed and referral.status == "placed":
        day = local_today(referral.timezone, now)
        intake = {"date": placement.intake_date, "passed": placement.intake_date < day}
    return {
        "kind": "referral",
        "referral": referral,
        "detail": detail,
        "program": track_names.get(placement.track_id) if placement else None,
        "intake": intake,
        "next_check": next_check,
        "overdue_checks": overdue,
        "overdue": bool(overdue),
        "missed": bool(detail["missed_checks"]),
    }


def _discharge_card(discharge, detail):
    """A discharge without referral's card: the member to call, with a way to record a visit."""
    return {
        "kind": "discharge",
        "discharge": discharge,
        "detail": detail,
        "next_check": detail["next_check"],
        "overdue_checks": detail["overdue_checks"],
        "overdue": bool(detail["overdue_checks"]),
        "missed": bool(detail["missed_checks"]),
        "today": local_today(discharge.timezone, utcnow()),
    }


@bp.get("/members/<referral_id>")
@permits(policy.VIEW_DASHBOARDS)
def journey(referral_id):
    user, now = g.user, utcnow()
    referral = policy.get_referral(user, referral_id, "referral.journey")
    events, names = referral_queries.timeline_of(referral)
    followups, contacts = referral_queries.followups_of(referral)
    return render(
        "journey.html",
        referral=referral,
        events=events,
        names=names,
        followups=followups,
        contacts=contacts,
        offers=referral_queries.offers_of(referral, now),
        placement=referral_queries.placement_of(referral),
        others=referral_queries.other_referrals_of_member(user, referral),
        stages=journey_stages(referral, events, followups),
        days_since_discharge=(local_today(referral.timezone, now) - referral.discharge_date).days,
        part2_notice=policy.part2_notice_for(user, referral),
        now=now,
        organization=referral_queries.referring_organization(referral),
        can_contact=policy.CONTACT_FOLLOWUP.allows(user),
        adopted=discharge_queries.adopted_by(referral.id),
    )


def journey_stages(referral, events, followups):
    """The milestones of a step-down, each with the day it happened (or is due) and whether it is done."""
    first = {}
    for event in events:
        first.setdefault(event.type, event.created_at)
    checks = {row.check: row for row in followups}
    stages = [
        {"label": "Discharged", "done": referral.discharge_date <= today(), "when": referral.discharge_date},
        {"label": "Offered", "done": "offer.created" in first, "when": first.get("offer.created")},
        {"label": "Intake scheduled", "done": "offer.accepted" in first, "when": first.get("offer.accepted")},
        {"label": "First session", "done": "referral.attending" in first, "when": first.get("referral.attending")},
    ]
    for measure in MEMBER_RATES:
        row = checks.get(measure.check)
        if row is not None:
            stages.append(
                {
                    "label": row.check,
                    "check": True,
                    "done": row.outcome == "met",
                    "missed": row.outcome == "missed",
                    "when": row.due_date,
                    "outcome": row.outcome,
                }
            )
    return stages


@bp.get("/discharges/<discharge_id>")
@permits(policy.VIEW_DASHBOARDS)
def discharge_page(discharge_id):
    """A discharge without referral: the member, the facility, its checks with outreach, visits and readmissions."""
    user, now = g.user, utcnow()
    discharge, detail = discharge_queries.get_discharge(user, discharge_id)
    contacts = queries.contacts_for([row.id for row in detail["checks"]])
    facility = dict(identity_queries.organization_choices({discharge.organization_id})).get(discharge.organization_id)
    return render(
        "discharge.html",
        discharge=discharge,
        detail=detail,
        contacts=contacts,
        facility=facility,
        days_since_discharge=(local_today(discharge.timezone, now) - discharge.discharge_date).days,
        today=local_today(discharge.timezone, now),
        can_contact=policy.CONTACT_FOLLOWUP.allows(user),
        can_record_visit=policy.RECORD_VISIT.allows(user),
    )


@bp.post("/discharges/<discharge_id>/visits")
@permits(policy.RECORD_VISIT)
def record_discharge_visit(discharge_id):
    """Record a follow-up visit from the board or the discharge's page; a refusal is said where it came from."""
    user, discharge_id = g.user, discharge_id[:36]
    back = (
        url_for("web.board") + "#column-" + NO_STEP_DOWN
        if request.form.get("back") == "board"
        else url_for("web.discharge_page", discharge_id=discharge_id)
    )
    find = partial(policy.get_discharge, user, discharge_id, "discharge.visit")
    try:
        data = forms.load_for(DischargeVisitInSchema(), {"date": forms.text(request.form, "date")}, find)
        discharge, visit = discharge_commands.record_visit(user, discharge_id, data, utcnow())
    except (NotFound, Forbidden):
        raise
    except DomainError as error:
        db.session.rollback()
        failure, status = forms.failed_form(error)
        audit.mark_failed(status)  # the redirect commits: the refused write is still audited as failed
        problems = [m for msgs in failure.errors.values() for m in msgs] or [failure.message]
        notice("The visit was not recorded: %s" % " ".join(problems), "warning")
        return redirect(back, code=303)
    notice(
        "Visit on %s recorded for %s %s."
        % (visit.visit_date.strftime("%b %d"), discharge.given_name, discharge.family_name),
        "success",
    )
    return redirect(back, code=303)


@bp.post("/followups/<followup_id>/contact")
@permits(policy.CONTACT_FOLLOWUP)
def record_contact(followup_id):
    user, followup_id = g.user, followup_id[:36]
    try:
        data = forms.load(
            FollowUpContactInSchema(),
            {"note": forms.text(request.form, "note"), "reached": forms.checkbox(request.form, "reached")},
        )
    except forms.FormErrors as failure:
        # The check is looked up (and the lookup audited) to link back to its member, or to answer 404.
        followup, _ = queries.get_followup(user, followup_id, "followup.contact")
        detail = "; ".join(m for msgs in failure.errors.values() for m in msgs)
        return render(
            "error.html", status=422, title="The outreach was not recorded", detail=detail, back=_member_page(followup)
        )
    followup, _ = commands.record_contact(user, followup_id, data, utcnow())
    notice("Outreach recorded.", "success")
    return redirect(_member_page(followup) + "#followups")


def _member_page(followup):
    """The page of the member a check follows: the referral's journey, or the discharge without referral's page."""
    if followup.referral_id is None:
        return url_for("web.discharge_page", discharge_id=followup.discharge_id)
    return url_for("web.journey", referral_id=followup.referral_id)


# ---------------------------------------------------------------- metrics


def buckets(start, end):
    """Cohort buckets over [start, end]: weeks (Monday-based) up to 16 weeks, months beyond."""
    if (end - start).days <= 16 * 7:
        first = start - timedelta(days=start.weekday())
        result = []
        while first <= end:
            result.append((max(first, start), min(first + timedelta(days=6), end), first.strftime("%b %d")))
            first += timedelta(days=7)
        return result
    result = []
    first = start.replace(day=1)
    while first <= end:
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        result.append((max(first, start), min(following - timedelta(days=1), end), first.strftime("%b %Y")))
        first = following
    return result


@bp.get("/metrics")
@permits(policy.VIEW_DASHBOARDS)
def metrics():
    user, now = g.user, utcnow()
    filters, errors = _filters_from(request.args, MetricsQuerySchema(), ("from", "to", "payer_id", "organization_id"))
    scope = {k: v for k, v in filters.items() if k in ("payer_id", "organization_id")}
    start, end = dashboards.cohort_bounds(filters, today())
    overall, series = queries.metrics(user, dict(scope, from_=start, to=end), now, buckets(start, end))
    rate_chart = charts.line_chart(
        [s["label"] for s in series],
        [(measure.label, [s["metrics"][measure.name]["rate"] for s in series]) for measure in MEMBER_RATES],
        title="Follow-up rates by discharge cohort",
        percent=True,
    )
    median_chart = charts.bar_chart(
        [s["label"] for s in series],
        [s["metrics"]["median_days_to_first_session"]["value"] for s in series],
        title="Median days from discharge to first session",
        unit="days",
        target=7,
        target_label="7-day target",
    )
    reasons = sorted(overall["decline_reasons"].items(), key=lambda kv: -kv[1])
    return render(
        "metrics.html",
        overall=overall,
        series=series,
        rate_chart=rate_chart,
        median_chart=median_chart,
        measures=RATE_MEASURES,
        charted=MEMBER_RATES,
        reasons=reasons,
        start=start,
        end=end,
        **_filter_form(
            errors, referral_queries.referring_organizations(user), sorted(user.organization.payer_ids or [])
        ),
    )
