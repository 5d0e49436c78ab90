"""Webhooks against a real local HTTP receiver: signatures, who hears what, retries, 410, redirects, SSRF."""

import base64
import json
import socket
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from standardwebhooks import Webhook as Verifier

from tests.conftest import ApiClient, World
from tests.support.followups import at, person, submit, sud
from transitions import create_app, policy, scheduler
from transitions.core.db import db
from transitions.notify import delivery, ssrf
from transitions.notify.events import record_event
from transitions.notify.models import WebhookDelivery
from transitions.offers.models import Offer
from transitions.referrals.models import Referral

EVENTS = ["referral.submitted", "followup.missed", "offer.created", "offer.accepted", "referral.placed"]


def subscribe(api, world, url, token="manager", events=EVENTS, **extra):
    response = api.post("/api/v1/webhooks", dict({"url": url, "events": events}, **extra), token=world.tokens[token])
    assert response.status_code == 201, response.json
    return response.json


def deliver(app, iso="2026-12-01T15:00:00Z"):
    scheduler.bind_app(app)
    return scheduler.run_job("deliver-webhooks", at(iso))


def deliveries(api, world, webhook_id, token="manager"):
    response = api.get("/api/v1/webhooks/%s/deliveries?limit=500" % webhook_id, token=world.tokens[token])
    assert response.status_code == 200, response.json
    return response.json["items"]


def received(server):
    return [(request.headers, request.get_data(as_text=True)) for request, _ in server.log]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- subscriptions


def test_a_webhook_shows_its_generated_secret_once(api, world):
    created = api.post(
        "/api/v1/webhooks",
        {"url": "https://hooks.example.org/t", "events": EVENTS},
        token=world.tokens["manager"],
        headers={"Idempotency-Key": "w1"},
    )
    assert created.status_code == 201
    body = created.json
    assert body["secret"].startswith("whsec_") and len(base64.b64decode(body["secret"][6:])) == 32
    assert body["active"] is True and body["events"] == EVENTS and body["organization_id"] == world.orgs["plan"]
    replay = api.post(
        "/api/v1/webhooks",
        {"url": "https://hooks.example.org/t", "events": EVENTS},
        token=world.tokens["manager"],
        headers={"Idempotency-Key": "w1"},
    )
    assert replay.status_code == 201 and replay.json["secret"] is None and replay.json["id"] == body["id"]
    one = api.get("/api/v1/webhooks/%s" % body["id"], token=world.tokens["manager"]).json
    assert "secret" not in one
    listed = api.get("/api/v1/webhooks", token=world.tokens["manager"]).json["items"]
    assert [w["id"] for w in listed] == [body["id"]] and "secret" not in listed[0]
    assert api.get("/api/v1/webhooks", token=world.tokens["planner"]).json["items"] == []
    assert api.get("/api/v1/webhooks/%s" % body["id"], token=world.tokens["planner"]).status_code == 404
    assert api.get("/api/v1/webhooks/%s/deliveries" % body["id"], token=world.tokens["manager2"]).status_code == 404
    assert len(api.get("/api/v1/webhooks", token=world.tokens["admin"]).json["items"]) == 1


def test_webhook_input_is_validated(api, world):
    token = world.tokens["manager"]
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    assert subscribe(api, world, "https://a.example.org/", secret=secret)["secret"] == secret
    bad = [
        {"url": "ftp://a.example.org/", "events": EVENTS},
        {"url": "https://user:pw@a.example.org/", "events": EVENTS},
        {"url": "not a url", "events": EVENTS},
        {"url": "https://a.example.org/", "events": ["referral.exploded"]},
        {"url": "https://a.example.org/", "events": []},
        {"url": "https://a.example.org/", "events": ["offer.created", "offer.created"]},
        {"url": "https://a.example.org/", "events": EVENTS, "secret": "hunter2"},
        {"url": "https://a.example.org/", "events": EVENTS, "secret": "whsec_" + base64.b64encode(b"k" * 8).decode()},
        {"url": "https://a.example.org/", "events": EVENTS, "nope": 1},
        {"url": "https://a.example.org/\x01", "events": EVENTS},
    ]
    for body in bad:
        response = api.post("/api/v1/webhooks", body, token=token)
        assert response.status_code == 422, body
    # NUL never gets as far as validation: the API refuses it up front.
    nul = api.post("/api/v1/webhooks", {"url": "https://a.example.org/\x00", "events": EVENTS}, token=token)
    assert nul.status_code in (400, 422)
    other = api.post(
        "/api/v1/webhooks",
        {"url": "https://a.example.org/", "events": EVENTS, "organization_id": world.orgs["plan2"]},
        token=token,
    )
    assert other.status_code == 403
    by_admin = api.post(
        "/api/v1/webhooks",
        {"url": "https://a.example.org/", "events": EVENTS, "organization_id": world.orgs["plan2"]},
        token=world.tokens["admin"],
    )
    assert by_admin.status_code == 201 and by_admin.json["organization_id"] == world.orgs["plan2"]


# ---------------------------------------------------------------- delivery


def test_a_delivery_is_signed_and_carries_ids_not_phi(api, world, app, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hook = subscribe(api, world, httpserver.url_for("/hook"))
    referral_id = submit(api, world, notes="Lives with her sister on Elm St.")
    summary = deliver(app)
    assert "1 events, 1 deliveries queued" in summary and "1 delivered" in summary
    [(headers, body)] = received(httpserver)
    payload = Verifier(hook["secret"]).verify(body, dict(headers))
    assert payload["type"] == "referral.submitted"
    assert payload["timestamp"] == "2026-12-01T15:00:00Z"
    assert payload["data"]["referral_id"] == referral_id and set(payload["data"]) == {
        "event_id",
        "referral_id",
        "to_status",
    }
    for phi in ("Maria", "Lopez", "ACM123456", "1990-04-12", "Elm", "60614", "mental_health", "F33.1"):
        assert phi not in body
    [delivery] = deliveries(api, world, hook["id"])
    assert headers["webhook-id"] == delivery["id"]
    assert delivery["status"] == "delivered" and delivery["event_type"] == "referral.submitted"
    assert [a["status_code"] for a in delivery["attempt_log"]] == [200]
    assert deliver(app).startswith("0 events, 0 deliveries queued; sent 0")


def test_the_same_webhook_id_on_redelivery(api, world, app, httpserver):
    httpserver.expect_oneshot_request("/hook").respond_with_data("busy", status=500)
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook = subscribe(api, world, httpserver.url_for("/hook"))
    submit(api, world)
    assert "1 to retry" in deliver(app)
    [delivery] = deliveries(api, world, hook["id"])
    assert delivery["status"] == "pending" and delivery["last_status_code"] == 500
    retry_at = at(delivery["next_attempt_at"])
    # Exponential backoff with jitter: between half and all of the 30 s base.
    assert 15 <= (retry_at - at("2026-12-01T15:00:00Z")).total_seconds() <= 30
    assert "sent 0" in deliver(app, "2026-12-01T15:00:10Z")
    assert "1 delivered" in deliver(app, "2026-12-01T15:01:00Z")
    (first_headers, first_body), (second_headers, second_body) = received(httpserver)
    assert first_headers["webhook-id"] == second_headers["webhook-id"] == delivery["id"]
    assert first_body == second_body
    Verifier(hook["secret"]).verify(second_body, dict(second_headers))
    [delivery] = deliveries(api, world, hook["id"])
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 200]
    assert delivery["attempts"] == 2 and delivery["delivered_at"] == "2026-12-01T15:01:00Z"


def test_a_receiver_down_then_up_gets_everything(api, world, app):
    port = free_port()
    hook = subscribe(api, world, "http://127.0.0.1:%d/hook" % port)
    for index in range(3):
        submit(api, world, patient=person(index))
    first = deliver(app)
    # One probe per failing endpoint per run: the other two wait rather than each timing out.
    assert "sent 1: 0 delivered, 1 to retry" in first
    assert "sent 1: 0 delivered, 1 to retry" in deliver(app, "2026-12-01T16:00:00Z")
    server = HTTPServer(host="127.0.0.1", port=port)
    server.expect_request("/hook").respond_with_data("ok")
    server.start()
    try:
        assert "sent 3: 3 delivered" in deliver(app, "2026-12-01T17:00:00Z")
        ids = [headers["webhook-id"] for headers, _ in received(server)]
    finally:
        server.clear()
        server.stop()
    rows = deliveries(api, world, hook["id"])
    assert sorted(ids) == sorted(row["id"] for row in rows)
    assert all(row["status"] == "delivered" for row in rows)
    # Each down run probed the delivery waiting longest; the third was first tried once the receiver was back.
    assert sorted(len(row["attempt_log"]) for row in rows) == [1, 2, 2]
    for row in rows:
        assert [a["status_code"] for a in row["attempt_log"]][-1] == 200
        assert all("ConnectionError" in a["error"] for a in row["attempt_log"][:-1])


def test_410_gone_disables_the_endpoint(api, world, app, httpserver):
    httpserver.expect_request("/hook").respond_with_data("gone", status=410)
    hook = subscribe(api, world, httpserver.url_for("/hook"))
    submit(api, world)
    assert "1 endpoints disabled" in deliver(app)
    one = api.get("/api/v1/webhooks/%s" % hook["id"], token=world.tokens["manager"]).json
    assert one["active"] is False and "410" in one["disabled_reason"]
    submit(api, world, patient=person(1))
    assert "0 deliveries queued; sent 0" in deliver(app, "2026-12-02T15:00:00Z")
    assert len(httpserver.log) == 1
    assert [d["status"] for d in deliveries(api, world, hook["id"])] == ["failed"]
    again = api.patch("/api/v1/webhooks/%s" % hook["id"], {"active": True}, token=world.tokens["manager"])
    assert again.status_code == 200 and again.json["active"] is True and again.json["disabled_reason"] is None


def test_a_redirect_is_not_followed(api, world, app, httpserver):
    httpserver.expect_request("/hook").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/elsewhere")}
    )
    httpserver.expect_request("/elsewhere").respond_with_data("ok")
    hook = subscribe(api, world, httpserver.url_for("/hook"))
    submit(api, world)
    assert "1 to retry" in deliver(app)
    assert [request.path for request, _ in httpserver.log] == ["/hook"]
    [delivery] = deliveries(api, world, hook["id"])
    assert delivery["status"] == "pending" and delivery["last_status_code"] == 302
    assert delivery["last_error"].startswith("redirect not followed")


@pytest.mark.parametrize("header", ["3600", "Tue, 01 Dec 2026 16:00:00 GMT"])
def test_retry_after_is_honoured(api, world, app, httpserver, header):
    httpserver.expect_request("/hook").respond_with_data("slow down", status=503, headers={"Retry-After": header})
    hook = subscribe(api, world, httpserver.url_for("/hook"))
    submit(api, world)
    deliver(app)
    [delivery] = deliveries(api, world, hook["id"])
    assert delivery["next_attempt_at"] == "2026-12-01T16:00:00Z"


def test_a_delivery_gives_up_after_the_last_attempt(api, world, app, httpserver):
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 2
    httpserver.expect_request("/hook").respond_with_data("no", status=500)
    hook = subscribe(api, world, httpserver.url_for("/hook"))
    submit(api, world)
    deliver(app)
    assert "1 failed" in deliver(app, "2026-12-01T18:00:00Z")
    assert [(d["status"], d["attempts"]) for d in deliveries(api, world, hook["id"])] == [("failed", 2)]
    assert "sent 0" in deliver(app, "2026-12-02T18:00:00Z")


def test_backoff_doubles_with_jitter_up_to_the_cap():
    class Fixed:
        def __init__(self, fraction):
            self.fraction = fraction

        def uniform(self, low, high):
            return low + (high - low) * self.fraction

    for attempts, ceiling in ((1, 30), (2, 60), (3, 120), (10, 15360), (11, 21600), (30, 21600)):
        assert delivery.backoff_seconds(attempts, 30, 21600, Fixed(0)) == ceiling / 2
        assert delivery.backoff_seconds(attempts, 30, 21600, Fixed(1)) == ceiling


# ---------------------------------------------------------------- who hears what


def test_each_organization_hears_only_about_referrals_it_may_see(api, world, app, httpserver):
    for key in ("planner", "planner2", "manager", "manager2", "coordinator", "coordinator2"):
        httpserver.expect_request("/" + key).respond_with_data("ok")
        subscribe(api, world, httpserver.url_for("/" + key), token=key)
    referral_id = submit(api, world, **sud())
    from tests.support.followups import program_and_track

    program_id, track_id = program_and_track(api, world)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        offer = Offer(
            referral_id=referral_id,
            track_id=track_id,
            program_id=program_id,
            status="pending",
            expires_at=at("2026-12-03T15:00:00Z"),
        )
        db.session.add(offer)
        db.session.flush()
        offer_id = offer.id
        record_event(
            "offer.created", referral=referral, subject=offer, data={"offer_id": offer.id, "referral_id": referral_id}
        )
        db.session.commit()
    deliver(app)
    heard = {}
    for request, _ in httpserver.log:
        heard.setdefault(request.path.strip("/"), []).append(json.loads(request.get_data()))
    assert {k: sorted(p["type"] for p in v) for k, v in heard.items()} == {
        "planner": ["offer.created", "referral.submitted"],
        "manager": ["offer.created", "referral.submitted"],
        "coordinator": ["offer.created"],
    }
    # The plan and the provider are outside the referring org: the 42 CFR 2.32 notice travels along.
    assert all("part2_notice" not in p["data"] for p in heard["planner"])
    assert all("42 CFR part 2" in p["data"]["part2_notice"] for p in heard["manager"] + heard["coordinator"])
    offer_payload = heard["coordinator"][0]["data"]
    assert offer_payload["offer_id"] == offer_id and offer_payload["referral_id"] == referral_id


def test_a_new_subscription_does_not_receive_the_backlog(api, world, app, httpserver, clock):
    httpserver.expect_request("/hook").respond_with_data("ok")
    submit(api, world)
    clock.set("2026-12-01T16:00:00Z")
    hook = subscribe(api, world, httpserver.url_for("/hook"))
    deliver(app, "2026-12-01T16:00:00Z")
    assert deliveries(api, world, hook["id"]) == [] and httpserver.log == []


def test_missed_followups_reach_the_plan_and_the_referring_org(api, world, app, httpserver):
    for key in ("planner", "manager", "coordinator"):
        httpserver.expect_request("/" + key).respond_with_data("ok")
        subscribe(api, world, httpserver.url_for("/" + key), token=key, events=["followup.missed"])
    referral_id = submit(api, world)
    summary = dict(scheduler.run_pass(app, at("2026-12-06T00:00:00Z")))
    assert summary["sweep-followups"].startswith("evaluated 1 ")
    assert "2 delivered" in summary["deliver-webhooks"]
    paths = sorted(request.path for request, _ in httpserver.log)
    assert paths == ["/manager", "/planner"]
    payload = json.loads(httpserver.log[0][0].get_data())
    assert payload["type"] == "followup.missed"
    assert payload["data"]["referral_id"] == referral_id and payload["data"]["check"] == "intake_scheduled"
    assert set(payload["data"]) == {"event_id", "referral_id", "followup_id", "check"}


def test_who_hears_an_event_is_the_reach_of_referral_visibility():
    def org(id_, kind, payer_ids=()):
        return SimpleNamespace(id=id_, kind=kind, payer_ids=list(payer_ids))

    def event(type_, offer_id=None):
        return SimpleNamespace(
            type=type_, subject_type="offer" if offer_id else "referral", subject_id=offer_id or "r1", data={}
        )

    organizations = {
        o.id: o
        for o in (
            org("plan", "health_plan", ["acme"]),
            org("plan2", "health_plan", ["other"]),
            org("hospital2", "hospital"),
            org("iop", "iop_provider"),
        )
    }
    referral = SimpleNamespace(organization_id="hospital", payer_id="acme", self_pay=False)
    offers = {"o1": "iop", "o2": "iop2"}
    hearing = policy.organizations_hearing
    assert hearing(event("referral.submitted"), referral, organizations, offers, None) == {"hospital", "plan"}
    # A provider hears of its own offer only, and of the patient's course once it holds the placement.
    assert hearing(event("offer.created", "o1"), referral, organizations, offers, None) == {"hospital", "plan", "iop"}
    assert hearing(event("offer.created", "o2"), referral, organizations, offers, None) == {"hospital", "plan", "iop2"}
    assert hearing(event("referral.placed"), referral, organizations, offers, None) == {"hospital", "plan"}
    assert hearing(event("referral.placed"), referral, organizations, offers, "iop") == {"hospital", "plan", "iop"}
    assert hearing(event("followup.missed"), referral, organizations, offers, "iop") == {"hospital", "plan"}
    # Self-pay and payer-less referrals are nobody's plan's business.
    for unpaid in (
        SimpleNamespace(organization_id="hospital", payer_id="acme", self_pay=True),
        SimpleNamespace(organization_id="hospital", payer_id=None, self_pay=False),
    ):
        assert hearing(event("referral.submitted"), unpaid, organizations, offers, None) == {"hospital"}


def test_what_an_attempt_means():
    class Fixed:
        def uniform(self, low, high):
            return high

    def step(outcome, attempts=1, max_attempts=3):
        return delivery.next_step(outcome, attempts, max_attempts, 30, 21600, Fixed())

    assert step(delivery.Outcome(status_code=204)) == ("delivered", None)
    assert step(delivery.Outcome(status_code=410)) == ("disabled", None)
    assert step(delivery.Outcome(status_code=500), attempts=3) == ("failed", None)
    assert step(delivery.Outcome(error="ConnectionError: refused"), attempts=2) == ("retrying", 60)
    assert step(delivery.Outcome(status_code=302)) == ("retrying", 30)


def test_retry_after_is_read_as_seconds_or_a_date_and_capped():
    now = at("2026-12-01T15:00:00Z")
    assert delivery.retry_after_seconds("120", now) == 120
    assert delivery.retry_after_seconds("999999", now) == 24 * 3600
    assert delivery.retry_after_seconds("Tue, 01 Dec 2026 16:00:00 GMT", now) == 3600
    assert delivery.retry_after_seconds("Mon, 30 Nov 2026 16:00:00 GMT", now) == 0
    assert delivery.retry_after_seconds("Fri, 01 Jan 2027 16:00:00 GMT", now) == 24 * 3600
    for nonsense in (None, "", "soon", "-5"):
        assert delivery.retry_after_seconds(nonsense, now) is None


def test_an_attempt_is_signed_as_standard_webhooks_verifies_it():
    secret = "whsec_" + base64.b64encode(b"s" * 32).decode()
    message = delivery.Message("d1", "w1", "https://example.org/", secret, '{"type":"offer.created"}')
    # The wall clock, as the sender signs: the verifier checks the timestamp against its own clock.
    signed_at = datetime.now(UTC)
    headers = delivery.signed_headers(message, signed_at)
    assert headers["webhook-id"] == "d1" and headers["webhook-timestamp"] == str(int(signed_at.timestamp()))
    assert headers["user-agent"] == delivery.USER_AGENT and headers["content-type"] == "application/json"
    assert Verifier(secret).verify(message.body, headers) == {"type": "offer.created"}


def test_payload_keeps_ids_and_codes_and_drops_free_text():
    class E:
        id, type, referral_id, subject_type, subject_id = "e1", "offer.declined", "r1", "offer", "o1"
        from_status = to_status = None
        created_at = at("2026-12-01T15:00:00Z")
        data = {
            "offer_id": "o1",
            "reason": "schedule",
            "note": "Patient said her husband drinks",
            "count": 3,
            "check": "not a code!",
            "reached": True,
            "program_id": "p" * 100,
        }

    body = json.loads(delivery.payload_for(E, None, "org"))
    assert body == {
        "type": "offer.declined",
        "timestamp": "2026-12-01T15:00:00Z",
        "data": {"event_id": "e1", "referral_id": "r1", "offer_id": "o1", "reason": "schedule", "reached": True},
    }


# ---------------------------------------------------------------- SSRF


@pytest.fixture
def strict(db_url, clock):
    """An app that refuses private addresses, as production does (the shared fixture allows them for tests)."""
    app = create_app(
        {"TESTING": True, "DATABASE_URL": db_url, "CLOCK": clock, "SECRET_KEY": "test", "WEBHOOK_ALLOW_PRIVATE": False}
    )
    world = World(app)
    world.org("plan", "health_plan", ["acme-health"])
    world.user("manager", "case_manager", "plan")
    yield app, ApiClient(app.test_client()), world
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


REFUSED = [
    "http://127.0.0.1/hook",
    "http://127.1/hook",
    "http://localhost:8000/hook",
    "http://api.localhost/hook",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[::1]/hook",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://internal.example/hook",
    "http://nowhere.invalid/hook",
]


def test_private_loopback_link_local_and_metadata_addresses_are_refused_at_save(strict, monkeypatch):
    app, api, world = strict
    real = ssrf.resolve
    monkeypatch.setattr(
        ssrf,
        "resolve",
        lambda host, port: (
            {
                "internal.example": ["10.1.2.3"],
                "public.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
            }.get(host)
            or real(host, port)
        ),
    )
    for url in REFUSED:
        response = api.post("/api/v1/webhooks", {"url": url, "events": EVENTS}, token=world.tokens["manager"])
        assert response.status_code == 422, url
        assert "url" in response.json["errors"], url
    ok = api.post(
        "/api/v1/webhooks", {"url": "https://public.example/hook", "events": EVENTS}, token=world.tokens["manager"]
    )
    assert ok.status_code == 201


def test_private_addresses_are_refused_at_send_too(strict, httpserver):
    """Saved while allowed (or before DNS changed): the sender checks again, never connects, fails the delivery at
    once and switches the webhook off (tests/api/test_webhooks_lifecycle.py has the rest of that story)."""
    app, api, world = strict
    httpserver.expect_request("/hook").respond_with_data("ok")
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    hook = subscribe(api, world, "http://127.0.0.1:%d/hook" % httpserver.port)
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    world.org("hospital", "hospital")
    world.user("planner", "discharge_planner", "hospital")
    submit(api, world)
    assert "1 endpoints disabled" in deliver(app)
    [delivery] = deliveries(api, world, hook["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert delivery["last_error"] == "refused: The address 127.0.0.1 is a loopback address."
    assert httpserver.log == []


def test_address_rules():
    for address in (
        "127.0.0.1",
        "10.1.1.1",
        "172.31.255.255",
        "192.168.0.1",
        "169.254.169.254",
        "100.100.100.200",
        "::1",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:10.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "240.0.0.1",
    ):
        assert ssrf.address_problem(address), address
    for address in ("93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"):
        assert ssrf.address_problem(address) is None, address


def test_deliveries_list_filters_by_status(api, world, app, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook = subscribe(api, world, httpserver.url_for("/hook"))
    submit(api, world)
    path = "/api/v1/webhooks/%s/deliveries" % hook["id"]
    assert len(api.get(path + "?status=pending", token=world.tokens["manager"]).json["items"]) == 0
    deliver(app)
    assert len(api.get(path + "?status=delivered", token=world.tokens["manager"]).json["items"]) == 1
    assert api.get(path + "?status=lost", token=world.tokens["manager"]).status_code == 422
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(WebhookDelivery)) == 1
