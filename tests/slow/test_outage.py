"""A database outage under load: the test's own PostgreSQL stopped for a few seconds under gunicorn and the scheduler.

While it is down every answer is a 2xx or a 503 with Retry-After (problem+json under /api, a page for the web), each
503 logs one line and no traceback; once it is back every request succeeds again, with nothing restarted.
"""

import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass

import pytest
import requests
from flask_migrate import upgrade

from tests.conftest import TEST_CONFIG, WORLD_ORGS, WORLD_USERS, World
from tests.slow.test_scheduler import ROOT, flask_env
from tests.support import payloads
from tests.support.browser import CSRF_FIELD, give_passwords
from tests.support.postgres_instance import PostgresInstance, free_port
from transitions import MIGRATIONS_DIR, create_app
from transitions.core.db import db

WARM_UP_SECONDS = 2
OUTAGE_SECONDS = 5
AFTER_SECONDS = 2
LOAD_THREADS = 6
REQUEST_TIMEOUT = 20
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def instance():
    try:
        server = PostgresInstance()
        server.start()
    except (RuntimeError, KeyError, OSError, subprocess.SubprocessError) as error:
        pytest.skip("no PostgreSQL of the test's own (initdb/pg_ctl, as the postgres OS user when root): %s" % error)
    yield server
    server.remove()


@pytest.fixture
def database(instance):
    url = instance.create_database("transitions")
    app = create_app(dict(TEST_CONFIG, DATABASE_URL=url))
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
    world = World(app).build(WORLD_ORGS, WORLD_USERS)
    emails = give_passwords(app, world)
    with app.app_context():
        db.engine.dispose()
    return url, world, emails


def start_process(args, url, log_path, **settings):
    log = open(log_path, "w")
    # Secure cookies would never be sent back over the test's plain HTTP.
    env = flask_env(url, WEB_COOKIE_SECURE="false", **settings)
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log


def stop_process(process, log):
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


@pytest.fixture
def server(database, tmp_path):
    """gunicorn with the repo's gunicorn.conf.py (its workers and threads) on a free port."""
    url, world, emails = database
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:%d" % port]
    args += ["--no-control-socket", "wsgi:app"]
    process, log = start_process(args, url, tmp_path / "gunicorn.log")
    base = "http://127.0.0.1:%d" % port
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                if requests.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not come up"
            time.sleep(0.2)
        yield base, world, emails, tmp_path / "gunicorn.log"
    finally:
        stop_process(process, log)


@pytest.fixture
def scheduler(database, tmp_path):
    url = database[0]
    periods = {
        "SCHEDULER_SWEEP_SECONDS": 1,
        "SCHEDULER_OFFER_EXPIRY_SECONDS": 1,
        "SCHEDULER_WEBHOOK_SECONDS": 1,
        "SCHEDULER_PURGE_SECONDS": 1,
    }
    args = [sys.executable, "-m", "flask", "--app", "transitions", "scheduler"]
    process, log = start_process(args, url, tmp_path / "scheduler.log", **periods)
    try:
        yield process, tmp_path / "scheduler.log"
    finally:
        stop_process(process, log)


def signed_in_cookie(base, email):
    browser = requests.Session()
    form = browser.get(base + "/sign-in", timeout=REQUEST_TIMEOUT)
    token = CSRF_FIELD.search(form.text).group(1)
    answer = browser.post(
        base + "/sign-in",
        data={"email": email, "password": "correct horse battery staple", "csrf_token": token},
        allow_redirects=False,
        timeout=REQUEST_TIMEOUT,
    )
    assert answer.status_code == 302, answer.text
    return dict(browser.cookies)


@dataclass
class Answer:
    kind: str
    started: float
    ended: float
    status: int | None
    content_type: str = ""
    retry_after: str | None = None
    error: str | None = None


def new_patient():
    """A referral for a patient of its own (the same patient twice would be a 409 duplicate)."""
    body = payloads.referral()
    body["patient"]["family_name"] = "Lopez" + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:10])
    return body


class Load:
    """Threads sending, round robin, an API read (token lookup and query), an API write (commit) and a signed-in
    web page (session lookup), until stopped; every answer is kept with when it was asked and answered."""

    def __init__(self, base, token, cookies):
        self.base, self.token, self.cookies = base, token, cookies
        self.answers = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(LOAD_THREADS)]

    def requests_of(self, client):
        bearer = {"Authorization": "Bearer %s" % self.token}
        return [
            ("api-read", lambda: client.get(self.base + "/api/v1/referrals", headers=bearer, timeout=REQUEST_TIMEOUT)),
            (
                "api-write",
                lambda: client.post(
                    self.base + "/api/v1/referrals", json=new_patient(), headers=bearer, timeout=REQUEST_TIMEOUT
                ),
            ),
            ("page", lambda: client.get(self.base + "/referrals", allow_redirects=False, timeout=REQUEST_TIMEOUT)),
        ]

    def run(self, number):
        client = requests.Session()
        client.cookies.update(self.cookies)
        kinds = self.requests_of(client)
        turn = number
        while not self.stopping.is_set():
            kind, send = kinds[turn % len(kinds)]
            turn += 1
            started = time.monotonic()
            try:
                response = send()
                answer = Answer(
                    kind,
                    started,
                    time.monotonic(),
                    response.status_code,
                    response.headers.get("Content-Type", ""),
                    response.headers.get("Retry-After"),
                )
            except requests.RequestException as error:
                answer = Answer(kind, started, time.monotonic(), None, error=repr(error))
            with self.lock:
                self.answers.append(answer)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)


def wait_for_a_job_run(process, log_path, offset, timeout):
    """Until the scheduler logs a webhook run that went through, written after `offset` in its log."""
    deadline = time.monotonic() + timeout
    while "scheduler: deliver-webhooks: " not in log_path.read_text()[offset:]:
        assert process.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, log_path.read_text()[offset:][-3000:]
        time.sleep(0.2)


def test_an_outage_under_load_answers_503_with_retry_after_and_recovers_by_itself(instance, server, scheduler):
    base, world, emails, server_log = server
    scheduler_process, scheduler_log = scheduler
    cookies = signed_in_cookie(base, emails["planner"])
    wait_for_a_job_run(scheduler_process, scheduler_log, 0, timeout=90)

    with Load(base, world.tokens["planner"], cookies) as load:
        time.sleep(WARM_UP_SECONDS)
        going_down = time.monotonic()
        instance.stop()
        down = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        coming_up = time.monotonic()
        instance.start()
        up = time.monotonic()
        scheduler_offset = len(scheduler_log.read_text())
        time.sleep(AFTER_SECONDS)
    answers = sorted(load.answers, key=lambda answer: answer.started)

    failures = [answer for answer in answers if answer.status is None]
    assert not failures, failures[:5]
    before = [answer for answer in answers if answer.ended < going_down]
    assert before and all(200 <= answer.status < 300 for answer in before), [a for a in before if a.status >= 300][:5]
    assert {answer.kind for answer in before} == {"api-read", "api-write", "page"}

    # Down: nothing but 2xx and 503, each 503 in its kind's form and with Retry-After.
    wrong = [answer for answer in answers if not (200 <= answer.status < 300 or answer.status == 503)]
    assert not wrong, wrong[:5]
    during = [answer for answer in answers if answer.started >= down and answer.ended <= coming_up]
    assert len(during) >= 20 and all(answer.status == 503 for answer in during), during[:5]
    assert {answer.kind for answer in during} == {"api-read", "api-write", "page"}
    unavailable = [answer for answer in answers if answer.status == 503]
    for answer in unavailable:
        assert answer.retry_after == "5", answer
        expected = "text/html" if answer.kind == "page" else PROBLEM
        assert answer.content_type.startswith(expected), answer

    # Back: from the moment it accepts connections again, no request fails.
    after = [answer for answer in answers if answer.started >= up]
    assert len(after) >= 10 and all(200 <= answer.status < 300 for answer in after), [
        a for a in after if a.status >= 300
    ][:5]

    # One warning line per 503 and not one traceback.
    log = server_log.read_text()
    assert "Traceback" not in log, log[max(0, log.find("Traceback") - 2000) :][:5000]
    warnings = re.findall(r"database unavailable (?:at commit )?on (?:GET|POST) \S+ \(.*\); answering 503\n", log)
    assert len(warnings) == len(unavailable)

    # The scheduler lived through it and runs its jobs again.
    wait_for_a_job_run(scheduler_process, scheduler_log, scheduler_offset, timeout=15)
