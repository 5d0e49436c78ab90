"""Web sign-in: passwords, server-side sessions and their timeouts, CSRF on every form, cookies, throttling, CLI."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.support import payloads
from tests.support.browser import PASSWORD, WebClient
from transitions.core.db import db
from transitions.core.models import AuditRecord
from transitions.identity import passwords
from transitions.identity.models import User, WebSession
from transitions.referrals.models import Referral


def referral_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Referral))


def session_rows(app):
    with app.app_context():
        return db.session.scalars(select(WebSession).order_by(WebSession.created_at)).all()


# ---------------------------------------------------------------- sign-in and home pages


@pytest.mark.parametrize(
    "who, home", [("planner", "/referrals"), ("coordinator", "/offers"), ("manager", "/board"), ("admin", "/board")]
)
def test_each_role_signs_in_to_its_own_home(web, emails, who, home):
    response = web.sign_in(emails[who])
    assert response.status_code == 302 and response.headers["Location"] == "/"
    landing = web.client.get("/", follow_redirects=True)
    assert landing.status_code == 200 and landing.request.path == home
    assert emails[who] in landing.get_data(as_text=True)


def test_pages_need_a_session_and_come_back_after_sign_in(web, emails):
    response = web.get("/referrals?status=submitted")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=%2Freferrals%3Fstatus%3Dsubmitted"
    signed_in = web.sign_in(emails["planner"], next_page="/referrals?status=submitted")
    assert signed_in.headers["Location"] == "/referrals?status=submitted"


def test_sign_in_never_redirects_off_site(web, emails):
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        web.client.delete_cookie("transitions_session")
        assert web.sign_in(emails["planner"], next_page=target).headers["Location"] == "/"


def test_a_wrong_password_and_an_unknown_email_read_the_same(web, emails):
    wrong = web.sign_in(emails["planner"], "not the password at all")
    unknown = web.sign_in("nobody@example.org", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match an active account" in wrong.get_data(as_text=True)
    assert wrong.get_data(as_text=True).count("do not match") == unknown.get_data(as_text=True).count("do not match")
    assert web.cookie("transitions_session") is None


def test_a_deactivated_user_cannot_sign_in_and_is_signed_out(app, web, emails, world):
    web.sign_in(emails["planner"])
    with app.app_context():
        db.session.get(User, world.users["planner"]).active = False
        db.session.commit()
    response = web.get("/referrals")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    assert web.sign_in(emails["planner"]).status_code == 401


def test_sign_in_is_audited_with_the_outcome(app, web, emails):
    web.sign_in(emails["planner"], "wrong password here")
    web.sign_in(emails["planner"])
    with app.app_context():
        rows = db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "web.sign_in").order_by(AuditRecord.at)
        ).all()
        assert [row.outcome for row in rows] == ["denied", "allowed"]
        # The log keys attempts by a digest of the email, never the email someone typed.
        assert all(emails["planner"] not in (row.object_id or "") for row in rows)
        assert rows[1].user_id is not None and rows[0].client_address == "127.0.0.1"


# ---------------------------------------------------------------- cookies and headers


def test_session_cookie_flags_in_testing(web, emails):
    response = web.sign_in(emails["planner"])
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("transitions_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # testing and debug serve plain http


def test_cookies_are_secure_outside_debug_and_testing(app, emails):
    app.testing = False
    app.config["TESTING"] = False
    web = WebClient(app)
    response = web.get("/sign-in")
    assert "Secure" in response.headers["Set-Cookie"]
    signed = web.client.post(
        "/sign-in", data={"email": emails["planner"], "password": PASSWORD, "csrf_token": web.token}
    )
    cookie = next(c for c in signed.headers.getlist("Set-Cookie") if c.startswith("transitions_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie
    app.config["WEB_COOKIE_SECURE"] = False
    assert "Secure" not in WebClient(app).get("/sign-in").headers["Set-Cookie"]


def test_pages_are_not_cached_framed_or_scripted_from_elsewhere(web, emails):
    web.sign_in(emails["planner"])
    response = web.get("/referrals")
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = response.get_data(as_text=True)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page


def test_static_assets_are_served_by_the_app(client):
    for name in ("app.css", "app.js"):
        response = client.get("/static/" + name)
        assert response.status_code == 200 and len(response.data) > 1000
        assert b"http://" not in response.data and b"https://" not in response.data


# ---------------------------------------------------------------- server-side sessions


def test_sign_out_revokes_the_session_on_the_server(app, web, emails):
    web.sign_in(emails["planner"])
    stolen = web.cookie("transitions_session")
    response = web.post("/sign-out")
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in?reason=signed_out"
    [row] = session_rows(app)
    assert row.revoked_at is not None and row.revoked_reason == "sign_out"
    # The old cookie, replayed, opens nothing.
    replay = app.test_client()
    replay.set_cookie("transitions_session", stolen)
    assert replay.get("/referrals").status_code == 302


def test_the_cookie_holds_a_random_token_and_the_database_only_its_hash(app, web, emails):
    web.sign_in(emails["planner"])
    token = web.cookie("transitions_session")
    [row] = session_rows(app)
    assert len(token) >= 43 and token not in (row.id, row.csrf_token) and len(row.id) == 64


def test_idle_timeout_signs_out_and_activity_keeps_the_session(app, web, emails, clock):
    web.sign_in(emails["planner"])
    for _ in range(3):  # 3 x 14 minutes of activity: still signed in
        clock.now += timedelta(minutes=14)
        assert web.get("/referrals").status_code == 200
    clock.now += timedelta(minutes=15, seconds=1)
    response = web.get("/referrals")
    assert response.status_code == 302 and "reason=idle" in response.headers["Location"]
    [row] = session_rows(app)
    assert row.revoked_reason == "idle"
    page = web.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "signed out after 15 minutes without activity" in page
    clock.now -= timedelta(hours=1)  # a revoked session stays revoked, whatever the clock says
    assert web.get("/referrals").status_code == 302


def test_the_idle_timeout_is_configurable(app, web, emails, clock):
    app.config["WEB_IDLE_TIMEOUT_SECONDS"] = 60
    web.sign_in(emails["planner"])
    clock.now += timedelta(seconds=61)
    assert web.get("/referrals").status_code == 302


def test_absolute_timeout_ends_even_a_busy_session(app, web, emails, clock):
    web.sign_in(emails["planner"])
    for _ in range(12 * 6 - 1):
        clock.now += timedelta(minutes=10)
        assert web.get("/referrals").status_code == 200
    clock.now += timedelta(minutes=10)
    response = web.get("/referrals")
    assert response.status_code == 302 and "reason=expired" in response.headers["Location"]


def test_setting_a_password_signs_the_user_out_everywhere(app, web, emails, world):
    web.sign_in(emails["planner"])
    other = WebClient(app)
    other.sign_in(emails["planner"])
    with app.app_context():
        passwords.set_password(db.session.get(User, world.users["planner"]), "a brand new password")
        db.session.commit()
    assert web.get("/referrals").status_code == 302 and other.get("/referrals").status_code == 302
    assert {row.revoked_reason for row in session_rows(app)} == {"password_changed"}


def test_a_web_session_does_not_open_the_api_and_api_tokens_keep_working(web, emails, world, api):
    web.sign_in(emails["planner"])
    assert web.client.get("/api/v1/referrals").status_code == 401
    created = api.post("/api/v1/referrals", payloads.referral(), token=world.tokens["planner"])
    assert created.status_code == 201  # no CSRF token needed: the API is bearer-only


# ---------------------------------------------------------------- CSRF


def _referral_form(**overrides):
    form = {
        "patient.given_name": "Maria",
        "patient.family_name": "Lopez",
        "patient.birth_date": "1990-04-12",
        "patient.gender": "female",
        "patient.language": "es",
        "patient.zip": "60614",
        "coverage.payer_id": "acme-health",
        "coverage.member_id": "ACM123456",
        "origin": "inpatient_psych",
        "need": "mental_health",
        "diagnoses": "F33.1",
        "discharge_date": "2026-12-03",
        "modality": "either",
        "availability_mode": "any",
    }
    form.update(overrides)
    return form


@pytest.mark.parametrize("token", [None, "", "forged-token", "x" * 300])
def test_a_form_without_this_sessions_token_is_refused_and_changes_nothing(app, web, emails, token):
    web.sign_in(emails["planner"])
    data = _referral_form()
    if token is not None:
        data["csrf_token"] = token
    response = web.post("/referrals/new", data, csrf=False)
    assert response.status_code == 403
    assert "could not be accepted" in response.get_data(as_text=True)
    assert referral_count(app) == 0
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(AuditRecord)
                .where(AuditRecord.action == "web.csrf", AuditRecord.outcome == "denied")
            )
            == 1
        )
    # The same form with the right token goes through.
    data.pop("csrf_token", None)
    assert web.post("/referrals/new", data).status_code == 302 and referral_count(app) == 1


def test_another_sessions_token_does_not_work(app, web, emails):
    other = WebClient(app)
    other.sign_in(emails["planner2"])
    web.sign_in(emails["planner"])
    response = web.post("/referrals/new", dict(_referral_form(), csrf_token=other.token), csrf=False)
    assert response.status_code == 403 and referral_count(app) == 0


def test_sign_out_needs_the_token_too(app, web, emails):
    web.sign_in(emails["planner"])
    assert web.post("/sign-out", csrf=False).status_code == 403
    assert web.get("/referrals").status_code == 200  # still signed in


def test_the_sign_in_form_has_its_own_token(app, web, emails):
    # No sign-in cookie: a cross-site form cannot sign a victim into the attacker's account.
    response = app.test_client().post(
        "/sign-in", data={"email": emails["planner"], "password": PASSWORD, "csrf_token": "anything"}
    )
    assert response.status_code == 403 and not session_rows(app)
    web.get("/sign-in")
    wrong = web.client.post(
        "/sign-in", data={"email": emails["planner"], "password": PASSWORD, "csrf_token": web.token + "x"}
    )
    assert wrong.status_code == 403 and not session_rows(app)


# ---------------------------------------------------------------- throttling


def test_failed_sign_ins_are_throttled_per_email(app, web, emails, clock):
    for _ in range(5):
        assert web.sign_in(emails["planner"], "wrong password!").status_code == 401
    blocked = web.sign_in(emails["planner"])  # even the right password waits
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.get_data(as_text=True)
    assert web.sign_in(emails["planner2"]).status_code == 302  # other accounts are unaffected
    clock.now += timedelta(minutes=15, seconds=1)
    assert web.sign_in(emails["planner"]).status_code == 302


def test_failed_sign_ins_are_throttled_per_address(app, web, emails):
    app.config["WEB_LOGIN_MAX_FAILURES_PER_ADDRESS"] = 6
    for index in range(6):
        web.sign_in("guess%d@example.org" % index, "wrong password!")
    assert web.sign_in(emails["planner"]).status_code == 429
    # The same email from another address is not held back by this address's failures.
    other = WebClient(app)
    other.client.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert other.sign_in(emails["planner"]).status_code == 302


def test_a_successful_sign_in_clears_the_email_count(app, web, emails):
    for _ in range(4):
        web.sign_in(emails["planner"], "wrong password!")
    assert web.sign_in(emails["planner"]).status_code == 302
    web.post("/sign-out")
    for _ in range(4):
        assert web.sign_in(emails["planner"], "wrong password!").status_code == 401
    assert web.sign_in(emails["planner"]).status_code == 302


# ---------------------------------------------------------------- passwords and the CLI


def test_password_policy(app):
    with app.app_context():
        assert passwords.password_problems("short") == ["Use at least 12 characters."]
        assert passwords.password_problems(" padded password ")
        assert passwords.password_problems("me@example.org", "me@example.org")
        assert passwords.password_problems("a perfectly fine passphrase") == []
        assert passwords.hash_password("a perfectly fine passphrase").startswith("scrypt:")  # the default
        app.config["WEB_PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:600000"
        assert passwords.hash_password("a perfectly fine passphrase").startswith("pbkdf2:sha256:600000$")


def _cli(app, *args, input=None):
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args), input=input)


def test_set_password_command_reads_stdin_and_signs_the_user_out(app, web, emails):
    web.sign_in(emails["planner"])
    result = _cli(app, "set-password", emails["planner"], input="another long password\n")
    assert result.exit_code == 0, result.output
    assert "Password set for planner@example.org" in result.output
    assert web.get("/referrals").status_code == 302
    assert web.sign_in(emails["planner"], "another long password").status_code == 302


def test_set_password_command_refuses_weak_passwords_and_unknown_users(app, emails):
    weak = _cli(app, "set-password", emails["planner"], input="short\n")
    assert weak.exit_code != 0 and "at least 12 characters" in weak.output
    unknown = _cli(app, "set-password", "nobody@example.org", input="a long enough password\n")
    assert unknown.exit_code != 0 and "No user" in unknown.output


def test_seed_demo_prints_a_working_password_for_each_role(app):
    result = _cli(app, "seed-demo", "--programs", "5")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Web sign-in"))
    table = {}
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        role, email, password = line.split()
        table.setdefault(role, (email, password))
    assert set(table) == {"admin", "discharge_planner", "case_manager", "iop_coordinator"}
    assert "curl" in lines[-1]  # the curl hint stays last
    for role, (email, password) in table.items():
        web = WebClient(app)
        assert web.sign_in(email, password).status_code == 302, role


def test_the_seat_refresh_does_not_keep_an_idle_session_alive(app, web, emails, clock):
    web.sign_in(emails["coordinator"])
    for _ in range(3):
        clock.now += timedelta(minutes=4)
        assert web.get("/programs/seats.json").status_code == 200
    clock.now += timedelta(minutes=4)  # 16 minutes since the last page the coordinator asked for
    assert web.get("/programs/seats.json").status_code == 302


def test_nul_characters_are_refused_before_any_query(app, web, emails):
    assert web.sign_in("planner@example.org\x00", "whatever password").status_code == 400
    web.sign_in(emails["planner"])
    assert web.get("/referrals?status=sub\x00mitted").status_code == 400
    response = web.post("/referrals/new", {"patient.given_name": "Ma\x00ria"})
    assert response.status_code == 400 and referral_count(app) == 0


def test_a_sign_in_clears_the_users_ended_sessions(app, web, emails):
    web.sign_in(emails["planner"])
    web.post("/sign-out")
    other = WebClient(app)
    other.sign_in(emails["planner2"])
    web.sign_in(emails["planner"])
    rows = session_rows(app)
    assert len(rows) == 2 and all(row.revoked_at is None for row in rows)


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_unknown_pages_are_pages_for_browsers_and_problems_for_the_api(app):
    client = app.test_client()
    page = client.get("/no-such-page", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "There is no page at this address." in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    wrong_method = client.put("/sign-in", headers={"Accept": BROWSER_ACCEPT})
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "text/html"
    assert "POST" in wrong_method.headers["Allow"] and wrong_method.headers["X-Content-Type-Options"] == "nosniff"
    for machine_path in ("/api", "/healthz/extra"):
        answer = client.get(machine_path, headers={"Accept": BROWSER_ACCEPT})
        assert answer.status_code == 404 and answer.mimetype == "application/problem+json", machine_path
    # Scripts (curl sends */*) and the API keep problem+json, whatever a browser asks for.
    assert client.get("/no-such-page").mimetype == "application/problem+json"
    api_miss = client.get("/api/v1/no-such-thing", headers={"Accept": BROWSER_ACCEPT})
    assert api_miss.status_code == 404 and api_miss.mimetype == "application/problem+json"
