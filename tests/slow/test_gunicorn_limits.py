"""What gunicorn refuses before the app sees it (a request line or header over its limits, a control character in a
header) is answered in problem+json like every other error, at the limits the OpenAPI document states."""

import json
import runpy
import socket
import subprocess
import sys
import time

import pytest

from tests.slow.test_scheduler import ROOT, flask_env
from tests.support.postgres_instance import free_port
from transitions.config import HEADER_FIELDS_MAX, HEADER_LINE_MAX_BYTES, REQUEST_LINE_MAX_BYTES

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory):
    """gunicorn with the repo's gunicorn.conf.py, as scripts/run serves (one worker is enough here)."""
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:%d" % port]
    args += ["--workers", "1", "--no-control-socket", "wsgi:app"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(args, cwd=ROOT, env=flask_env(database_url), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not come up: %s" % log_path.read_text()
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def exchange(port, raw_request):
    """Send raw bytes, read the answer to the end: (status, {header: value}, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(raw_request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split(" ")[1]), headers, body


def request(target, headers=b""):
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + b"\r\n"


def assert_problem(answer, status):
    code, headers, body = answer
    assert code == status, (code, headers, body[:300])
    assert headers["content-type"] == PROBLEM
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    problem = json.loads(body)
    assert problem["status"] == status and problem["type"].startswith("https://") and problem["detail"]
    return problem


def test_a_request_line_over_the_limit_is_a_414_problem(server):
    target = b"/api/v1/referrals?cursor=" + b"a" * REQUEST_LINE_MAX_BYTES
    problem = assert_problem(exchange(server, request(target)), 414)
    assert str(REQUEST_LINE_MAX_BYTES) in problem["detail"]


def test_a_request_line_within_the_limit_reaches_the_app(server):
    target = b"/api/v1/referrals?cursor=" + b"a" * (REQUEST_LINE_MAX_BYTES - 100)
    code, headers, _ = exchange(server, request(target))
    # The app's own answer (no token here), which every app response marks with its request id.
    assert code == 401 and headers["content-type"] == PROBLEM and headers["x-request-id"]


def test_a_10_kb_header_is_a_431_problem(server):
    problem = assert_problem(exchange(server, request(b"/api/v1/referrals", b"X-Big: " + b"a" * 10240 + b"\r\n")), 431)
    assert str(HEADER_LINE_MAX_BYTES) in problem["detail"]


def test_too_many_header_fields_is_a_431_problem(server):
    fields = b"".join(b"X-Field-%d: 1\r\n" % number for number in range(HEADER_FIELDS_MAX + 1))
    assert_problem(exchange(server, request(b"/api/v1/referrals", fields)), 431)


@pytest.mark.parametrize("value", [b"a\x01b", b"a\x00b", b"a\x7fb"])
def test_a_control_character_in_a_header_is_a_400_problem(server, value):
    assert_problem(exchange(server, request(b"/api/v1/referrals", b"X-Bad: " + value + b"\r\n")), 400)


def test_gunicorn_applies_the_limits_the_openapi_document_states(client):
    settings = runpy.run_path(str(ROOT + "/gunicorn.conf.py"))
    assert settings["limit_request_line"] == REQUEST_LINE_MAX_BYTES
    assert settings["limit_request_field_size"] == HEADER_LINE_MAX_BYTES
    assert settings["limit_request_fields"] == HEADER_FIELDS_MAX
    responses = client.get("/api/v1/openapi.json").json["components"]["responses"]
    assert "%d bytes" % REQUEST_LINE_MAX_BYTES in responses["RequestLineTooLong"]["description"]
    assert "%d bytes" % HEADER_LINE_MAX_BYTES in responses["HeaderFieldsTooLarge"]["description"]
    assert "%d header fields" % HEADER_FIELDS_MAX in responses["HeaderFieldsTooLarge"]["description"]
    assert "Retry-After" in responses["DatabaseUnavailable"]["headers"]
