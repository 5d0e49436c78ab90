"""A database the request cannot use is a 503 with Retry-After and one log line, wherever the request meets it: the
token lookup, a page's session lookup, a query in the view, a flush in the middle of a signed-in page, the pool.
(tests/slow/test_outage.py stops a real PostgreSQL under load.)"""

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_CONFIG
from tests.support.browser import WebClient, give_passwords
from transitions import create_app
from transitions.core.db import db

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"
PROBLEM = "application/problem+json"


def unreachable_app():
    return create_app(dict(TEST_CONFIG, DATABASE_URL=UNREACHABLE))


def assert_one_line_each(caplog, count):
    lines = [record for record in caplog.records if "database unavailable" in record.getMessage()]
    assert len(lines) == count, caplog.text
    assert all(record.levelno == logging.WARNING and record.exc_info is None for record in lines)
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/api/v1/referrals"), ("POST", "/api/v1/referrals"), ("GET", "/api/v1/referrals/not-an-id/timeline")],
)
def test_an_api_request_that_cannot_reach_the_database_is_a_503_problem(caplog, method, path):
    client = unreachable_app().test_client()
    response = client.open(path, method=method, json={}, headers={"Authorization": "Bearer trn_whatever"})
    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    assert response.headers["Retry-After"] == "5"
    assert response.json["type"].endswith("/unavailable") and response.json["status"] == 503
    assert_one_line_each(caplog, 1)


@pytest.mark.parametrize("method, path", [("GET", "/referrals"), ("GET", "/"), ("POST", "/sign-in")])
def test_a_page_that_cannot_reach_the_database_is_a_503_page(caplog, method, path):
    client = unreachable_app().test_client()
    client.set_cookie("transitions_session", "some-session-token")
    response = client.open(path, method=method, data={"email": "a@example.org", "password": "x" * 12})
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert response.headers["Retry-After"] == "5"
    assert "Service Unavailable" in response.get_data(as_text=True)
    assert_one_line_each(caplog, 1)


def test_the_readiness_probe_says_when_to_retry():
    response = unreachable_app().test_client().get("/readyz")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"


@pytest.mark.real_commits
def test_a_signed_in_page_whose_database_goes_away_mid_request_gets_the_503_page(app, world, clock, caplog):
    # The session row loads, then the connection dies at the flush that records the visit: the 503 page must not
    # draw the signed-in menu from the user's expired attributes (that would hit the database again, a 500).
    emails = give_passwords(app, world)
    web = WebClient(app)
    web.sign_in(emails["planner"])
    with app.app_context():
        engine = db.engine
    clock.now += timedelta(minutes=1)  # the visit is news: the session's last_seen_at is written

    def drop_connection(connection, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE web_sessions"):
            raise sa.exc.OperationalError(statement, parameters, Exception("server closed the connection unexpectedly"))

    sa.event.listen(engine, "before_cursor_execute", drop_connection)
    try:
        response = web.get("/referrals")
    finally:
        sa.event.remove(engine, "before_cursor_execute", drop_connection)
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert response.headers["Retry-After"] == "5"
    assert_one_line_each(caplog, 1)
    # And the next request finds everything as it was.
    assert web.get("/referrals").status_code == 200


@pytest.mark.real_commits
def test_a_request_that_waits_too_long_for_a_pooled_connection_is_a_503(db_url, caplog):
    options = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}
    app = create_app(dict(TEST_CONFIG, DATABASE_URL=db_url, SQLALCHEMY_ENGINE_OPTIONS=options))
    with app.app_context():
        engine = db.engine
    held = engine.connect()  # the pool's only connection, busy elsewhere
    try:
        response = app.test_client().get("/api/v1/referrals", headers={"Authorization": "Bearer trn_whatever"})
    finally:
        held.close()
        engine.dispose()
    assert response.status_code == 503 and response.mimetype == PROBLEM
    assert response.headers["Retry-After"] == "5"
    assert_one_line_each(caplog, 1)
