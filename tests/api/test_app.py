"""The factory, configuration layering, probes, the OpenAPI document, and problem+json for protocol errors."""

import json

import pytest

from tests.support import payloads
from transitions import create_app
from transitions.config import normalize_database_url


def test_postgres_urls_are_pointed_at_psycopg3():
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_environment_variables_are_json_decoded(monkeypatch, db_url):
    monkeypatch.setenv("TRANSITIONS_OFFER_TTL_HOURS", "24")
    monkeypatch.setenv("TRANSITIONS_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("TRANSITIONS_WEB_COOKIE_SECURE", "false")
    monkeypatch.setenv("TRANSITIONS_FOLLOWUP_PLAN", '{"followup_7": {"due_days": 8}}')
    monkeypatch.setenv("TRANSITIONS_WEB_PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000000")
    monkeypatch.setenv("TRANSITIONS_DATABASE_URL", db_url)
    monkeypatch.setenv("OTHER_SETTING", "1")
    app = create_app({"SECRET_KEY": "x"})
    assert app.config["OFFER_TTL_HOURS"] == 24
    assert app.config["WEBHOOK_ALLOW_PRIVATE"] is True and app.config["WEB_COOKIE_SECURE"] is False
    assert app.config["FOLLOWUP_PLAN"] == {"followup_7": {"due_days": 8}}
    assert app.config["WEB_PASSWORD_HASH_METHOD"] == "pbkdf2:sha256:1000000"  # not JSON: kept as text
    assert app.config["DATABASE_URL"] == db_url
    assert "SETTING" not in app.config and "OTHER_SETTING" not in app.config


def test_factory_layers_defaults_env_and_test_config(monkeypatch, tmp_path, db_url):
    monkeypatch.setenv("TRANSITIONS_OFFER_TTL_HOURS", "12")
    monkeypatch.setenv("TRANSITIONS_MAX_PENDING_OFFERS", "5")
    app = create_app({"DATABASE_URL": db_url, "MAX_PENDING_OFFERS": 2, "SECRET_KEY": "x"})
    assert app.config["OFFER_TTL_HOURS"] == 12
    assert app.config["MAX_PENDING_OFFERS"] == 2
    assert app.config["PAGE_SIZE_MAX"] == 500
    assert not app.testing


def test_default_database_is_sqlite_in_instance_folder(monkeypatch):
    monkeypatch.delenv("TRANSITIONS_DATABASE_URL", raising=False)
    app = create_app({"SECRET_KEY": "x"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///%s/transitions.sqlite3" % app.instance_path


def test_healthz_and_readyz_need_no_token(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "ok"


def test_readyz_reports_an_unreachable_database():
    app = create_app({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "SECRET_KEY": "x"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"


def test_openapi_document_lists_every_endpoint(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in (
        "/api/v1/referrals",
        "/api/v1/referrals/{referral_id}",
        "/api/v1/referrals/{referral_id}/timeline",
        "/api/v1/programs",
        "/api/v1/programs/{program_id}/tracks",
        "/api/v1/tracks/{track_id}/availability",
        "/api/v1/organizations",
        "/api/v1/users",
        "/api/v1/audit",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "application/problem+json" in paths["/api/v1/referrals"]["post"]["responses"]["422"]["content"]


def test_docs_page_and_its_assets_are_served_locally(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/docs/assets/swagger-ui-bundle.js" in html
    assert "//cdn" not in html and "unpkg" not in html
    asset = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.get_data()) > 100_000


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "bearer " + "x" * 500])
def test_missing_or_bad_token_is_401_problem(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/referrals", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert set(response.json) >= {"type", "title", "status", "detail"}


def test_401_comes_before_body_validation(client):
    response = client.post("/api/v1/referrals", data="{not json", content_type="application/json")
    assert response.status_code == 401


def test_malformed_json_is_400_problem(api, world):
    response = api.post(
        "/api/v1/referrals", token=world.tokens["planner"], data="{bad", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_oversized_body_is_413(api, world):
    body = '{"notes": "%s"}' % ("x" * 300_000)
    response = api.post("/api/v1/referrals", token=world.tokens["planner"], data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json["status"] == 413


def test_unknown_path_and_wrong_method_are_problems(api, world):
    assert api.get("/api/v1/nothing", token=world.tokens["planner"]).json["status"] == 404
    response = api.client.delete("/api/v1/referrals", headers={"Authorization": "Bearer " + world.tokens["planner"]})
    assert response.status_code == 405 and response.mimetype == "application/problem+json"


def test_request_id_is_echoed_or_made(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert made and " " not in made


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/users", '{"email": "a\\u0000@b.org", "organization_id": "x", "role": "admin"}'),
        # An escaped backslash, then the NUL escape.
        ("/api/v1/users", '{"email": "a\\\\\\u0000@b.org", "organization_id": "x", "role": "admin"}'),
        ("/api/v1/referrals?status=sub%00mitted", None),
    ],
)
def test_nul_characters_are_refused_before_the_database(api, world, path, body):
    if body is None:
        response = api.get(path, token=world.tokens["admin"])
    else:
        response = api.post(path, token=world.tokens["admin"], data=body, content_type="application/json")
    assert response.status_code == 400 and response.json["detail"] == "NUL characters are not allowed."


def test_the_text_backslash_u0000_is_not_a_nul(api, world):
    # "C:\\u0000" in JSON is the text C:\u0000 (an escaped backslash, then u0000): kept, not refused.
    body = json.dumps(payloads.referral(notes="path C:\\u0000 from the old system"))
    assert "\\\\u0000" in body
    created = api.post("/api/v1/referrals", token=world.tokens["planner"], data=body, content_type="application/json")
    assert created.status_code == 201, created.json
    assert created.json["notes"] == "path C:\\u0000 from the old system"
