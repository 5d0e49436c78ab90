"""The admin pages: organizations and users made and changed through the identity commands (errors beside their
fields, what was typed kept, a new token shown once), and the ADT inbox with its audited raw-message view."""

import html
import re

import pytest
from sqlalchemy import select

from tests.support.hl7msgs import adt
from transitions.adt.models import AdtMessage
from transitions.core.db import db
from transitions.core.models import AuditRecord
from transitions.identity.models import Organization, User
from transitions.web import admin as admin_pages


def text(response):
    return html.unescape(response.get_data(as_text=True))


def field_error(page, name):
    """The error text shown beside a form field (its id-error paragraph), or None."""
    match = re.search(r'<p class="field-error" id="%s-error">(.*?)</p>' % re.escape(name), page, re.S)
    return " ".join(match.group(1).split()) if match else None


def value_of(page, name):
    match = re.search(r'<input id="%s" name="%s" type="\w+" value="([^"]*)"' % (name, name), page)
    return match.group(1) if match else None


def organization(app, name):
    with app.app_context():
        row = db.session.scalar(select(Organization).where(Organization.name == name))
        return None if row is None else (row.id, row.kind, row.payer_ids, row.hl7_facility_ids, row.timezone)


@pytest.fixture
def admin(as_user):
    return as_user("admin")


# ---------------------------------------------------------------- who may


@pytest.mark.parametrize("who", ["planner", "manager", "coordinator"])
def test_only_admins_reach_the_admin_pages(app, as_user, world, who):
    client = as_user(who)
    for path in ("/admin/users", "/admin/organizations", "/admin/adt", "/admin/adt/%s" % ("0" * 32)):
        assert client.get(path).status_code == 403, path
    hospital = world.orgs["hospital"]
    assert client.get("/admin/organizations/%s/edit" % hospital).status_code == 403
    assert client.post("/admin/organizations", {"name": "X", "kind": "hospital"}).status_code == 403
    assert client.post("/admin/users", {"email": "x@example.org"}).status_code == 403
    assert organization(app, "X") is None


def test_a_form_without_the_csrf_token_changes_nothing(app, admin):
    response = admin.post("/admin/organizations", {"name": "No token", "kind": "hospital"}, csrf=False)
    assert response.status_code == 403
    assert organization(app, "No token") is None


# ---------------------------------------------------------------- organizations


def test_an_admin_creates_a_hospital_with_facility_ids_and_a_time_zone(app, admin):
    response = admin.post(
        "/admin/organizations",
        {
            "name": "Mercy General",
            "kind": "hospital",
            "hl7_facility_ids": "MERCY, MERCY-2",
            "timezone": "America/Chicago",
        },
    )
    assert response.status_code == 302
    organization_id, kind, payers, facilities, zone = organization(app, "Mercy General")
    assert (kind, payers, facilities, zone) == ("hospital", [], ["MERCY", "MERCY-2"], "America/Chicago")
    page = text(admin.get(response.headers["Location"]))
    assert "Created Mercy General (Hospital)." in page
    assert 'id="organization-%s"' % organization_id in page and "MERCY, MERCY-2" in page


def test_a_plan_is_created_with_its_payer_ids(app, admin):
    assert (
        admin.post(
            "/admin/organizations", {"name": "Acme Plan", "kind": "health_plan", "payer_ids": "acme-2"}
        ).status_code
        == 302
    )
    assert organization(app, "Acme Plan")[1:4] == ("health_plan", ["acme-2"], [])


def test_a_bad_organization_form_keeps_what_was_typed_and_says_what_is_wrong_beside_each_field(app, admin):
    response = admin.post(
        "/admin/organizations", {"name": "", "kind": "hospital", "hl7_facility_ids": "BAD ID!", "timezone": "UTC"}
    )
    assert response.status_code == 422
    page = text(response)
    assert "The organization was not created." in page
    assert field_error(page, "name") == "This is required."
    assert "letters, digits" in field_error(page, "hl7_facility_ids")
    assert value_of(page, "hl7_facility_ids") == "BAD ID!"
    assert re.search(r'<option value="hospital" selected>', page)
    # The field says it is the one at fault, for screen readers too.
    assert re.search(
        r'id="hl7_facility_ids"[^>]*aria-describedby="[^"]*hl7_facility_ids-error"[^>]*aria-invalid="true"', page
    )
    # Payer ids on a hospital.
    page = text(admin.post("/admin/organizations", {"name": "Payer hospital", "kind": "hospital", "payer_ids": "acme"}))
    assert field_error(page, "payer_ids") == "Only health plans follow payer ids."
    assert value_of(page, "payer_ids") == "acme" and value_of(page, "name") == "Payer hospital"
    # No kind chosen, and a time zone nobody has.
    page = text(admin.post("/admin/organizations", {"name": "Nowhere", "timezone": "Mars/Olympus"}))
    assert field_error(page, "kind") == "This is required."
    assert field_error(page, "timezone")
    assert value_of(page, "name") == "Nowhere"
    assert organization(app, "Nowhere") is None and organization(app, "Payer hospital") is None


def test_a_facility_id_held_by_another_organization_is_refused_beside_the_field(app, admin):
    assert (
        admin.post(
            "/admin/organizations", {"name": "First", "kind": "hospital", "hl7_facility_ids": "SHARED"}
        ).status_code
        == 302
    )
    response = admin.post(
        "/admin/organizations", {"name": "Second", "kind": "residential", "hl7_facility_ids": "SHARED"}
    )
    assert response.status_code == 409
    page = text(response)
    assert field_error(page, "hl7_facility_ids") == "The HL7 facility id SHARED is already registered to First."
    assert value_of(page, "name") == "Second"
    assert organization(app, "Second") is None


def test_an_admin_edits_a_hospitals_facility_ids_name_and_time_zone(app, admin, world):
    hospital = world.orgs["hospital"]
    page = text(admin.get("/admin/organizations/%s/edit" % hospital))
    assert value_of(page, "name") == "hospital org"
    assert 'id="payer_ids"' not in page  # a hospital follows no payer ids
    response = admin.post(
        "/admin/organizations/%s/edit" % hospital,
        {"name": "General Hospital", "hl7_facility_ids": "GENHOSP; GEN-ER", "timezone": "America/New_York"},
    )
    assert response.status_code == 302
    assert organization(app, "General Hospital")[1:] == ("hospital", [], ["GENHOSP", "GEN-ER"], "America/New_York")
    # Emptying the list unregisters the feed.
    assert (
        admin.post(
            "/admin/organizations/%s/edit" % hospital, {"name": "General Hospital", "timezone": "UTC"}
        ).status_code
        == 302
    )
    assert organization(app, "General Hospital")[3] == []


def test_a_bad_edit_saves_nothing_and_shows_the_problems_beside_the_fields(app, admin, world):
    hospital, other = world.orgs["hospital"], world.orgs["hospital2"]
    assert (
        admin.post(
            "/admin/organizations/%s/edit" % other, {"name": "hospital2 org", "hl7_facility_ids": "TAKEN"}
        ).status_code
        == 302
    )
    response = admin.post("/admin/organizations/%s/edit" % hospital, {"name": "", "hl7_facility_ids": "OK-1 a/b"})
    assert response.status_code == 422
    page = text(response)
    assert field_error(page, "name") == "This is required."
    assert "letters, digits" in field_error(page, "hl7_facility_ids")
    assert value_of(page, "hl7_facility_ids") == "OK-1 a/b"
    response = admin.post("/admin/organizations/%s/edit" % hospital, {"name": "Renamed", "hl7_facility_ids": "TAKEN"})
    assert response.status_code == 409
    assert "already registered to hospital2 org" in field_error(text(response), "hl7_facility_ids")
    assert organization(app, "Renamed") is None
    assert organization(app, "hospital org")[3] == []


def test_a_plans_payer_ids_are_edited_and_an_unknown_organization_is_a_404(app, admin, world):
    plan = world.orgs["plan"]
    page = text(admin.get("/admin/organizations/%s/edit" % plan))
    assert value_of(page, "payer_ids") == "acme-health" and 'id="hl7_facility_ids"' not in page
    assert (
        admin.post(
            "/admin/organizations/%s/edit" % plan, {"name": "plan org", "payer_ids": "acme-health, acme-2"}
        ).status_code
        == 302
    )
    assert organization(app, "plan org")[2] == ["acme-health", "acme-2"]
    assert admin.get("/admin/organizations/%s/edit" % ("0" * 32)).status_code == 404


# ---------------------------------------------------------------- users


def test_an_admin_creates_a_user_and_sees_the_token_once(app, api, admin, world):
    response = admin.post(
        "/admin/users",
        {"email": "New.Planner@Example.org", "organization_id": world.orgs["hospital"], "role": "discharge_planner"},
    )
    assert response.status_code == 200
    page = text(response)
    token = re.search(r'<input id="new-token" type="text" value="([^"]+)"', page).group(1)
    assert "shown only now" in page and "new.planner@example.org" in page
    me = api.get("/api/v1/users/me", token=token)
    assert me.status_code == 200 and me.json["role"] == "discharge_planner"
    listing = text(admin.get("/admin/users"))
    assert "new.planner@example.org" in listing and token not in listing


def test_a_bad_user_form_keeps_what_was_typed_and_says_what_is_wrong(app, admin, world):
    page = text(
        admin.post("/admin/users", {"email": "not an email", "organization_id": world.orgs["plan"], "role": ""})
    )
    assert field_error(page, "email") == "Enter an email address, such as name@example.org."
    assert field_error(page, "role") == "This is required."
    assert value_of(page, "email") == "not an email"
    assert re.search(r'<option value="%s" selected>plan org \(Health plan\)</option>' % world.orgs["plan"], page)
    # A planner belongs to a hospital or a residential program, not a plan.
    response = admin.post(
        "/admin/users", {"email": "cm@example.org", "organization_id": world.orgs["plan"], "role": "discharge_planner"}
    )
    assert response.status_code == 422
    assert "hospital or residential, not health_plan" in field_error(text(response), "role")
    # An email already taken.
    response = admin.post(
        "/admin/users",
        {"email": "planner@example.org", "organization_id": world.orgs["hospital"], "role": "discharge_planner"},
    )
    assert response.status_code == 409
    assert field_error(text(response), "email") == "A user with this email already exists."
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "cm@example.org")) is None


def test_the_password_form_still_works_beside_the_new_user_form(admin, emails):
    page = text(admin.get("/admin/users"))
    user_id = re.search(r'action="/admin/users/([^/]+)/password"', page).group(1)
    assert admin.post("/admin/users/%s/password" % user_id, {"password": "a new long password"}).status_code == 302


# ---------------------------------------------------------------- the ADT inbox


def send(api, world, message):
    return api.client.post(
        "/api/v1/adt",
        data=message,
        headers={"Authorization": "Bearer %s" % world.tokens["admin"], "Content-Type": "application/hl7-v2"},
    )


@pytest.fixture
def inbox(app, api, world, admin):
    """Three stored messages: a refused one (facility not yet registered), then two acknowledged ones."""
    assert send(api, world, adt(control_id="EARLY")).status_code == 422
    assert (
        admin.post(
            "/admin/organizations/%s/edit" % world.orgs["hospital"],
            {"name": "hospital org", "hl7_facility_ids": "GENHOSP"},
        ).status_code
        == 302
    )
    for control_id in ("A08-1", "A08-2"):
        assert send(api, world, adt(trigger="A08", control_id=control_id)).status_code == 200
    with app.app_context():
        return {row.control_id: row.id for row in db.session.scalars(select(AdtMessage))}


def test_the_inbox_lists_messages_newest_first_filtered_by_state_and_in_pages(app, admin, inbox, clock, monkeypatch):
    page = text(admin.get("/admin/adt"))
    rows = re.findall(r'<a href="/admin/adt/([0-9a-f-]+)">', page)
    assert set(rows) == set(inbox.values())
    assert (
        "GENHOSP" in page
        and "ADT^A08" in page
        and "Refused (AR)" in page
        and "is registered to no organization" in page
    )
    assert "Lopez" not in page  # the list never shows the patient
    refused = text(admin.get("/admin/adt?state=rejected"))
    assert re.findall(r'<a href="/admin/adt/([0-9a-f-]+)">', refused) == [inbox["EARLY"]]
    assert "No messages in this state." in text(admin.get("/admin/adt?state=error"))
    assert admin.get("/admin/adt?state=nonsense").status_code == 200  # an unknown state shows every message
    monkeypatch.setattr(admin_pages, "INBOX_PAGE", 2)
    first = text(admin.get("/admin/adt"))
    cursor = html.unescape(re.search(r'href="/admin/adt\?cursor=([^"]+)">Older messages', first).group(1))
    second = text(admin.get("/admin/adt", query_string={"cursor": cursor}))
    seen = re.findall(r'<a href="/admin/adt/([0-9a-f-]+)">', first) + re.findall(
        r'<a href="/admin/adt/([0-9a-f-]+)">', second
    )
    assert sorted(seen) == sorted(inbox.values()) and "Older messages" not in second
    assert admin.get("/admin/adt?cursor=forged").status_code == 400


def test_a_stored_message_is_shown_as_received_to_admins_and_every_view_is_audited(app, admin, inbox):
    message_id = inbox["A08-1"]
    page = text(admin.get("/admin/adt/%s" % message_id))
    assert "PID|1||MRN123^^^GENHOSP^MR~ACM123456^^^ACME^MB||Lopez^Maria^^^^^L||19900412|F" in page
    assert "recorded in the audit log" in page and "hospital org" in page
    missing = "0" * 32
    assert admin.get("/admin/adt/%s" % missing).status_code == 404
    with app.app_context():
        rows = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "adt.read")).all()
        assert sorted((row.object_id, row.outcome) for row in rows) == sorted(
            [(message_id, "allowed"), (missing, "denied")]
        )
