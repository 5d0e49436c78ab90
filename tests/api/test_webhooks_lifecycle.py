"""A webhook's life: deleted (nothing more sent, its log kept for admins), switched off when the sender refuses its
URL (failed at once, flagged, back on with an acceptable URL), and its PATCH being its create schema loaded partial."""

import pytest
from sqlalchemy import select

from tests.api.test_webhooks import EVENTS, deliver, deliveries, subscribe
from tests.conftest import ApiClient, World
from tests.support.followups import person, submit
from transitions import create_app
from transitions.core.db import db
from transitions.notify import delivery, ssrf
from transitions.notify.models import Webhook, WebhookDelivery

PUBLIC = {"public.example": ["93.184.215.14"], "hooks.example.org": ["93.184.215.14"]}


def delete(api, webhook_id, token):
    return api.client.delete("/api/v1/webhooks/%s" % webhook_id, headers={"Authorization": "Bearer %s" % token})


def one(api, world, webhook_id, token="manager"):
    return api.get("/api/v1/webhooks/%s" % webhook_id, token=world.tokens[token])


# ---------------------------------------------------------------- DELETE


def test_a_deleted_webhook_is_gone_for_its_organization_and_sends_nothing_more(api, world, app, httpserver):
    httpserver.expect_request("/hook").respond_with_data("busy", status=503)
    hook = subscribe(api, world, httpserver.url_for("/hook"))
    submit(api, world)
    assert "1 to retry" in deliver(app)
    [pending] = deliveries(api, world, hook["id"])
    assert pending["status"] == "pending"

    # Another organization's user cannot see it, so cannot delete it; a role without webhooks is refused outright.
    assert delete(api, hook["id"], world.tokens["manager2"]).status_code == 404
    assert delete(api, "not-an-id", world.tokens["manager"]).status_code == 404
    gone = delete(api, hook["id"], world.tokens["manager"])
    assert gone.status_code == 204 and gone.data == b""

    assert one(api, world, hook["id"]).status_code == 404
    assert api.get("/api/v1/webhooks", token=world.tokens["manager"]).json["items"] == []
    assert api.get("/api/v1/webhooks/%s/deliveries" % hook["id"], token=world.tokens["manager"]).status_code == 404
    switched_on = api.patch("/api/v1/webhooks/%s" % hook["id"], {"active": True}, token=world.tokens["manager"])
    assert switched_on.status_code == 404
    assert delete(api, hook["id"], world.tokens["manager"]).status_code == 404

    # Its pending delivery is never sent, nor is anything that happens later.
    submit(api, world, patient=person(1))
    assert "0 deliveries queued; sent 0" in deliver(app, "2026-12-02T15:00:00Z")
    assert len(httpserver.log) == 1

    # Admins still read it and what was (and was not) sent to it; its secret is forgotten.
    seen = one(api, world, hook["id"], token="admin")
    assert seen.status_code == 200
    assert seen.json["active"] is False and seen.json["disabled_cause"] == "deleted"
    assert seen.json["disabled_reason"].startswith("Deleted at ")
    [kept] = deliveries(api, world, hook["id"], token="admin")
    assert kept["id"] == pending["id"] and kept["status"] == "failed"
    assert kept["last_error"] == "Not sent: the webhook was deleted."
    assert [a["status_code"] for a in kept["attempt_log"]] == [503]
    assert api.get("/api/v1/webhooks", token=world.tokens["admin"]).json["items"] == []
    with app.app_context():
        assert db.session.get(Webhook, hook["id"]).secret == ""
    audited = api.get("/api/v1/audit?limit=500&object_id=%s" % hook["id"], token=world.tokens["admin"]).json["items"]
    assert ("webhook.delete", world.users["manager"]) in {(row["action"], row["user_id"]) for row in audited}


def test_an_admin_deletes_any_organizations_webhook(api, world):
    hook = subscribe(api, world, "https://hooks.example.org/in")
    assert delete(api, hook["id"], world.tokens["planner"]).status_code == 404
    assert delete(api, hook["id"], world.tokens["admin"]).status_code == 204
    assert one(api, world, hook["id"]).status_code == 404


def test_an_attempt_in_flight_when_its_webhook_is_deleted_is_recorded_without_reviving_it(api, world, app, httpserver):
    httpserver.expect_request("/hook").respond_with_data("busy", status=503)
    hook = subscribe(api, world, httpserver.url_for("/hook"))
    submit(api, world)
    deliver(app)
    [queued] = deliveries(api, world, hook["id"])
    # Deleted while a sender holds the delivery: what that sender then records must not make it pending again.
    assert delete(api, hook["id"], world.tokens["manager"]).status_code == 204
    with app.app_context():
        now = db.session.get(WebhookDelivery, queued["id"]).created_at
        assert delivery.record_attempt(queued["id"], delivery.Outcome(status_code=500), now) == "failed"
        row = db.session.get(WebhookDelivery, queued["id"])
        assert (row.status, row.attempts, row.last_error) == ("failed", 2, "Not sent: the webhook was deleted.")
        # The receiver had it after all: that is the truth to keep.
        assert delivery.record_attempt(queued["id"], delivery.Outcome(status_code=200), now) == "delivered"
        row = db.session.get(WebhookDelivery, queued["id"])
        assert (row.status, row.attempts, row.delivered_at) == ("delivered", 3, now)
        # Nor is a delivered one ever undone by a late failure.
        assert delivery.record_attempt(queued["id"], delivery.Outcome(error="timed out"), now) == "failed"
        assert db.session.get(WebhookDelivery, queued["id"]).status == "delivered"
        db.session.commit()
    assert one(api, world, hook["id"]).status_code == 404


# ---------------------------------------------------------------- refused at send


@pytest.fixture
def strict(db_url, clock, monkeypatch):
    """An app that refuses private addresses, as production does, with two public names in its DNS."""
    real = ssrf.resolve
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: PUBLIC.get(host) or real(host, port))
    app = create_app(
        {"TESTING": True, "DATABASE_URL": db_url, "CLOCK": clock, "SECRET_KEY": "test", "WEBHOOK_ALLOW_PRIVATE": False}
    )
    world = World(app)
    world.org("plan", "health_plan", ["acme-health"])
    world.user("manager", "case_manager", "plan")
    world.org("hospital", "hospital")
    world.user("planner", "discharge_planner", "hospital")
    yield app, ApiClient(app.test_client()), world
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def saved_while_allowed(app, api, world, url):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    hook = subscribe(api, world, url)
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    return hook


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1:9/hook", "The address 127.0.0.1 is a loopback address."),
        ("http://[2002:a9fe:a9fe::]/latest/meta-data/", "6to4 for 169.254.169.254, a link-local address"),
    ],
)
def test_a_url_refused_at_send_fails_at_once_and_flags_the_webhook(strict, url, reason):
    app, api, world = strict
    hook = saved_while_allowed(app, api, world, url)
    submit(api, world)
    submit(api, world, patient=person(1))
    assert "sent 1: 0 delivered, 0 to retry, 0 failed, 1 endpoints disabled" in deliver(app)
    first, second = deliveries(api, world, hook["id"])
    refused = first if first["attempts"] else second
    waiting = second if refused is first else first
    assert refused["status"] == "failed" and refused["attempts"] == 1
    assert refused["last_error"].startswith("refused: ") and reason in refused["last_error"]
    # The other one waits, unsent, for the URL to be fixed.
    assert waiting["status"] == "pending" and waiting["attempts"] == 0
    flagged = one(api, world, hook["id"]).json
    assert flagged["active"] is False and flagged["disabled_cause"] == "url_refused"
    assert flagged["disabled_reason"].startswith("The URL was refused at 2026-12-01T15:00:00Z: ")
    assert reason[:40] in flagged["disabled_reason"] and len(flagged["disabled_reason"]) <= 200
    assert "sent 0" in deliver(app, "2026-12-02T15:00:00Z")

    # Switching it on as it is checks the URL again; a PATCH with an acceptable URL switches it on.
    again = api.patch("/api/v1/webhooks/%s" % hook["id"], {"active": True}, token=world.tokens["manager"])
    assert again.status_code == 422 and "url" in again.json["errors"]
    assert one(api, world, hook["id"]).json["disabled_cause"] == "url_refused"
    bad = api.patch("/api/v1/webhooks/%s" % hook["id"], {"url": "http://10.0.0.7/"}, token=world.tokens["manager"])
    assert bad.status_code == 422
    fixed = api.patch(
        "/api/v1/webhooks/%s" % hook["id"], {"url": "https://public.example/hook"}, token=world.tokens["manager"]
    )
    assert fixed.status_code == 200, fixed.json
    assert fixed.json["active"] is True and fixed.json["disabled_cause"] is None
    assert fixed.json["disabled_reason"] is None


def test_a_peer_refused_at_connect_fails_at_once_too(strict, httpserver, monkeypatch):
    """DNS rebinding: the name check is fooled, the connected peer is not, and the webhook is flagged the same way."""
    app, api, world = strict
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook = saved_while_allowed(app, api, world, "http://127.0.0.1:%d/hook" % httpserver.port)
    monkeypatch.setattr(ssrf, "check_url", lambda url, allow_private, resolve_names=True: None)
    submit(api, world)
    assert "1 endpoints disabled" in deliver(app)
    [refused] = deliveries(api, world, hook["id"])
    assert refused["status"] == "failed" and refused["attempts"] == 1
    assert refused["last_error"] == "refused: connected to 127.0.0.1, a loopback address"
    assert one(api, world, hook["id"]).json["disabled_cause"] == "url_refused"
    assert httpserver.log == []


def test_a_name_that_stops_resolving_is_retried_not_refused(strict, monkeypatch):
    app, api, world = strict
    hook = subscribe(api, world, "https://hooks.example.org/in")
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: (_ for _ in ()).throw(OSError("no answer")))
    submit(api, world)
    assert "1 to retry" in deliver(app)
    [waiting] = deliveries(api, world, hook["id"])
    assert waiting["status"] == "pending" and waiting["last_error"].startswith("DNS: The host hooks.example.org")
    assert one(api, world, hook["id"]).json["active"] is True


def test_a_6to4_address_of_the_metadata_service_is_refused_at_save(strict):
    app, api, world = strict
    response = api.post(
        "/api/v1/webhooks", {"url": "http://[2002:a9fe:a9fe::]/", "events": EVENTS}, token=world.tokens["manager"]
    )
    assert response.status_code == 422
    assert response.json["errors"]["url"] == [
        "The address 2002:a9fe:a9fe:: is 6to4 for 169.254.169.254, a link-local address (cloud metadata lives here)."
    ]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Webhook)) == 0


# ---------------------------------------------------------------- create and PATCH: one schema


def test_patch_is_the_create_schema_loaded_partial(api, world):
    hook = subscribe(api, world, "https://hooks.example.org/in")
    path, token = "/api/v1/webhooks/%s" % hook["id"], world.tokens["manager"]
    for body in (
        {"secret": hook["secret"]},
        {"organization_id": world.orgs["plan"]},
        {"events": []},
        {"events": ["offer.created", "offer.created"]},
        {"url": "ftp://hooks.example.org/"},
        {"url": ""},
        {"active": "sometimes"},
        {"nope": 1},
    ):
        assert api.patch(path, body, token=token).status_code == 422, body
    unchanged = api.patch(path, {}, token=token)
    assert unchanged.status_code == 200 and unchanged.json["events"] == EVENTS and unchanged.json["active"] is True
    off = api.patch(path, {"active": False, "events": ["offer.created"]}, token=token).json
    assert (off["active"], off["disabled_cause"], off["events"]) == (False, "user", ["offer.created"])
    # A new URL does not switch on what its organization switched off.
    moved = api.patch(path, {"url": "https://public.example/hook"}, token=token).json
    assert moved["active"] is False and moved["disabled_cause"] == "user"
    on = api.patch(path, {"active": True}, token=token).json
    assert (on["active"], on["disabled_cause"], on["disabled_reason"]) == (True, None, None)


def test_a_webhook_may_be_created_switched_off(api, world):
    created = subscribe(api, world, "https://hooks.example.org/in", active=False)
    assert (created["active"], created["disabled_cause"]) == (False, "user")
