"""Case manager pages: the step-down board, a member's journey with outreach, and the follow-up metrics with charts."""

from datetime import timedelta

from flask import g, redirect, request, url_for
from marshmallow import ValidationError

from transitions import policy
from transitions.core.clock import local_today, today, utcnow
from transitions.directory.models import SERVICES
from transitions.followups import commands, dashboards, queries
from transitions.followups.checks import RATE_MEASURES
from transitions.followups.schemas import FollowUpContactInSchema, MetricsQuerySchema, StepdownQuerySchema
from transitions.identity import queries as identity_queries
from transitions.referrals import queries as referral_queries
from transitions.web import charts, forms
from transitions.web.blueprint import bp, notice, permits, render

BOARD_LIMIT = 500
# The board's columns: the stage a member is at, from waiting for a seat to the end of the episode.
COLUMNS = (
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
    referrals, details, cursor = dashboards.stepdowns(user, dict(filters, limit=BOARD_LIMIT), now)
    placements = [d["placement"] for d in details.values() if d["placement"] is not None]
    track_names = referral_queries.names_for({p.track_id for p in placements})["tracks"]
    columns = {key: {"key": key, "title": title, "cards": []} for key, title, _ in COLUMNS}
    stage = {status: key for key, _, statuses in COLUMNS for status in statuses}
    for referral in referrals:
        detail = details[referral.id]
        placement = detail["placement"]
        columns[stage.get(referral.status, "waiting")]["cards"].append(
            {
                "referral": referral,
                "detail": detail,
                "program": track_names.get(placement.track_id) if placement else None,
                "overdue": bool(detail["overdue_checks"]),
                "missed": bool(detail["missed_checks"]),
            }
        )
    org_ids = {r.organization_id for r in referrals} | (
        {filters["organization_id"]} if filters.get("organization_id") else set()
    )
    payers = sorted({r.payer_id for r in referrals if r.payer_id} | set(user.organization.payer_ids or []))
    return render(
        "board.html",
        columns=[columns[key] for key, _, _ in COLUMNS],
        filters=filters,
        services=SERVICES,
        truncated=cursor is not None,
        count=len(referrals),
        now=now,
        **_filter_form(errors, identity_queries.organization_choices(org_ids), payers),
    )


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
        _, referral = queries.get_followup(user, followup_id, "followup.contact")
        detail = "; ".join(m for msgs in failure.errors.values() for m in msgs)
        return render(
            "error.html",
            status=422,
            title="The outreach was not recorded",
            detail=detail,
            back=url_for("web.journey", referral_id=referral.id),
        )
    followup, _ = commands.record_contact(user, followup_id, data, utcnow())
    notice("Outreach recorded.", "success")
    return redirect(url_for("web.journey", referral_id=followup.referral_id) + "#followups")


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
