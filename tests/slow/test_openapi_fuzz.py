"""Schemathesis as an outside client runs it: the service under gunicorn in a process of its own (the production
configuration, gunicorn.conf.py), on a free port, with a SQLite database of its own holding the demo's organizations,
users and referrals; one `st run` per role, with every check but one on. Nothing may answer 5xx, and every answer
must match the OpenAPI document (status, content type, headers, body schema).

The one check left off, positive_data_acceptance, expects every schema-valid request to succeed. The document cannot
say everything the service checks: a ZIP that exists, a billable ICD-10-CM code, a cursor this service signed, an
intake date on the track's days. So a schema-valid request may still earn a 422 or a 400, rightly.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ROLES = ("discharge_planner", "iop_coordinator", "case_manager", "admin")
EXCLUDED_CHECKS = "positive_data_acceptance"
# Bounded so the four runs together stay near two minutes on two shared cores.
MAX_EXAMPLES = 4
PHASES = "examples,coverage,fuzzing,stateful"
RUN_TIMEOUT_SECONDS = 240
TOKEN_LINE = re.compile(r"^(admin|discharge_planner|case_manager|iop_coordinator)\s+\S+@\S+\s+(trn_\S+)$", re.M)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flask(env, *args):
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "transitions", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_until_serving(base_url, process, log_path, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("gunicorn exited:\n" + log_path.read_text())
        try:
            if requests.get(base_url + "/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError("gunicorn did not serve in %ds:\n%s" % (seconds, log_path.read_text()))


@pytest.fixture(scope="module")
def served():
    """The demo, migrated and seeded by the CLI, served by gunicorn; yields (base URL, token per role, log path)."""
    # In memory where there is a tmpfs: thousands of small commits, none of which needs to reach a disk.
    work = Path(tempfile.mkdtemp(prefix="openapi-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    (work / "no-directory-files").mkdir()
    env = dict(
        os.environ,
        TRANSITIONS_DATABASE_URL="sqlite:///%s" % (work / "fuzz.sqlite3"),
        TRANSITIONS_SECRET_KEY="openapi-fuzz",
        PYTHONPATH=str(ROOT),
    )
    env.pop("TRANSITIONS_TEST_POSTGRES_URL", None)
    flask(env, "db", "upgrade")
    # The built-in generator, not the SAMHSA files: a small directory, quickly.
    seeded = flask(env, "seed-demo", "--programs", "8", "--data-dir", str(work / "no-directory-files"))
    tokens = dict(TOKEN_LINE.findall(seeded))
    assert set(tokens) == set(ROLES), seeded
    port = free_port()
    log_path = work / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "--bind",
                "127.0.0.1:%d" % port,
                "--access-logfile",
                str(work / "access.log"),
                "--no-control-socket",  # its default path is shared by every gunicorn of this user
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = "http://127.0.0.1:%d" % port
    try:
        wait_until_serving(base_url, process, log_path)
        yield base_url, tokens, log_path
    finally:
        os.killpg(process.pid, signal.SIGINT)  # gunicorn's quick shutdown
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


def start_schemathesis(base_url, token, report_dir):
    """`st run` in a process of its own; its output goes to report_dir/output.txt."""
    output = open(report_dir / "output.txt", "w")  # the child writes it; closed here once it has started
    process = subprocess.Popen(
        [
            str(VENV_BIN / "st"),
            "run",
            base_url + "/api/v1/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            EXCLUDED_CHECKS,
            "--header",
            "Authorization: Bearer " + token,
            "--phases",
            PHASES,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "20261201",
            "--generation-deterministic",  # the same cases every run (and no example database on disk)
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(report_dir),
        ],
        cwd=report_dir,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    output.close()
    return process


def test_no_server_errors_and_every_answer_matches_the_document(served, tmp_path):
    base_url, tokens, log_path = served
    failures = []
    # Two runs at a time: the machine has two cores, and gunicorn needs its share.
    for pair in (ROLES[:2], ROLES[2:]):
        runs = {}
        for role in pair:
            (tmp_path / role).mkdir()
            runs[role] = start_schemathesis(base_url, tokens[role], tmp_path / role)
        for role, process in runs.items():
            process.wait(timeout=RUN_TIMEOUT_SECONDS)
            if process.returncode != 0:
                output = (tmp_path / role / "output.txt").read_text()
                failures.append("---- %s (exit %s)\n%s" % (role, process.returncode, output[-8000:]))
    assert requests.get(base_url + "/readyz", timeout=5).status_code == 200
    assert not failures, "\n".join(failures)
    log = log_path.read_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:8000]


def raw_request(base_url, head, body=b""):
    """Bytes on a socket, as no HTTP library would send them; returns (status, content type, body)."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + b"\r\nHost: %s\r\nConnection: close\r\n\r\n" % host.encode() + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    header, _, content = answer.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    content_type = next(
        (line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("content-type:")), ""
    )
    return int(lines[0].split()[1]), content_type, content


def test_bad_bytes_over_the_wire_are_problems(served):
    """What the in-process table test cannot send: raw bytes in the path and query, and a chunked body past the
    limit. Each is a 4xx problem+json from the real server, which keeps answering."""
    base_url, tokens, log_path = served
    auth = b"\r\nAuthorization: Bearer " + tokens["admin"].encode()
    cases = [
        (b"GET /api/v1/referrals/%ED%A0%80 HTTP/1.1" + auth, b"", 400),  # an encoded surrogate in a path id
        (b"GET /api/v1/referrals/%FF HTTP/1.1" + auth, b"", 400),
        (b"GET /api/v1/audit?object_type=%ED%A0%80 HTTP/1.1" + auth, b"", 400),
        (b"GET /api/v1/audit?object_type=a%00b HTTP/1.1" + auth, b"", 400),
        (b"GET /api/v1/referrals/" + b"a" * 5000 + b" HTTP/1.1" + auth, b"", 404),
        (
            b"POST /api/v1/programs HTTP/1.1" + auth + b"\r\nContent-Type: application/json\r\nContent-Length: 2000",
            b"[" * 1000 + b"]" * 1000,
            400,
        ),
        (
            b"POST /api/v1/programs HTTP/1.1" + auth + b"\r\nContent-Type: application/json"
            b"\r\nTransfer-Encoding: chunked",
            b"".join(b"%x\r\n%s\r\n" % (65536, b"x" * 65536) for _ in range(5)) + b"0\r\n\r\n",
            413,
        ),
    ]
    for head, body, status in cases:
        answered, content_type, content = raw_request(base_url, head, body)
        assert (answered, content_type) == (status, "application/problem+json"), (head[:80], answered, content[:300])
    assert requests.get(base_url + "/readyz", timeout=5).status_code == 200
