"""Discharge planner pages: new referral, my referrals by status, the referral with its matches, offers and history."""
from flask import current_app, g, jsonify, redirect, request, url_for
from sqlalchemy import func, select

from transitions import policy
from transitions.core import audit, codes
from transitions.core.clock import today, utcnow
from transitions.core.db import db
from transitions.core.errors import Conflict, DomainError, ValidationFailed
from transitions.core.pagination import keyset_page
from transitions.directory.models import SERVICES, WEEKDAYS, Program, Track
from transitions.followups import service as followup_service
from transitions.identity.models import Organization, User
from transitions.matching import engine as matching
from transitions.notify.models import Event
from transitions.offers import placements as placement_service
from transitions.offers import service as offer_service
from transitions.offers.models import Offer, Placement
from transitions.offers.schemas import OfferInSchema
from transitions.referrals import service as referral_service
from transitions.referrals.models import REFERRAL_STATUSES, Referral
from transitions.referrals.schemas import (
    CancelInSchema,
    ReferralFieldsSchema,
    ReferralInSchema,
)
from transitions.referrals.states import TERMINAL
from transitions.web import forms, icd
from transitions.web.blueprint import bp, notice, render, roles
from transitions.web.present import US_TIMEZONES, language_choices

OFFERABLE = ("submitted", "offered", "no_match")
MATCH_LIMIT = 10
LIST_LIMIT = 100


def _zip_timezone(zip_code):
    location = codes.zip_location(zip_code)
    return location[3] if location and location[3] in codes.iana_timezones() else None


# ---------------------------------------------------------------- my referrals


@bp.get("/referrals")
@roles("discharge_planner", "case_manager", "admin")
def referrals():
    user = g.user
    status = request.args.get("status") or None
    if status not in REFERRAL_STATUSES:
        status = None
    counts = dict(db.session.execute(
        select(Referral.status, func.count()).where(policy.referral_visibility(user)).group_by(Referral.status)).all())
    query = referral_service.list_referrals_query(user, {"status": status} if status else {})
    rows, cursor = keyset_page(query, [Referral.created_at, Referral.id],
                               {"limit": LIST_LIMIT, "cursor": request.args.get("cursor")}, descending=True)
    for referral in rows:
        audit.record("referral.list", "referral", referral.id, user=user)
    return render("referrals.html", rows=rows, counts=counts, status=status, cursor=cursor,
                  statuses=REFERRAL_STATUSES, total=sum(counts.values()))


# ---------------------------------------------------------------- new referral


def _form_context(form, errors=None, message=None):
    return dict(form=form, errors=errors or {}, message=message, languages=language_choices(),
                timezones=US_TIMEZONES, grid_hours=forms.GRID_HOURS, weekdays=WEEKDAYS,
                quick_fills=forms.QUICK_FILLS, services=SERVICES,
                checked_cells=set(form.getlist("availability")) if hasattr(form, "getlist") else set(),
                today=today())


@bp.route("/referrals/new", methods=["GET", "POST"])
@roles("discharge_planner")
def new_referral():
    if request.method == "GET":
        return render("referral_new.html", **_form_context(request.args))
    form = request.form
    try:
        payload, ui_errors = forms.referral_payload(form, _zip_timezone)
        try:
            data = forms.load(ReferralInSchema(), payload)
        except forms.FormErrors as failure:
            failure.errors = {**failure.errors, **ui_errors}
            raise
        if ui_errors:
            raise forms.FormErrors(ui_errors)
        referral = referral_service.create_referral(g.user, data)
    except forms.FormErrors as failure:
        return render("referral_new.html", status=422, **_form_context(form, failure.errors, failure.message))
    except Conflict as conflict:
        existing = conflict.extra.get("existing_referral_id")
        return render("referral_new.html", status=409, existing_referral_id=existing,
                      **_form_context(form, {}, conflict.detail))
    except ValidationFailed as failure:
        error = forms.domain_form_errors(failure)
        return render("referral_new.html", status=422, **_form_context(form, error.errors, error.message))
    audit.record("referral.create", "referral", referral.id, user=g.user)
    notice("Referral submitted. Below are the programs that can take %s." % referral.given_name, "success")
    return redirect(url_for("web.referral", referral_id=referral.id))


@bp.get("/codes/icd10.json")
@roles("discharge_planner", "case_manager", "admin")
def icd10_search_json():
    return jsonify({"items": icd.search(request.args.get("q", ""), limit=20)})


@bp.get("/codes/icd10")
@roles("discharge_planner", "case_manager", "admin")
def icd10_search():
    query = request.args.get("q", "")
    return render("codes.html", query=query, items=icd.search(query, limit=50) if query.strip() else [])


# ---------------------------------------------------------------- one referral


def names_for(track_ids=(), user_ids=(), org_ids=()):
    """Display names for ids an event or offer mentions, in three queries."""
    names = {"tracks": {}, "users": {}, "orgs": {}}
    if track_ids:
        for track_id, track_name, program_name in db.session.execute(
                select(Track.id, Track.name, Program.name).join(Program, Program.id == Track.program_id)
                .where(Track.id.in_(set(track_ids)))):
            names["tracks"][track_id] = "%s, %s" % (program_name, track_name)
    if user_ids:
        names["users"] = dict(db.session.execute(select(User.id, User.email).where(User.id.in_(set(user_ids)))).all())
    if org_ids:
        names["orgs"] = dict(db.session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(set(org_ids)))).all())
    return names


def timeline_of(referral):
    events = db.session.scalars(referral_service.timeline_query(referral).order_by(Event.seq)).all()
    names = names_for([e.data.get("track_id") for e in events if e.data and e.data.get("track_id")],
                      [e.actor_user_id for e in events if e.actor_user_id],
                      [e.actor_org_id for e in events if e.actor_org_id])
    return events, names


def followups_of(referral):
    rows = db.session.scalars(followup_service.referral_query(referral)
                              .order_by(followup_service.FollowUp.due_date, followup_service.FollowUp.id)).all()
    contacts = followup_service.contacts_for([row.id for row in rows])
    return rows, contacts


def offers_of(referral, now):
    rows = db.session.scalars(select(Offer).where(Offer.referral_id == referral.id)
                              .order_by(Offer.created_at, Offer.id)).all()
    names = names_for([o.track_id for o in rows])
    return [{"offer": o, "status": offer_service.effective_status(o, now),
             "name": names["tracks"].get(o.track_id, o.track_id)} for o in rows]


def placement_of(referral):
    placement = db.session.scalar(select(Placement).where(Placement.referral_id == referral.id)
                                  .order_by(Placement.created_at.desc()))
    if placement is None:
        return None
    rows = placement_service.attendance_of(placement)
    return {"placement": placement, "attendance": rows,
            "track_name": names_for([placement.track_id])["tracks"].get(placement.track_id),
            "attended": sum(1 for r in rows if r.status == "attended"),
            "missed_in_a_row": placement_service.current_missed_run(rows)}


def referral_context(user, referral):
    now = utcnow()
    events, names = timeline_of(referral)
    followups, contacts = followups_of(referral)
    offers = offers_of(referral, now)
    live = [o for o in offers if o["status"] == "pending"]
    can_change = user.role == "admin" or (user.role == "discharge_planner"
                                          and referral.organization_id == user.organization_id)
    consent_ok = not referral.is_substance_use or referral.consent_current_on(now.date())
    matches = None
    excluded = {}
    if referral.status in OFFERABLE and user.role in ("discharge_planner", "case_manager", "admin"):
        result = matching.ranked_matches(referral, MATCH_LIMIT, today())
        matches = [matching.describe_match(v) for v in result.items]
        excluded = result.excluded
    max_pending = int(current_app.config.get("MAX_PENDING_OFFERS", 3))
    return dict(
        referral=referral, events=events, names=names, followups=followups, contacts=contacts, offers=offers,
        live_programs={o["offer"].program_id for o in live}, slots=max(0, max_pending - len(live)),
        max_pending=max_pending, matches=matches, excluded=excluded, can_change=can_change,
        can_offer=can_change and referral.status in OFFERABLE and consent_ok, consent_ok=consent_ok,
        placement=placement_of(referral), part2_notice=policy.part2_notice_for(user, referral),
        terminal=referral.status in TERMINAL, organization=db.session.get(Organization, referral.organization_id),
        editable=referral.status in referral_service.EDITABLE_STATUSES, today=today(), now=now,
    )


@bp.get("/referrals/<referral_id>")
@roles("discharge_planner", "case_manager", "admin")
def referral(referral_id):
    item = policy.get_referral(g.user, referral_id)
    if item.status in OFFERABLE:
        audit.record("referral.match", "referral", item.id, user=g.user)
    return render("referral.html", **referral_context(g.user, item))


@bp.post("/referrals/<referral_id>/offers")
@roles("discharge_planner", "admin")
def send_offers(referral_id):
    user = g.user
    item = policy.get_referral(user, referral_id, "offer.create")
    policy.ensure_can_change_referral(user, item, "offer.create")
    track_ids = [t for t in request.form.getlist("track_id") if t][:10]
    if not track_ids:
        notice("Choose at least one program to offer.", "error")
        return redirect(url_for("web.referral", referral_id=item.id))
    sent, failed = [], []
    for track_id in track_ids:
        try:
            data = forms.load(OfferInSchema(), {"track_id": track_id})
            track = db.session.get(Track, data["track_id"])
            if track is None:
                raise ValidationFailed({"track_id": ["No track with this id."]})
            # Each offer in its own savepoint: one that fails (no seat, limit reached) leaves the others standing.
            with offer_service.races_as_conflicts(), db.session.begin_nested():
                offer = offer_service.create_offer(user, item.id, track, utcnow())
            audit.record("offer.create", "offer", offer.id, user=user)
            sent.append(track.program.name)
        except forms.FormErrors:
            failed.append("a track that does not exist")
        except DomainError as error:
            track = db.session.get(Track, track_id)
            failed.append("%s: %s" % (track.program.name, error.detail) if track else "a track that does not exist")
    if sent:
        notice("Offer sent to %s." % "; ".join(sent), "success")
    for message in failed:
        notice("Not offered — %s" % message, "error")
    return redirect(url_for("web.referral", referral_id=item.id))


@bp.post("/referrals/<referral_id>/offers/<offer_id>/withdraw")
@roles("discharge_planner", "admin")
def withdraw_offer(referral_id, offer_id):
    user = g.user
    offer = policy.get_offer(user, offer_id, "offer.withdraw")
    item = db.session.get(Referral, offer.referral_id)
    policy.ensure_can_change_referral(user, item, "offer.withdraw")
    with offer_service.races_as_conflicts():
        offer_service.withdraw_offer(user, offer.id, utcnow())
    notice("Offer withdrawn; its seat is free again.", "success")
    return redirect(url_for("web.referral", referral_id=item.id))


@bp.post("/referrals/<referral_id>/cancel")
@roles("discharge_planner", "admin")
def cancel_referral(referral_id):
    user = g.user
    item = policy.get_referral(user, referral_id, "referral.cancel")
    data = forms.load(CancelInSchema(), {"reason": forms.text(request.form, "reason")})
    with offer_service.races_as_conflicts():
        referral_service.cancel_referral(user, item, data.get("reason"))
    notice("Referral cancelled; pending offers were withdrawn.", "success")
    return redirect(url_for("web.referral", referral_id=item.id))


@bp.post("/referrals/<referral_id>/consent")
@roles("discharge_planner", "admin")
def record_consent(referral_id):
    user = g.user
    item = policy.get_referral(user, referral_id, "referral.update")
    try:
        changes = forms.load(ReferralFieldsSchema(), forms.consent_payload(request.form))
        referral_service.update_referral(user, item, changes)
    except forms.FormErrors as failure:
        # Back to the referral page with the reason (post/redirect/get), rather than a 422 page of PHI.
        messages = [m for msgs in failure.errors.values() for m in msgs] or [failure.message]
        notice("The consent was not recorded: %s" % " ".join(messages), "error")
        return redirect(url_for("web.referral", referral_id=item.id))
    notice("Part 2 consent recorded.", "success")
    return redirect(url_for("web.referral", referral_id=item.id))


@bp.post("/referrals/<referral_id>/consent/revoke")
@roles("discharge_planner", "admin")
def revoke_consent(referral_id):
    user = g.user
    item = policy.get_referral(user, referral_id, "referral.consent_revoke")
    policy.ensure_can_change_referral(user, item, "referral.consent_revoke")
    with offer_service.races_as_conflicts():
        offer_service.revoke_consent(user, item.id, utcnow())
    notice("Part 2 consent revoked; pending offers were withdrawn.", "success")
    return redirect(url_for("web.referral", referral_id=item.id))
