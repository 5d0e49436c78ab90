"""Discharge planner pages: new referral, my referrals by status, the referral with its matches, offers and history."""

from functools import partial
from urllib.parse import urlencode

from flask import current_app, g, jsonify, redirect, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from transitions import policy
from transitions.core import codes
from transitions.core.clock import today, utcnow
from transitions.core.db import db
from transitions.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from transitions.directory.models import SERVICES, WEEKDAYS, Track
from transitions.matching import present as matching_present
from transitions.matching import queries as matching_queries
from transitions.offers import commands as offer_commands
from transitions.offers import queries as offer_queries
from transitions.referrals import commands, queries
from transitions.referrals.models import REFERRAL_STATUSES
from transitions.referrals.schemas import REFERRAL_CHANGES, CancelInSchema, ReferralInSchema
from transitions.referrals.states import EDITABLE, OFFERABLE, TERMINAL
from transitions.web import forms, icd
from transitions.web import present as web_present
from transitions.web.blueprint import bp, error_page, notice, permits, render
from transitions.web.present import US_TIMEZONES, language_choices

MATCH_LIMIT = 10
LIST_LIMIT = 100
# What the list is called for each role (tab title, heading): a planner's organization's own referrals, a plan's
# members; wording only, what each role sees is referral_visibility's.
LIST_NAMES = {"discharge_planner": ("My referrals", "My referrals"), "case_manager": ("Referrals", "Members")}


def listed(names):
    """Names as a sentence lists them: "A", "A and B", "A, B and C"."""
    names = list(names)
    return names[0] if len(names) == 1 else "%s and %s" % (", ".join(names[:-1]), names[-1])


def _zip_timezone(zip_code):
    location = codes.zip_location(zip_code)
    return location[3] if location and location[3] in codes.iana_timezones() else None


# ---------------------------------------------------------------- my referrals


@bp.get("/referrals")
@permits(policy.BROWSE_REFERRALS)
def referrals():
    user = g.user
    status = request.args.get("status") or None
    if status not in REFERRAL_STATUSES:
        status = None
    counts = queries.counts_by_status(user)
    filters = {"status": status} if status else {}
    rows, cursor = queries.list_referrals(user, dict(filters, limit=LIST_LIMIT, cursor=request.args.get("cursor")))
    title, heading = LIST_NAMES.get(user.role, ("Referrals", "Referrals"))
    # Not `status=`: render() takes that as the HTTP status (?status=offered answered "0 offered").
    return render(
        "referrals.html",
        rows=rows,
        counts=counts,
        current_status=status,
        cursor=cursor,
        title=title,
        heading=heading,
        statuses=REFERRAL_STATUSES,
        total=sum(counts.values()),
    )


# ---------------------------------------------------------------- new referral


def _form_context(form, errors=None, message=None):
    errors = forms.plain_errors(errors or {})
    payers = matching_queries.payer_choices()
    current = form.get("coverage.payer_id")
    if current and current != forms.SELF_PAY and current not in dict(payers):
        payers.append((current, current))  # a payer nobody listed yet stays chosen, as typed
    return dict(
        form=form,
        errors=errors,
        error_items=forms.error_items(errors),
        message=message,
        payers=payers,
        self_pay_value=forms.SELF_PAY,
        notes_max=forms.NOTES_MAX_CHARS,
        max_body_kb=current_app.config["MAX_CONTENT_LENGTH"] // 1024,
        languages=language_choices(),
        timezones=US_TIMEZONES,
        grid_hours=forms.GRID_HOURS,
        weekdays=WEEKDAYS,
        quick_fills=forms.QUICK_FILLS,
        services=SERVICES,
        checked_cells=set(form.getlist("availability")) if hasattr(form, "getlist") else set(),
        today=today(),
    )


@bp.route("/referrals/new", methods=["GET", "POST"])
@permits(policy.SUBMIT_REFERRAL)
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
        referral = commands.submit_referral(g.user, data, utcnow())
    except forms.FormErrors as failure:
        return render("referral_new.html", status=422, **_form_context(form, failure.errors, failure.message))
    except Conflict as conflict:
        db.session.rollback()  # a lost race leaves the session failed; the page reads the payers again
        existing = conflict.extra.get("existing_referral_id")
        if existing is None:
            return render("referral_new.html", status=409, **_form_context(form, {}, conflict.detail))
        status = web_present.STATUS_LABELS.get(conflict.extra.get("existing_status"), "open").lower()
        message = "This patient already has an open referral from your organization (%s)." % status
        return render(
            "referral_new.html", status=409, existing_referral_id=existing, **_form_context(form, {}, message)
        )
    except ValidationFailed as failure:
        error = forms.domain_form_errors(failure)
        return render("referral_new.html", status=422, **_form_context(form, error.errors, error.message))
    notice("Referral submitted. Below are the programs that can take %s." % referral.given_name, "success")
    return redirect(url_for("web.referral", referral_id=referral.id))


@bp.errorhandler(RequestEntityTooLarge)
def form_too_large(error):
    """A form over the request size limit (werkzeug reads none of it, so nothing is saved): a page that says why and
    how to get back to what was typed (the browser's Back keeps it), never a bare 413. The planner form's script
    stops such a form before it is sent; this is for browsers without it."""
    limit = current_app.config["MAX_CONTENT_LENGTH"] // 1024
    detail = (
        "The form was too large to send (over %d KB), so nothing was saved. Go back with your browser's Back button "
        "(your browser keeps what you typed) and shorten the longest text: notes can be at most 5,000 characters."
        % limit
    )
    return error_page(413, "The form was too large to send", detail)


@bp.get("/codes/icd10.json")
@permits(policy.LOOK_UP_CODES)
def icd10_search_json():
    return jsonify({"items": icd.search(request.args.get("q", ""), limit=20)})


@bp.get("/codes/icd10")
@permits(policy.LOOK_UP_CODES)
def icd10_search():
    query = request.args.get("q", "")
    return render("codes.html", query=query, items=icd.search(query, limit=50) if query.strip() else [])


# ---------------------------------------------------------------- one referral


def referral_context(user, referral):
    now = utcnow()
    events, names = queries.timeline_of(referral)
    followups, contacts = queries.followups_of(referral)
    offers = queries.offers_of(referral, now)
    live = [o for o in offers if o["status"] == "pending"]
    consent_ok = offer_queries.consent_blocker(referral, now) is None
    matches = None
    excluded = []
    view = None
    if referral.status in OFFERABLE and policy.FIND_MATCHES.allows(user, referral):
        view = matching_queries.planner_matches(user, referral.id, MATCH_LIMIT, now)
        matches = [
            dict(matching_present.match(v), above_next=edge, distinct_reasons=distinct)
            for v, edge, distinct in zip(view.result.items, view.edges, view.distinct_reasons, strict=True)
        ]
        excluded = matching_present.excluded_in_words(view.result.excluded)
    max_pending = int(current_app.config.get("MAX_PENDING_OFFERS", 3))
    editable = referral.status in EDITABLE
    may_edit = editable and policy.CHANGE_REFERRAL.allows(user, referral)
    return dict(
        shared_reasons=view.shared_reasons if view else [],
        widenings=[
            dict(
                label=w.label[:1].upper() + w.label[1:],
                gained=w.gained,
                edit_url=_edit_url(referral.id, w.changes) if may_edit else None,
            )
            for w in (view.widenings if view else [])
        ],
        near_misses=view.near_misses if view else [],
        may_edit=may_edit,
        referral=referral,
        events=events,
        names=names,
        followups=followups,
        contacts=contacts,
        offers=offers,
        live_programs={o["offer"].program_id for o in live},
        slots=max(0, max_pending - len(live)),
        max_pending=max_pending,
        matches=matches,
        excluded=excluded,
        can_offer=policy.SEND_OFFER.allows(user, referral) and referral.status in OFFERABLE and consent_ok,
        consent_ok=consent_ok,
        placement=queries.placement_of(referral),
        part2_notice=policy.part2_notice_for(user, referral),
        terminal=referral.status in TERMINAL,
        organization=queries.referring_organization(referral),
        editable=editable,
        today=today(),
        now=now,
    )


def _edit_url(referral_id, changes):
    return "%s?%s" % (url_for("web.edit_referral", referral_id=referral_id), urlencode(forms.change_query(changes)))


@bp.get("/referrals/<referral_id>")
@permits(policy.BROWSE_REFERRALS)
def referral(referral_id):
    item = policy.get_referral(g.user, referral_id)
    return render("referral.html", **referral_context(g.user, item))


@bp.post("/referrals/<referral_id>/offers")
@permits(policy.SEND_OFFER)
def send_offers(referral_id):
    user, now = g.user, utcnow()
    track_ids = [t for t in request.form.getlist("track_id") if t][:10]
    if not track_ids:
        # Nothing to send, but an unknown or another organization's referral is still the 404 (or 403) it is.
        item = policy.get_referral(user, referral_id, "offer.create")
        policy.SEND_OFFER.require(user, item)
        notice("Choose at least one program to offer.", "error")
        return redirect(url_for("web.referral", referral_id=item.id))
    sent, failed = [], []
    for track_id in track_ids:
        try:
            # Each offer in its own savepoint: one that fails (no seat, limit reached) leaves the others standing.
            with db.session.begin_nested():
                offer = offer_commands.send_offer(user, referral_id, track_id, now)
            sent.append(db.session.get(Track, offer.track_id).program.name)
        except (NotFound, Forbidden):
            raise  # the referral itself: the error page, not a per-offer note
        except DomainError as error:
            track = db.session.get(Track, track_id)
            failed.append("%s: %s" % (track.program.name, error.detail) if track else "a track that does not exist")
    if sent:
        notice("%s sent to %s." % ("Offer" if len(sent) == 1 else "Offers", listed(sent)), "success")
    for message in failed:
        notice("Not offered — %s" % message, "error")
    return redirect(url_for("web.referral", referral_id=referral_id))


@bp.post("/referrals/<referral_id>/offers/<offer_id>/withdraw")
@permits(policy.WITHDRAW_OFFER)
def withdraw_offer(referral_id, offer_id):
    offer = offer_commands.withdraw_offer(g.user, offer_id, utcnow())
    notice("Offer withdrawn; its seat is free again.", "success")
    return redirect(url_for("web.referral", referral_id=offer.referral_id))


def _referral_lookup(referral_id, action):
    """The lookup of the referral a form acts on, for forms.load_for: an unknown one is an audited 404 first."""
    return partial(policy.get_referral, g.user, referral_id, action)


@bp.post("/referrals/<referral_id>/cancel")
@permits(policy.CANCEL_REFERRAL)
def cancel_referral(referral_id):
    form = {"reason": forms.text(request.form, "reason")}
    data = forms.load_for(CancelInSchema(), form, _referral_lookup(referral_id, "referral.cancel"))
    item = commands.cancel_referral(g.user, referral_id, data.get("reason"), utcnow())
    notice("Referral cancelled; pending offers were withdrawn.", "success")
    return redirect(url_for("web.referral", referral_id=item.id))


@bp.post("/referrals/<referral_id>/consent")
@permits(policy.CHANGE_REFERRAL)
def record_consent(referral_id):
    find = _referral_lookup(referral_id, "referral.update")
    try:
        changes = forms.load_for(REFERRAL_CHANGES, forms.consent_payload(request.form), find)
    except ValidationFailed as failure:
        # Back to the referral page (found, so referral_id is its id) with the reason (post/redirect/get), rather
        # than a 422 page of PHI.
        plain = forms.plain_errors(forms.flatten(failure.errors))
        messages = [m for msgs in plain.values() for m in msgs] or [failure.detail]
        notice("The consent was not recorded: %s" % " ".join(messages), "error")
        return redirect(url_for("web.referral", referral_id=referral_id))
    item = commands.update_referral(g.user, referral_id, changes, utcnow())
    notice("Part 2 consent recorded.", "success")
    return redirect(url_for("web.referral", referral_id=item.id))


@bp.post("/referrals/<referral_id>/consent/revoke")
@permits(policy.REVOKE_CONSENT)
def revoke_consent(referral_id):
    item = offer_commands.revoke_consent(g.user, referral_id, utcnow())
    notice("Part 2 consent revoked; pending offers were withdrawn.", "success")
    return redirect(url_for("web.referral", referral_id=item.id))


# ---------------------------------------------------------------- edit a referral


def _edit_context(referral, form, errors=None, message=None):
    errors = forms.plain_errors(errors or {})
    return dict(
        referral=referral,
        form=form,
        errors=errors,
        error_items=forms.error_items(errors),
        message=message,
        timezones=US_TIMEZONES
        + (() if form.get("timezone") in dict(US_TIMEZONES) else ((form.get("timezone"), form.get("timezone")),)),
        grid_hours=forms.GRID_HOURS,
        weekdays=WEEKDAYS,
        quick_fills=forms.QUICK_FILLS,
        checked_cells=set(form.getlist("availability")),
        today=today(),
    )


@bp.route("/referrals/<referral_id>/edit", methods=["GET", "POST"])
@permits(policy.CHANGE_REFERRAL)
def edit_referral(referral_id):
    """The referral's discharge date, hours, travel and modality, changed by the same command as the API's PATCH;
    GET takes changes in its query string (a widening's link) and shows them filled in, unsaved."""
    referral = policy.get_referral(g.user, referral_id, "referral.update")
    policy.CHANGE_REFERRAL.require(g.user, referral)
    if request.method == "GET":
        overrides = {}
        for key in ("discharge_date", "modality", "timezone", "max_travel_miles"):
            if request.args.get(key):
                overrides[key] = request.args[key]
        if request.args.get("availability_mode") == "any":
            overrides["availability"] = None
        elif request.args.getlist("availability"):
            overrides["availability"] = forms.windows_from_grid(request.args.getlist("availability"))
        values = forms.referral_edit_values(referral, overrides)
        return render("referral_edit.html", proposed=bool(overrides), **_edit_context(referral, values))
    form = request.form
    try:
        changes, ui_errors = forms.referral_changes(form)
        try:
            data = forms.load(REFERRAL_CHANGES, changes)
        except forms.FormErrors as failure:
            failure.errors = {**failure.errors, **ui_errors}
            raise
        if ui_errors:
            raise forms.FormErrors(ui_errors)
        commands.update_referral(g.user, referral.id, data, utcnow())
    except (forms.FormErrors, ValidationFailed) as failure:
        error = failure if isinstance(failure, forms.FormErrors) else forms.domain_form_errors(failure)
        return render("referral_edit.html", status=422, **_edit_context(referral, form, error.errors, error.message))
    except Conflict as conflict:
        db.session.rollback()
        return render("referral_edit.html", status=409, **_edit_context(referral, form, {}, conflict.detail))
    notice("Referral updated. The matches below follow the change.", "success")
    return redirect(url_for("web.referral", referral_id=referral.id))
