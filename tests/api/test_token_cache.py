"""The per-process token cache: a cached token costs no query, any change to a user or organization clears it, and
an entry lasts TOKEN_CACHE_SECONDS (the other processes' bound; tests/slow/test_token_revocation.py runs them)."""

from sqlalchemy import event

from transitions.core.db import db
from transitions.identity import tokens
from transitions.identity.models import User


def user_lookups(app, call):
    """How many statements a call sent that read the users table."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM users" in statement:
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(statements)


def test_a_cached_token_is_resolved_without_a_query(api, world, app):
    me = lambda: api.get("/api/v1/users/me", token=world.tokens["planner"])  # noqa: E731
    assert me().status_code == 200
    assert user_lookups(app, lambda: me().json["id"] == world.users["planner"]) == 0
    body = me().json
    assert body["id"] == world.users["planner"] and body["organization_id"] == world.orgs["hospital"]


def test_a_change_committed_in_this_process_clears_the_cache_at_once(api, world, app):
    assert api.get("/api/v1/users/me", token=world.tokens["planner"]).status_code == 200
    with app.app_context():
        db.session.get(User, world.users["planner"]).active = False
        db.session.commit()
    assert api.get("/api/v1/users/me", token=world.tokens["planner"]).status_code == 401


def test_deactivation_and_rotation_through_the_api_take_effect_at_once_here(api, world):
    admin = world.tokens["admin"]
    for key in ("planner", "manager"):
        assert api.get("/api/v1/users/me", token=world.tokens[key]).status_code == 200
    assert api.post("/api/v1/users/%s/deactivate" % world.users["planner"], token=admin).status_code == 200
    rotated = api.post("/api/v1/users/%s/token" % world.users["manager"], token=admin)
    assert rotated.status_code == 200
    assert api.get("/api/v1/users/me", token=world.tokens["planner"]).status_code == 401
    assert api.get("/api/v1/users/me", token=world.tokens["manager"]).status_code == 401
    assert api.get("/api/v1/users/me", token=rotated.json["token"]).status_code == 200


def test_an_entry_lasts_the_configured_seconds():
    now = [100.0]
    cache = tokens.TokenCache(5, monotonic=lambda: now[0])
    template = object()
    cache.put("digest", template)
    now[0] = 104.9
    assert cache.get("digest") is template
    now[0] = 105.0
    assert cache.get("digest") is None and "digest" not in cache.entries


def test_zero_seconds_switches_the_cache_off():
    cache = tokens.TokenCache(0)
    cache.put("digest", object())
    assert cache.get("digest") is None
