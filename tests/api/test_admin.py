"""Organizations and users: admin-only management, role/org-kind rules, tokens shown once and stored hashed."""

import pytest

from transitions.core.db import db
from transitions.identity.models import User
from transitions.identity.tokens import hash_token


def test_admin_creates_organizations_and_users(api, world, app):
    admin = world.tokens["admin"]
    org = api.post(
        "/api/v1/organizations",
        {"name": "Sunrise Plan", "kind": "health_plan", "payer_ids": ["sunrise", "medicaid-tx"]},
        token=admin,
    )
    assert org.status_code == 201, org.json
    assert set(org.json) >= {"id", "name", "kind", "payer_ids"}
    user = api.post(
        "/api/v1/users",
        {"email": "Cm@Sunrise.example", "organization_id": org.json["id"], "role": "case_manager"},
        token=admin,
    )
    assert user.status_code == 201, user.json
    token = user.json["token"]
    assert len(token) >= 43 and user.json["email"] == "cm@sunrise.example"
    with app.app_context():
        stored = db.session.get(User, user.json["id"])
        assert stored.token_hash == hash_token(token) and token not in stored.token_hash
    me = api.get("/api/v1/users/me", token=token)
    assert me.json["role"] == "case_manager" and "token" not in me.json
    assert api.get("/api/v1/users/%s" % user.json["id"], token=admin).json["email"] == "cm@sunrise.example"
    assert api.get("/api/v1/organizations/%s" % org.json["id"], token=token).status_code == 200
    assert api.get("/api/v1/organizations/%s" % world.orgs["plan"], token=token).status_code == 404


@pytest.mark.parametrize("role", ["planner", "manager", "coordinator"])
def test_non_admins_cannot_manage(api, world, role):
    token = world.tokens[role]
    assert api.post("/api/v1/organizations", {"name": "x", "kind": "hospital"}, token=token).status_code == 403
    assert api.get("/api/v1/organizations", token=token).status_code == 403
    assert (
        api.post(
            "/api/v1/users",
            {"email": "a@b.org", "organization_id": world.orgs["hospital"], "role": "admin"},
            token=token,
        ).status_code
        == 403
    )
    assert api.get("/api/v1/users", token=token).status_code == 403
    assert api.get("/api/v1/audit", token=token).status_code == 403


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "x", "kind": "clinic"}, "kind"),
        ({"name": "", "kind": "hospital"}, "name"),
        ({"name": "x", "kind": "hospital", "payer_ids": ["acme"]}, "payer_ids"),
        ({"name": "x", "kind": "health_plan", "payer_ids": ["a b"]}, "payer_ids"),
        ({"kind": "hospital"}, "name"),
    ],
)
def test_invalid_organizations_are_422(api, world, body, field):
    response = api.post("/api/v1/organizations", body, token=world.tokens["admin"])
    assert response.status_code == 422 and field in response.json["errors"], response.json


@pytest.mark.parametrize(
    "org_key, role",
    [
        ("hospital", "case_manager"),
        ("plan", "discharge_planner"),
        ("provider", "discharge_planner"),
        ("hospital", "iop_coordinator"),
    ],
)
def test_roles_must_fit_the_organization_kind(api, world, org_key, role):
    response = api.post(
        "/api/v1/users",
        {"email": "x@y.org", "organization_id": world.orgs[org_key], "role": role},
        token=world.tokens["admin"],
    )
    assert response.status_code == 422 and "role" in response.json["errors"]


def test_user_email_is_unique_and_org_must_exist(api, world):
    admin = world.tokens["admin"]
    dup = api.post(
        "/api/v1/users",
        {"email": "PLANNER@example.org", "organization_id": world.orgs["hospital"], "role": "discharge_planner"},
        token=admin,
    )
    assert dup.status_code == 409
    ghost = api.post("/api/v1/users", {"email": "g@x.org", "organization_id": "nope", "role": "admin"}, token=admin)
    assert ghost.status_code == 422 and "organization_id" in ghost.json["errors"]
    bad_email = api.post(
        "/api/v1/users",
        {"email": "not-an-email", "organization_id": world.orgs["hospital"], "role": "discharge_planner"},
        token=admin,
    )
    assert bad_email.status_code == 422 and "email" in bad_email.json["errors"]


def test_token_rotation_and_deactivation_take_effect_at_once(api, world):
    admin, old = world.tokens["admin"], world.tokens["planner"]
    user_id = world.users["planner"]
    rotated = api.post("/api/v1/users/%s/token" % user_id, token=admin)
    assert rotated.status_code == 200
    assert api.get("/api/v1/users/me", token=old).status_code == 401
    assert api.get("/api/v1/users/me", token=rotated.json["token"]).status_code == 200
    api.post("/api/v1/users/%s/deactivate" % user_id, token=admin)
    assert api.get("/api/v1/users/me", token=rotated.json["token"]).status_code == 401


def test_plan_payer_ids_can_be_changed(api, world):
    admin = world.tokens["admin"]
    response = api.patch(
        "/api/v1/organizations/%s" % world.orgs["plan"], {"payer_ids": ["acme-health", "new"]}, token=admin
    )
    assert response.status_code == 200 and response.json["payer_ids"] == ["acme-health", "new"]
    hospital = api.patch("/api/v1/organizations/%s" % world.orgs["hospital"], {"payer_ids": ["x"]}, token=admin)
    assert hospital.status_code == 422


def test_lists_page_through_everything(api, world):
    admin = world.tokens["admin"]
    first = api.get("/api/v1/users?limit=3", token=admin).json
    rest = api.get("/api/v1/users?limit=500&cursor=%s" % first["next_cursor"], token=admin).json
    emails = [u["email"] for u in first["items"] + rest["items"]]
    assert len(emails) == len(set(emails)) == 7
    orgs = api.get("/api/v1/organizations", token=admin).json
    assert len(orgs["items"]) == 7 and orgs["next_cursor"] is None
