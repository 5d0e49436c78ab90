"""Mail with several schedulers at once, on their own connections: no mail is sent twice, no event written twice."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import on_postgres
from tests.support.offers import Scene
from tests.support.smtp import SmtpServer
from transitions import scheduler
from transitions.core.db import db
from transitions.notify.events import record_event
from transitions.notify.models import Event, MailDelivery
from transitions.offers.models import Offer
from transitions.referrals.models import Referral

pytestmark = pytest.mark.skipif(not on_postgres(), reason="concurrent schedulers claim with SKIP LOCKED: PostgreSQL")
SCHEDULERS = 2


def run_together(app, now, rounds=3):
    """SCHEDULERS threads, each running the mail job `rounds` times from the same start line."""
    scheduler.bind_app(app)
    start = threading.Barrier(SCHEDULERS)
    errors = []

    def work():
        try:
            start.wait()
            for _ in range(rounds):
                scheduler.run_job("send-mail", now)
        except Exception as error:  # handed to the test thread
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(SCHEDULERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors


def test_two_schedulers_send_every_mail_exactly_once(app, clock, api, world):
    server = SmtpServer().start()
    app.config.update(SMTP_URL=server.url, MAIL_FROM="no-reply@transitions.example")
    try:
        scene = Scene(api, world, app, clock)
        tracks = [scene.track() for _ in range(3)]
        offers = [scene.offered(scene.referral(), tracks[i % 3]) for i in range(12)]
        with app.app_context():
            referral = db.session.get(Referral, offers[0]["referral_id"])
            for index in range(40):
                record_event("followup.missed", referral=referral, subject=referral, data={"check": "c%d" % index})
            db.session.commit()
        # 12 offer.created mails (coordinator), 40 followup.missed x (planner + manager)
        run_together(app, clock.now)
        # 37 h later every offer has 11 h left: both schedulers race to write offer.expiring and mail it.
        run_together(app, clock.now + timedelta(hours=37))

        with app.app_context():
            expiring = db.session.scalars(select(Event.subject_id).where(Event.type == "offer.expiring")).all()
            assert sorted(expiring) == sorted(offer["id"] for offer in offers)
            assert db.session.scalar(select(func.count()).select_from(Offer)) == 12
            statuses = db.session.scalars(select(MailDelivery.status)).all()
        assert len(statuses) == 12 + 80 + 12 and set(statuses) == {"sent"}
        received = server.inbox.received()
        message_ids = [message["Message-ID"] for _, message in received]
        assert len(message_ids) == len(statuses) == len(set(message_ids))
    finally:
        server.stop()
