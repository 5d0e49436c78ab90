"""Mail to people against a real SMTP server on loopback (aiosmtpd): who gets what, preferences, retries, content."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.support.offers import Scene
from tests.support.smtp import SmtpServer
from transitions import scheduler
from transitions.core.db import db
from transitions.identity.models import User
from transitions.notify.models import Event, MailDelivery


@pytest.fixture
def smtp(app):
    server = SmtpServer().start()
    app.config["SMTP_URL"] = server.url
    app.config["MAIL_FROM"] = "Transitions <no-reply@transitions.example>"
    app.config["BASE_URL"] = "https://transitions.example"
    yield server
    server.stop()


@pytest.fixture
def scene(api, world, app, clock):
    return Scene(api, world, app, clock)


def send_mail(app, clock):
    scheduler.bind_app(app)
    return scheduler.run_job("send-mail", clock.now)


def test_offer_created_mails_the_programs_coordinators_and_nobody_else(app, clock, world, scene, smtp):
    track = scene.track()
    referral = scene.referral()
    offer = scene.offered(referral, track)

    summary = send_mail(app, clock)

    assert smtp.inbox.recipients() == ["coordinator@example.org"], summary
    message = smtp.inbox.received()[0][1]
    assert "New referral offer" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "https://transitions.example/offers" in text and "https://transitions.example/offers" in html
    assert "O-%s" % offer["id"].replace("-", "")[:8].upper() in text
    # A second pass sends nothing more.
    send_mail(app, clock)
    assert len(smtp.inbox.received()) == 1


def emit(app, event_type, referral_id, offer_id=None, **data):
    """An event of the outbox as the domain would write it (the routing is what is under test here)."""
    from transitions.notify.events import record_event
    from transitions.offers.models import Offer
    from transitions.referrals.models import Referral

    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        subject = db.session.get(Offer, offer_id) if offer_id else referral
        if offer_id:
            data["offer_id"] = offer_id
        record_event(event_type, referral=referral, subject=subject, data=data)
        db.session.commit()


def test_offer_answers_reach_the_submitting_planner_only(app, clock, world, scene, smtp):
    track = scene.track()
    accepted = scene.offered(scene.referral(), track)
    response = scene.accept(accepted, scene.intake_date(scene.get_referral(accepted["referral_id"]), track))
    assert response.status_code == 200, response.json
    declined = scene.offered(scene.referral(), track)
    assert scene.decline(declined).status_code == 200
    send_mail(app, clock)

    by_recipient = smtp.inbox.by_recipient()
    assert sorted(by_recipient) == ["coordinator@example.org", "planner@example.org"]
    planner_mail = {message["Subject"].split()[2]: message for message in by_recipient["planner@example.org"]}
    assert sorted(planner_mail) == ["accepted", "declined"]
    assert len(by_recipient["coordinator@example.org"]) == 2  # the two offer.created mails
    assert "clinical fit" in planner_mail["declined"].get_body(("plain",)).get_content()


def test_an_expired_offer_mails_the_planner_only_when_no_other_offer_is_pending(app, clock, world, scene, smtp):
    track, other_track = scene.track(), scene.track()
    alone = scene.offered(scene.referral(), track)
    referral = scene.referral()
    first = scene.offered(referral, track)
    scene.offered(referral, other_track)
    send_mail(app, clock)  # the offer.created mails
    before = len(smtp.inbox.received())

    clock.now = clock.now + timedelta(hours=49)
    scheduler.bind_app(app)
    scheduler.run_job("expire-offers", clock.now) if "expire-offers" in scheduler.JOBS else None
    with app.app_context():
        expired = db.session.scalars(select(Event).where(Event.type == "offer.expired")).all()
        assert {event.subject_id for event in expired} >= {alone["id"], first["id"]}
    send_mail(app, clock)

    new = smtp.inbox.received()[before:]
    planner_mail = [m for rcpts, m in new if rcpts == ["planner@example.org"] and "expired" in m["Subject"]]
    # Both offers of the second referral expired at once: each counts the other as no longer pending.
    assert any("R-%s" % alone["referral_id"].replace("-", "")[:8].upper() in m["Subject"] for m in planner_mail)


def test_missed_followups_lapses_and_readmissions_reach_the_plan_and_nobody_else(app, clock, world, scene, smtp):
    covered = scene.referral()
    other_plan = scene.referral(coverage={"payer_id": "nobody-covers-this", "member_id": "X1"})
    emit(app, "followup.missed", covered["id"], check="contact_7d")
    emit(app, "followup.missed", other_plan["id"], check="contact_7d")
    emit(app, "attendance.lapsed", covered["id"])
    emit(app, "referral.readmitted", covered["id"])
    emit(app, "attendance.lapsed", other_plan["id"])
    send_mail(app, clock)

    by_recipient = smtp.inbox.by_recipient()
    assert sorted(by_recipient) == ["manager@example.org", "planner@example.org"]
    assert len(by_recipient["planner@example.org"]) == 2  # followup.missed of both referrals
    manager_subjects = sorted(m["Subject"] for m in by_recipient["manager@example.org"])
    assert len(manager_subjects) == 3 and all(covered["id"].replace("-", "")[:8].upper() in s for s in manager_subjects)
    links = [m.get_body(("plain",)).get_content() for m in by_recipient["manager@example.org"]]
    assert all("https://transitions.example/members/%s" % covered["id"] in text for text in links)


def test_offer_expiring_is_written_once_and_mails_the_coordinators_once(app, clock, world, scene, smtp):
    track = scene.track()
    offer = scene.offered(scene.referral(), track)
    send_mail(app, clock)
    assert len(smtp.inbox.received()) == 1

    clock.now = clock.now + timedelta(hours=35)  # 13 h left: not yet
    send_mail(app, clock)
    assert len(smtp.inbox.received()) == 1
    clock.now = clock.now + timedelta(hours=2)  # 11 h left
    send_mail(app, clock)
    clock.now = clock.now + timedelta(hours=1)
    send_mail(app, clock)

    with app.app_context():
        events = db.session.scalars(select(Event).where(Event.type == "offer.expiring")).all()
    assert [event.subject_id for event in events] == [offer["id"]]
    expiring = [(r, m) for r, m in smtp.inbox.received() if "expires soon" in m["Subject"]]
    assert [r for r, _ in expiring] == [["coordinator@example.org"]]


def seat_reminders(smtp):
    return [(recipients, m) for recipients, m in smtp.inbox.received() if "unconfirmed" in m["Subject"]]


def test_a_stale_track_reminds_its_programs_coordinators_once_per_staleness_period(app, clock, world, scene, smtp):
    from transitions.directory import seats

    track = scene.track()
    send_mail(app, clock)
    assert seat_reminders(smtp) == []

    clock.now = clock.now + timedelta(days=15)
    scene.track(who="coordinator2")  # another organization's track, fresh: no reminder to its coordinators
    send_mail(app, clock)
    reminders = seat_reminders(smtp)
    assert [r for r, _ in reminders] == [["coordinator@example.org"]]
    message = reminders[0][1]
    assert track["name"] in message["Subject"] and "15 days" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "https://transitions.example/programs" in text and "https://transitions.example/programs" in html

    # Another pass, a day later: the same staleness period, no second reminder, one event.
    clock.now = clock.now + timedelta(days=1)
    send_mail(app, clock)
    assert len(seat_reminders(smtp)) == 1
    with app.app_context():
        events = db.session.scalars(select(Event).where(Event.type == "track.seats_unconfirmed")).all()
    assert [event.subject_id for event in events] == [track["id"]]

    # Confirmed, then stale again: a new reminder.
    with app.app_context():
        seats.mark_confirmed(track["id"], clock.now)
        db.session.commit()
    send_mail(app, clock)
    assert len(seat_reminders(smtp)) == 1
    clock.now = clock.now + timedelta(days=15)
    send_mail(app, clock)
    reminders = sorted(r[0] for r, _ in seat_reminders(smtp))
    # coordinator2's track has gone stale meanwhile too: each organization hears of its own track only.
    assert reminders == ["coordinator2@example.org", "coordinator@example.org", "coordinator@example.org"]


def test_email_off_an_event_off_or_a_deactivated_user_gets_nothing(app, clock, api, world, scene, smtp):
    response = api.patch("/api/v1/me/notifications", {"email": False}, token=world.tokens["coordinator"])
    assert response.status_code == 200, response.json
    response = api.patch("/api/v1/me/notifications", {"events": ["offer.accepted"]}, token=world.tokens["planner"])
    assert response.status_code == 200, response.json
    with app.app_context():
        db.session.get(User, world.users["manager"]).active = False
        db.session.commit()
    track = scene.track()
    referral = scene.referral()
    offer = scene.offered(referral, track)
    assert scene.decline(offer).status_code == 200
    emit(app, "followup.missed", referral["id"], check="contact_7d")
    send_mail(app, clock)

    assert smtp.inbox.received() == []


def test_a_user_who_turns_email_off_after_queueing_gets_nothing(app, clock, api, world, scene, smtp):
    app.config["MAIL_DIGEST_HOUR"] = 7
    api.patch("/api/v1/me/notifications", {"digest": True}, token=world.tokens["coordinator"])
    scene.offered(scene.referral(), scene.track())
    send_mail(app, clock)  # queued for tomorrow's digest
    assert smtp.inbox.received() == []
    api.patch("/api/v1/me/notifications", {"email": False}, token=world.tokens["coordinator"])
    clock.now = clock.now + timedelta(days=1)
    send_mail(app, clock)
    assert smtp.inbox.received() == []
    with app.app_context():
        assert db.session.scalars(select(MailDelivery.status)).all() == ["skipped"]


def test_a_digest_reader_gets_one_mail_a_day_with_everything(app, clock, api, world, scene, smtp):
    app.config["MAIL_DIGEST_HOUR"] = 7
    response = api.patch("/api/v1/me/notifications", {"digest": True}, token=world.tokens["coordinator"])
    assert response.json["digest"] is True
    track = scene.track()
    for _ in range(3):
        scene.offered(scene.referral(), track)
    send_mail(app, clock)  # 15:00: the digest goes at 07:00 tomorrow
    assert smtp.inbox.received() == []
    clock.set("2026-12-02T07:00:00Z")
    send_mail(app, clock)
    received = smtp.inbox.received()
    assert len(received) == 1 and received[0][0] == ["coordinator@example.org"]
    assert "3 updates" in received[0][1]["Subject"]
    assert received[0][1].get_body(("plain",)).get_content().count("New referral offer") == 3


def test_without_smtp_url_nothing_is_queued(app, clock, world, scene):
    app.config["SMTP_URL"] = None
    scene.offered(scene.referral(), scene.track())
    summary = send_mail(app, clock)
    assert "mail is off" in summary
    with app.app_context():
        assert db.session.scalars(select(MailDelivery)).all() == []
        assert db.session.scalars(select(Event).where(Event.mailed_at.is_(None))).all() == []


def test_server_down_then_up_every_mail_arrives_exactly_once(app, clock, world, scene):
    server = SmtpServer()  # not started: nothing listens on its port
    app.config["SMTP_URL"] = server.url
    app.config["MAIL_RETRY_BASE_SECONDS"] = 60
    track = scene.track()
    for _ in range(3):
        scene.offered(scene.referral(), track)
    summary = send_mail(app, clock)
    assert "1 to retry" in summary, summary
    clock.now = clock.now + timedelta(seconds=30)
    send_mail(app, clock)  # the two others are due and find it down too
    server.start()
    try:
        for _ in range(4):
            clock.now = clock.now + timedelta(minutes=5)
            send_mail(app, clock)
        assert len(server.inbox.received()) == 3
        ids = [m["Message-ID"] for _, m in server.inbox.received()]
        assert len(set(ids)) == 3
        with app.app_context():
            assert set(db.session.scalars(select(MailDelivery.status))) == {"sent"}
    finally:
        server.stop()


def test_several_connections_send_every_mail_exactly_once_after_one_proves_the_server(app, clock, world, scene, smtp):
    app.config["MAIL_CONNECTIONS"] = 3
    peers = []
    take = smtp.inbox.handle_DATA

    async def handle_data(server, session, envelope):
        peers.append(session.peer)
        return await take(server, session, envelope)

    smtp.inbox.handle_DATA = handle_data
    track = scene.track(capacity=12)
    for _ in range(12):
        scene.offered(scene.referral(), track)
    summary = send_mail(app, clock)
    assert "12 mails sent, 0 to retry" in summary, summary
    ids = [m["Message-ID"] for _, m in smtp.inbox.received()]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert len(peers) == 12 and 1 < len(set(peers)) <= 3  # more than one connection, never more than configured
    assert send_mail(app, clock).count("0 mails sent") == 1  # nothing left to send


def test_a_refused_recipient_is_not_retried(app, clock, world, scene, smtp):
    async def refuse(server, session, envelope, address, rcpt_options):
        return "550 no such user"

    smtp.inbox.handle_RCPT = refuse
    scene.offered(scene.referral(), scene.track())
    summary = send_mail(app, clock)
    assert "1 failed" in summary, summary
    with app.app_context():
        row = db.session.scalars(select(MailDelivery)).one()
    assert row.status == "failed" and "550" in row.last_error


MARKERS = {
    "given_name": "Givenqzxmarker",
    "family_name": "Familyqzxmarker",
    "birth_date": "1987-07-23",
    "phone": "773-555-0142",
}


def test_no_mail_carries_anything_of_the_patient(app, clock, api, world, scene, smtp):
    """Every event, to every role that hears it, alone and in a digest: not a trace of the patient's fields."""
    track = scene.track()
    referral = scene.referral(
        patient=MARKERS,
        coverage={"payer_id": "acme-health", "member_id": "MEMBERQZXMARKER"},
        notes="NOTESQZXMARKER",
        diagnoses=["F33.1"],
    )
    offer = scene.offered(referral, track)
    assert scene.decline(offer, note="DECLINEQZXMARKER").status_code == 200
    for event_type in ("offer.expiring", "offer.accepted", "offer.expired"):
        emit(app, event_type, referral["id"], offer["id"])
    for event_type in ("followup.missed", "attendance.lapsed", "referral.readmitted"):
        emit(app, event_type, referral["id"], check="contact_7d")
    send_mail(app, clock)
    api.patch("/api/v1/me/notifications", {"digest": True}, token=world.tokens["manager"])
    emit(app, "followup.missed", referral["id"], check="outcome_30")
    emit(app, "referral.readmitted", referral["id"])
    send_mail(app, clock)
    clock.now = clock.now + timedelta(days=1)
    send_mail(app, clock)
    clock.now = clock.now + timedelta(days=15)  # the track's seat count is now unconfirmed: its reminder too
    send_mail(app, clock)

    received = smtp.inbox.received()
    subjects = {m["Subject"].split(":")[1].split()[0] for _, m in received}
    assert len(received) >= 10 and {"New", "Offer", "Missed", "Attendance", "Readmission", "Seat"} <= subjects
    assert any("updates for you" in m["Subject"] for _, m in received)
    forbidden = [*MARKERS.values(), "MEMBERQZXMARKER", "NOTESQZXMARKER", "DECLINEQZXMARKER", "F33.1", "07/23/1987"]
    forbidden += [value.lower() for value in forbidden] + ["Maria", "Lopez"]
    for _, message in received:
        whole = message.as_string() + message.get_body(("plain",)).get_content()
        whole += message.get_body(("html",)).get_content()
        assert not [value for value in forbidden if value in whole], message["Subject"]


def test_mail_test_sends_a_message_and_says_so(app, smtp):
    result = app.test_cli_runner().invoke(args=["mail", "test", "ops@example.org"])
    assert result.exit_code == 0, result.output
    assert "Sent a test message to ops@example.org" in result.output
    assert smtp.inbox.recipients() == ["ops@example.org"]
    assert smtp.inbox.received()[0][1]["Subject"] == "Transitions: test message"


def test_mail_test_fails_clearly_without_a_server(app):
    result = app.test_cli_runner().invoke(args=["mail", "test", "ops@example.org"])
    assert result.exit_code != 0 and "SMTP_URL is not set" in result.output
    app.config["SMTP_URL"] = SmtpServer().url  # nothing listens there
    result = app.test_cli_runner().invoke(args=["mail", "test", "ops@example.org"])
    assert result.exit_code != 0 and "was not sent" in result.output


def test_preferences_default_change_and_refuse_bad_input(api, world, app):
    token = world.tokens["planner"]
    response = api.get("/api/v1/me/notifications", token=token)
    assert response.status_code == 200
    assert response.json == {
        "email": True,
        "events": ["offer.accepted", "offer.declined", "offer.expired", "followup.missed"],
        "digest": False,
        "available_events": ["offer.accepted", "offer.declined", "offer.expired", "followup.missed"],
    }
    response = api.patch("/api/v1/me/notifications", {"events": ["followup.missed"], "digest": True}, token=token)
    assert response.status_code == 200, response.json
    assert response.json["events"] == ["followup.missed"] and response.json["digest"] is True
    assert response.json["email"] is True
    for body in (
        {"email": "yes"},
        {"events": ["offer.created"]},  # not a planner's
        {"events": ["nonsense"]},
        {"events": ["followup.missed", "followup.missed"]},
        {"digest": None},
        {"colour": "blue"},
        {"events": "followup.missed"},
    ):
        response = api.patch("/api/v1/me/notifications", body, token=token)
        assert response.status_code == 422, (body, response.json)
    assert api.get("/api/v1/me/notifications", token=token).json["events"] == ["followup.missed"]
    # Each user's own: the coordinator's stay the default.
    other = api.get("/api/v1/me/notifications", token=world.tokens["coordinator"]).json
    assert (
        other["events"] == ["offer.created", "offer.expiring", "track.seats_unconfirmed"] and other["digest"] is False
    )
    assert api.get("/api/v1/me/notifications").status_code == 401


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example:2525", ("smtp", "mail.example", 2525, None, None)),
        ("smtp+starttls://u%40x:p%2Fw@mail.example", ("smtp+starttls", "mail.example", 587, "u@x", "p/w")),
        ("smtps://mail.example", ("smtps", "mail.example", 465, None, None)),
    ],
)
def test_smtp_url_forms(url, expected):
    from transitions.notify.smtp import parse_smtp_url

    server = parse_smtp_url(url)
    assert (server.scheme, server.host, server.port, server.username, server.password) == expected


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "smtp://mail.example:99999", "mail.example"])
def test_bad_smtp_urls_stop_the_scheduler_at_start(app, url):
    from transitions.scheduler import check_settings

    app.config["SMTP_URL"] = url
    with pytest.raises(ValueError, match="SMTP_URL"):
        check_settings(app.config)


def test_a_server_that_never_answers_costs_one_deadline(app, clock, world, scene):
    from tests.support.smtp import SilentServer

    silent = SilentServer()
    app.config.update(SMTP_URL=silent.url, MAIL_DEADLINE_SECONDS=1, MAIL_TIMEOUT_SECONDS=30)
    try:
        track = scene.track()
        for _ in range(2):
            scene.offered(scene.referral(), track)
        started = time.monotonic()
        summary = send_mail(app, clock)
        assert time.monotonic() - started < 5, summary
        assert "0 mails sent, 1 to retry" in summary, summary
        with app.app_context():
            rows = db.session.scalars(select(MailDelivery).order_by(MailDelivery.attempts)).all()
        assert [row.attempts for row in rows] == [0, 1] and "deadline" in rows[1].last_error
        assert rows[0].next_attempt_at == clock.now  # given back due, no attempt counted
    finally:
        silent.stop()


@pytest.mark.parametrize("scheme", ["smtps", "smtp+starttls"])
def test_implicit_tls_and_starttls_with_login(app, tmp_path, scheme):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.support.smtp import Inbox, free_port, self_signed_tls
    from transitions.notify import smtp as smtp_client

    server_tls, client_tls = self_signed_tls(tmp_path)
    inbox, port = Inbox(), free_port()

    def authenticate(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"ops", b"s3cr/t"))

    kwargs = dict(hostname="127.0.0.1", port=port, authenticator=authenticate)
    if scheme == "smtps":
        # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; the whole connection is TLS here.
        controller = Controller(inbox, ssl_context=server_tls, auth_require_tls=False, **kwargs)
    else:
        controller = Controller(inbox, tls_context=server_tls, require_starttls=True, auth_require_tls=True, **kwargs)
    controller.start()
    try:
        app.config["SMTP_URL"] = "%s://ops:s3cr%%2Ft@127.0.0.1:%d" % (scheme, port)
        with app.app_context():
            settings = smtp_client.mail_settings()
            mailer = smtp_client.Mailer(settings, tls_context=client_tls)
            message = smtp_client.build_message(settings, "ops@example.org", "Hello", "text", "<p>html</p>", "k1")
            outcome = mailer.send(message, time.monotonic() + 10)
            connection = mailer.connection
            again = smtp_client.build_message(settings, "ops@example.org", "Again", "t", "<p>h</p>", "k2")
            second = mailer.send(again, time.monotonic() + 10)
            assert mailer.connection is connection  # reused, not reopened
            mailer.close()
        assert outcome.ok and second.ok, (outcome, second)
        assert [m["Subject"] for _, m in inbox.received()] == ["Hello", "Again"]
    finally:
        controller.stop()


def test_a_crash_between_send_and_record_sends_again_after_the_lease_with_the_same_message_id(
    app, clock, world, scene, smtp, monkeypatch
):
    """The documented choice (docs/decisions.md): at that one instant, at least once, never lost."""
    from transitions.notify import mail

    scene.offered(scene.referral(), scene.track())

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed between send and record")

    with monkeypatch.context() as patched:
        patched.setattr(mail, "record_send", crash)
        with pytest.raises(KeyboardInterrupt):
            send_mail(app, clock)
    assert len(smtp.inbox.received()) == 1
    send_mail(app, clock)  # still leased: nothing
    assert len(smtp.inbox.received()) == 1
    clock.now = clock.now + timedelta(seconds=app.config["MAIL_DEADLINE_SECONDS"] + 31)
    send_mail(app, clock)
    send_mail(app, clock)
    first, second = (message for _, message in smtp.inbox.received())
    assert first["Message-ID"] == second["Message-ID"]


def test_a_crash_before_the_send_sends_once_after_the_lease(app, clock, world, scene, smtp, monkeypatch):
    from transitions.notify import smtp as smtp_client

    scene.offered(scene.referral(), scene.track())
    with monkeypatch.context() as patched:
        patched.setattr(smtp_client.Mailer, "send", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt("killed")))
        with pytest.raises(KeyboardInterrupt):
            send_mail(app, clock)
    clock.now = clock.now + timedelta(seconds=app.config["MAIL_DEADLINE_SECONDS"] + 31)
    send_mail(app, clock)
    send_mail(app, clock)
    assert len(smtp.inbox.received()) == 1
