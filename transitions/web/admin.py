"""Admin pages: organizations (their HL7 facility ids, payer ids and time zone), users (a new user's bearer token shown
once; web passwords), and the ADT inbox with each stored message as received.

Organizations and users are made and changed through the same identity commands and schemas as the API; a bad form
comes back with what was typed and each problem beside its field, in plain words.
"""

import json

from flask import g, redirect, request, url_for
from sqlalchemy import true

from transitions import policy
from transitions.adt import queries as adt_queries
from transitions.adt.models import ADT_STATES, AdtMessage
from transitions.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from transitions.identity import commands, queries
from transitions.identity.models import DEFAULT_ORGANIZATION_TIMEZONE, HL7_FACILITY_KINDS, ORG_KINDS, ROLES
from transitions.identity.schemas import ORGANIZATION_CHANGES, OrganizationInSchema, UserInSchema
from transitions.web import forms
from transitions.web.blueprint import ROLE_LABELS, bp, notice, permits, render
from transitions.web.present import US_TIMEZONES

KIND_LABELS = {
    "hospital": "Hospital",
    "residential": "Residential program",
    "health_plan": "Health plan",
    "iop_provider": "IOP provider",
    "platform": "Platform administration",
}
STATE_LABELS = {
    "received": "Received, not yet applied",
    "processed": "Applied",
    "ignored": "Not acted on",
    "rejected": "Refused (AR)",
    "error": "Not applicable (AE)",
}
# The inbox shows this many messages a page, newest first.
INBOX_PAGE = 50
# marshmallow's and the services' wording, as a person filling in a form would say it.
PLAIN_WORDS = {
    "Missing data for required field.": "This is required.",
    "Field may not be null.": "This is required.",
    "Not a valid email address.": "Enter an email address, such as name@example.org.",
    "Not a valid string.": "Enter text here.",
    "Not a valid list.": "Enter the ids separated by commas.",
}


def plain(errors):
    """Field errors in plain words: 'Must be one of: a, b.' becomes 'Choose one of the options.'."""
    worded = {}
    for name, messages in errors.items():
        worded[name] = [
            "Choose one of the options." if message.startswith("Must be one of") else PLAIN_WORDS.get(message, message)
            for message in messages
        ]
    return worded


def timezone_choices(current=None):
    """UTC and the US zones; an organization's other zone (set through the API) stays choosable."""
    choices = [(DEFAULT_ORGANIZATION_TIMEZONE, "UTC")] + [
        (zone, "%s (%s)" % (label, zone)) for zone, label in US_TIMEZONES
    ]
    if current and current not in dict(choices):
        choices.append((current, current))
    return choices


def all_organizations():
    """Every organization, by name: the choices of the new-user form and the organizations list."""
    organizations, cursor = [], None
    while True:
        page, cursor = queries.list_organizations({"limit": 500, "cursor": cursor})
        organizations.extend(page)
        if cursor is None:
            return sorted(organizations, key=lambda organization: organization.name.casefold())


# ---------------------------------------------------------------- users


def _users_page(form=None, errors=None, message=None, status=200):
    return render(
        "admin_users.html",
        status=status,
        rows=queries.users_with_organizations(),
        organization_options=[
            (organization.id, "%s (%s)" % (organization.name, KIND_LABELS.get(organization.kind, organization.kind)))
            for organization in all_organizations()
        ],
        roles=[(role, ROLE_LABELS[role]) for role in ROLES],
        form=form if form is not None else forms.Values(),
        errors=errors or {},
        message=message,
    )


@bp.get("/admin/users")
@permits(policy.ADMINISTER)
def users():
    return _users_page()


@bp.post("/admin/users")
@permits(policy.ADMINISTER)
def create_user():
    payload = {}
    for key in ("email", "organization_id", "role"):
        forms.put(payload, key, forms.text(request.form, key))
    try:
        data = forms.load(UserInSchema(), payload)
        user, token = commands.create_user(g.user, **data)
    except forms.FormErrors as failure:
        return _users_page(request.form, plain(failure.errors), "The user was not created.", 422)
    except Conflict as error:  # the one conflict here: the email is taken
        return _users_page(request.form, {"email": [error.detail]}, "The user was not created.", error.status)
    except DomainError as error:
        failure, status = forms.failed_form(error)
        return _users_page(request.form, plain(failure.errors), "The user was not created.", status)
    return render("admin_user_created.html", user=user, token=token, kind_labels=KIND_LABELS)


@bp.post("/admin/users/<user_id>/password")
@permits(policy.ADMINISTER)
def set_user_password(user_id):
    try:
        user = commands.set_password(g.user, user_id, request.form.get("password") or "")
    except NotFound as error:
        return render("error.html", status=404, title="Not found", detail=error.detail, back=url_for("web.users"))
    except ValidationFailed as error:
        return render(
            "error.html",
            status=422,
            title="The password was not set",
            detail=" ".join(error.errors["password"]),
            back=url_for("web.users"),
        )
    notice("Password set for %s; their open sessions were signed out." % user.email, "success")
    return redirect(url_for("web.users"))


# ---------------------------------------------------------------- organizations


def organization_payload(form, kind=None):
    """The OrganizationInSchema dict of the new-organization form, or the ORGANIZATION_CHANGES dict of an
    organization of this kind (only the fields its kind has: payer ids for plans, facility ids for feeds)."""
    payload = {}
    forms.put(payload, "name", forms.text(form, "name"))
    forms.put(payload, "timezone", forms.text(form, "timezone"))
    if kind is None:
        forms.put(payload, "kind", forms.text(form, "kind"))
    if kind is None or kind == "health_plan":
        payload["payer_ids"] = forms.split_list(form.get("payer_ids"))
    if kind is None or kind in HL7_FACILITY_KINDS:
        payload["hl7_facility_ids"] = forms.split_list(form.get("hl7_facility_ids"))
    return payload


def organization_values(organization):
    return forms.Values(
        name=organization.name,
        timezone=organization.timezone,
        payer_ids=", ".join(organization.payer_ids or []),
        hl7_facility_ids=", ".join(organization.hl7_facility_ids or []),
    )


def organization_errors(error):
    """A service's refusal as field errors: a facility id another organization holds belongs beside that field."""
    if isinstance(error, Conflict) and "hl7_facility_id" in (error.extra or {}):
        return {"hl7_facility_ids": [error.detail]}, error.status
    failure, status = forms.failed_form(error)
    errors = plain(failure.errors)
    if not errors:
        errors = {"_form": [failure.message]}
    return errors, status


def _organizations_page(form=None, errors=None, message=None, status=200):
    return render(
        "admin_organizations.html",
        status=status,
        organizations=all_organizations(),
        kinds=[(kind, KIND_LABELS[kind]) for kind in ORG_KINDS],
        kind_labels=KIND_LABELS,
        timezones=timezone_choices(),
        form=form if form is not None else forms.Values(timezone=DEFAULT_ORGANIZATION_TIMEZONE),
        errors=errors or {},
        message=message,
    )


@bp.get("/admin/organizations")
@permits(policy.ADMINISTER)
def organizations():
    return _organizations_page()


@bp.post("/admin/organizations")
@permits(policy.ADMINISTER)
def create_organization():
    try:
        data = forms.load(OrganizationInSchema(), organization_payload(request.form))
        organization = commands.create_organization(g.user, **data)
    except forms.FormErrors as failure:
        return _organizations_page(request.form, plain(failure.errors), "The organization was not created.", 422)
    except DomainError as error:
        errors, status = organization_errors(error)
        return _organizations_page(request.form, errors, "The organization was not created.", status)
    notice("Created %s (%s)." % (organization.name, KIND_LABELS[organization.kind]), "success")
    return redirect(url_for("web.organizations") + "#organization-" + organization.id)


def _organization_form(organization, form=None, errors=None, message=None, status=200):
    return render(
        "admin_organization_edit.html",
        status=status,
        organization=organization,
        kind_labels=KIND_LABELS,
        feeds=organization.kind in HL7_FACILITY_KINDS,
        timezones=timezone_choices(organization.timezone),
        form=form if form is not None else organization_values(organization),
        errors=errors or {},
        message=message,
    )


def load_changes(payload):
    """ORGANIZATION_CHANGES of the edit form, whose name may not be emptied (the PATCH may leave it out)."""
    required = {} if "name" in payload else {"name": ["This is required."]}
    try:
        changes = forms.load(ORGANIZATION_CHANGES, payload)
    except forms.FormErrors as failure:
        raise forms.FormErrors(required | failure.errors) from None
    if required:
        raise forms.FormErrors(required)
    return changes


@bp.route("/admin/organizations/<organization_id>/edit", methods=["GET", "POST"])
@permits(policy.ADMINISTER)
def edit_organization(organization_id):
    organization = commands.get_organization(g.user, organization_id)
    if request.method == "GET":
        return _organization_form(organization)
    payload = organization_payload(request.form, organization.kind)
    try:
        changes = load_changes(payload)
        organization = commands.update_organization(g.user, organization_id, changes)
    except forms.FormErrors as failure:
        return _organization_form(organization, request.form, plain(failure.errors), "Nothing was saved.", 422)
    except DomainError as error:
        errors, status = organization_errors(error)
        return _organization_form(organization, request.form, errors, "Nothing was saved.", status)
    notice("Saved %s." % organization.name, "success")
    return redirect(url_for("web.organizations") + "#organization-" + organization.id)


# ---------------------------------------------------------------- the ADT inbox


@bp.get("/admin/adt")
@permits(policy.READ_ADT)
def adt_inbox():
    state = request.args.get("state") or None
    if state not in ADT_STATES:
        state = None
    filters = {"state": state} if state else {}
    rows, cursor = adt_queries.list_messages(dict(filters, limit=INBOX_PAGE, cursor=request.args.get("cursor")))
    return render(
        "admin_adt.html",
        rows=rows,
        cursor=cursor,
        current_state=state,
        states=[(name, STATE_LABELS[name]) for name in ADT_STATES],
        state_labels=STATE_LABELS,
        first_page=not request.args.get("cursor"),
    )


def _indented_json(text):
    """A FHIR body one element a line; as it came when it is no JSON the page can show whole (too deep to parse, a
    lone surrogate escaped in it: a body the interface refused is stored as sent)."""
    try:
        indented = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        indented.encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return text
    return indented


@bp.get("/admin/adt/<message_id>")
@permits(policy.READ_ADT)
def adt_message(message_id):
    # The raw message names the patient: every view of it is an audited read (and an unknown id an audited denial).
    message = policy.audited_lookup(g.user, AdtMessage, "adt_message", message_id, lambda user: true(), "adt.read")
    raw = bytes(message.raw).decode("utf-8", "replace")
    # A FHIR message Bundle the interface read (its type recorded): its JSON one element a line, as a segment is. A
    # body refused before it was read (a key twice, too deep) is shown as it came, so the reason can be seen in it.
    if message.channel == "fhir" and message.message_type is not None:
        raw = _indented_json(raw)
    segments = [segment for segment in raw.replace("\r\n", "\r").replace("\n", "\r").split("\r") if segment]
    organization = commands.get_organization(g.user, message.organization_id) if message.organization_id else None
    return render(
        "admin_adt_message.html",
        message=message,
        segments=segments,
        organization=organization,
        state_labels=STATE_LABELS,
    )
