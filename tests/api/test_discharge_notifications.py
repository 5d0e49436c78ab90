"""A discharge without referral's missed check reaches the people and systems that follow the member: mail to the
plan's case managers (with a link to the discharge's page and nothing of the patient), webhooks of the plan and the
facility; another plan hears nothing."""

from sqlalchemy import select

from tests.api.test_discharges import AFTER_DISCHARGE, member_discharge, send
from tests.support.followups import sweep
from tests.support.hl7msgs import register
from tests.support.smtp import SmtpServer
from transitions import scheduler
from transitions.core.db import db
from transitions.notify import webhooks
from transitions.notify.models import WebhookDelivery


def discharge_missed(app, api, world, clock):
    register(api, world)
    clock.set(AFTER_DISCHARGE)
    assert send(api, world, member_discharge()).status_code == 200
    [item] = api.get("/api/v1/discharges", token=world.tokens["manager"]).json["items"]
    sweep(app, "2026-12-10T12:00:00Z")
    return item["id"]


def test_a_missed_check_mails_the_plans_case_manager_only_without_the_patient(app, api, world, clock):
    server = SmtpServer().start()
    try:
        app.config.update(SMTP_URL=server.url, MAIL_FROM="no-reply@transitions.example", BASE_URL="https://t.example")
        discharge_id = discharge_missed(app, api, world, clock)
        scheduler.bind_app(app)
        summary = scheduler.run_job("send-mail", clock.now)
        assert "1 mails sent" in summary, summary
        [(recipients, message)] = server.inbox.received()
        assert recipients == ["manager@example.org"]
        body = message.get_body(("plain",)).get_content()
        assert "https://t.example/discharges/%s" % discharge_id in body
        whole = message.as_string()
        for marker in ("Maria", "Lopez", "1990", "ACM123456", "MRN123"):  # hl7msgs' patient: name, birth, ids
            assert marker not in whole
    finally:
        server.stop()


def test_a_missed_check_is_delivered_to_the_plans_webhook_not_another_plans(app, api, world, clock):
    hooks = {}
    for who in ("manager", "manager2"):
        response = api.post(
            "/api/v1/webhooks",
            {"url": "https://hooks.example.org/%s" % who, "events": ["followup.missed"]},
            token=world.tokens[who],
        )
        assert response.status_code == 201, response.json
        hooks[who] = response.json["id"]
    discharge_missed(app, api, world, clock)
    scheduler.bind_app(app)
    with app.app_context():
        counts = webhooks.DispatchCounts()
        webhooks.dispatch_batch(clock.now, 500, counts)
        db.session.commit()
        queued = {row.webhook_id for row in db.session.scalars(select(WebhookDelivery))}
    assert queued == {hooks["manager"]}
