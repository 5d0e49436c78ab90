"""The platform's own admins: create-admin's checks, the platform organization, and no admin locking themself out."""

import pytest

from transitions.core.db import db
from transitions.core.errors import ValidationFailed
from transitions.identity import commands
from transitions.identity.models import PLATFORM_KIND, Organization


@pytest.mark.parametrize("email", ["not-an-email", "", "ops@", "@example.org", "a b@example.org"])
def test_create_admin_refuses_what_is_not_an_email(app, email):
    with app.app_context():
        with pytest.raises(ValidationFailed) as refused:
            commands.create_admin(email)
        assert "email" in refused.value.errors
        db.session.rollback()


def test_create_admin_files_admins_under_a_platform_organization(app):
    with app.app_context():
        user, token = commands.create_admin("Ops@Example.org")
        organization = db.session.get(Organization, user.organization_id)
        assert organization.kind == PLATFORM_KIND and user.email == "ops@example.org" and token
        second, _ = commands.create_admin("ops2@example.org")
        assert second.organization_id == organization.id
        db.session.rollback()


def test_create_admin_never_joins_a_customer_organization(app, world):
    with app.app_context():
        hospital = db.session.get(Organization, world.orgs["hospital"])
        with pytest.raises(ValidationFailed) as refused:
            commands.create_admin("ops@example.org", hospital.name)
        assert "customer organization" in refused.value.detail
        db.session.rollback()


def test_the_platform_kind_cannot_be_made_through_the_api(api, world):
    response = api.post(
        "/api/v1/organizations", {"name": "Shadow ops", "kind": PLATFORM_KIND}, token=world.tokens["admin"]
    )
    assert response.status_code == 422 and "kind" in response.json["errors"]


def test_customer_roles_cannot_join_the_platform_organization(api, world):
    response = api.post(
        "/api/v1/users",
        {"email": "p@example.org", "organization_id": world.orgs["admin"], "role": "discharge_planner"},
        token=world.tokens["admin"],
    )
    assert response.status_code == 422 and "role" in response.json["errors"]


@pytest.mark.parametrize("action", ["deactivate", "token"])
def test_an_admin_cannot_lock_themself_out(api, world, action):
    admin = world.tokens["admin"]
    response = api.post("/api/v1/users/%s/%s" % (world.users["admin"], action), token=admin)
    assert response.status_code == 409 and "another admin" in response.json["detail"]
    assert api.get("/api/v1/users/me", token=admin).status_code == 200


def test_another_admin_can_deactivate_an_admin(api, world):
    second = world.user("admin2", "admin", "admin")
    response = api.post("/api/v1/users/%s/deactivate" % world.users["admin"], token=second)
    assert response.status_code == 200
    assert api.get("/api/v1/users/me", token=world.tokens["admin"]).status_code == 401
