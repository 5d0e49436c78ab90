"""Throughput benchmark: referral create and read against a hello-world Flask app, both under gunicorn on loopback."""

import argparse
import base64
import copy
import datetime
import http.client
import json
import os
import platform
import re
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from importlib import metadata

import psycopg
from common import (  # noqa: E402  (bench/ is on sys.path: it is the running script's folder)
    BENCH_DIR,
    REPO_DIR,
    RESULTS_DIR,
    cpu_model,
    create_database,
    database_url,
    drop_database,
    git_facts,
    log,
    verdict,
    write_doc_section,
)

DOC_HEADING = "## API throughput (foundation)"
WRK_SCRIPT = os.path.join(BENCH_DIR, "wrk_bench.lua")
VENV_BIN = os.path.dirname(sys.executable)
sys.path[:0] = [BENCH_DIR, REPO_DIR]

from paced_load import run_paced  # noqa: E402  (bench/ is not a package; the path is set just above)

from tests.support import payloads  # noqa: E402  (the same valid referral the tests post)

TARGETS = {"create_ratio": 0.12, "read_ratio": 0.25, "p95_ms": 50.0, "peer_create": 1.2, "peer_read": 2.0}
# The peer of the same stack (Flask, SQLAlchemy 2, marshmallow, token auth), run from its own folder in its own
# virtualenv, never copied into this repository; without the folder the benchmark says so and measures the rest.
PEER_DIR = os.environ.get("BENCH_PEER_DIR", os.path.join(os.path.dirname(REPO_DIR), "shared", "peers", "microblog-api"))
PEER_VENV = os.environ.get("BENCH_PEER_VENV", "/tmp/microblog-api-venv")
# The peer pins neither a PostgreSQL driver nor SQLAlchemy's psycopg 3 dialect: the same driver as the product.
PEER_DRIVER = "psycopg[binary]==3.3.9"
MODES = {"close": True, "keepalive": False}

# The valid referral the tests use, discharged a week from today so it stays valid whenever the bench runs;
# wrk_bench.lua replaces __UNIQUE__ with a new family name per request (the same patient twice is a 409).
REFERRAL_BODY = payloads.referral(
    patient={"family_name": "Bench __UNIQUE__"},
    discharge_date=(datetime.date.today() + datetime.timedelta(days=7)).isoformat(),
)


def referral_body(unique):
    body = copy.deepcopy(REFERRAL_BODY)
    body["patient"]["family_name"] = "Bench %s" % unique
    return json.dumps(body).encode()


# ------------------------------------------------------------------ environment


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_facts(admin_url):
    with psycopg.connect(admin_url, autocommit=True) as connection:
        facts = {}
        for setting in ("server_version", "synchronous_commit", "fsync", "shared_buffers", "max_connections"):
            facts[setting] = connection.execute("SHOW %s" % setting).fetchone()[0]
        return facts


def machine_facts(admin_url):
    model = cpu_model()
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": postgres_facts(admin_url),
        "gunicorn": metadata.version("gunicorn"),
        "flask": metadata.version("flask"),
        "sqlalchemy": metadata.version("sqlalchemy"),
        "psycopg": metadata.version("psycopg"),
        "wrk": wrk_version[0] if wrk_version else "?",
    }


def product_env(url, secret):
    env = dict(os.environ)
    env["TRANSITIONS_DATABASE_URL"] = url
    # An explicit key keeps the benchmark from writing instance/secret_key.
    env["TRANSITIONS_SECRET_KEY"] = secret
    return env


def flask_cli(env, *args):
    return subprocess.run(
        [os.path.join(VENV_BIN, "flask"), "--app", "transitions", *args],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


class Gunicorn:
    """One gunicorn master on a loopback port; its log goes to bench/results/."""

    def __init__(self, name, app, chdir, env, workers, threads, log_path, venv_bin=VENV_BIN, control_socket_flag=True):
        self.name = name
        self.port = free_port()
        self.log_file = open(log_path, "w")
        command = [
            os.path.join(venv_bin, "gunicorn"),
            app,
            "--chdir",
            chdir,
            "--bind",
            "127.0.0.1:%d" % self.port,
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
        ]
        if control_socket_flag:
            # gunicorn 27 otherwise opens a control socket at one fixed path in $HOME, shared by every
            # gunicorn on the machine; the benchmark needs none (older gunicorns, the peer's, have no such socket).
            command.append("--no-control-socket")
        self.command = command
        self.process = subprocess.Popen(command, cwd=chdir, env=env, stdout=self.log_file, stderr=subprocess.STDOUT)

    def wait_ready(self, path, timeout=60, answers=(200,)):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "%s gunicorn exited with %s; see %s" % (self.name, self.process.returncode, self.log_file.name)
                )
            try:
                status, _ = request(self.port, "GET", path)
                if status in answers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("%s gunicorn not ready after %ss" % (self.name, timeout))

    def worker_pids(self):
        return sorted(pid for pid, parent in process_parents().items() if parent == self.process.pid)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


def request(port, method, path, body=None, token=None, basic=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = "Bearer %s" % token
    if basic:
        headers["Authorization"] = "Basic %s" % base64.b64encode(("%s:%s" % basic).encode()).decode()
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        return response.status, (json.loads(payload) if payload else None)
    finally:
        connection.close()


def bench_planner_token(port, admin_token):
    """A hospital and its discharge planner, made through the API as an operator would; the planner's token."""
    hospital_body = {"name": "Bench Hospital", "kind": "hospital"}
    hospital = api(port, "POST", "/api/v1/organizations", hospital_body, admin_token, 201)
    planner = api(
        port,
        "POST",
        "/api/v1/users",
        {"email": "bench-planner@example.org", "organization_id": hospital["id"], "role": "discharge_planner"},
        admin_token,
        201,
    )
    return planner["token"]


def api(port, method, path, body, token, expect):
    status, payload = request(port, method, path, json.dumps(body).encode(), token)
    if status != expect:
        raise RuntimeError("%s %s answered %s, expected %s: %s" % (method, path, status, expect, payload))
    return payload


# ------------------------------------------------------------------ the peer (microblog-api)


def peer_venv_bin(log_to):
    """The peer's own virtualenv under /tmp (made from its requirements.txt on first use), or None."""
    if not os.path.isdir(PEER_DIR):
        return None
    bin_dir = os.path.join(PEER_VENV, "bin")
    if not os.path.exists(os.path.join(bin_dir, "gunicorn")):
        log("making the peer's virtualenv in %s from its requirements.txt" % PEER_VENV)
        with open(log_to, "w") as output:
            subprocess.run([sys.executable, "-m", "venv", PEER_VENV], check=True, stdout=output, stderr=output)
            subprocess.run(
                [
                    os.path.join(bin_dir, "pip"),
                    "install",
                    "-r",
                    os.path.join(PEER_DIR, "requirements.txt"),
                    PEER_DRIVER,
                ],
                check=True,
                stdout=output,
                stderr=output,
            )
    return bin_dir


def peer_env(url):
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url.replace("postgresql://", "postgresql+psycopg://", 1),
            "SECRET_KEY": "bench-" + secrets.token_hex(16),
            # Its access tokens last 15 minutes by default; a benchmark run may be longer.
            "ACCESS_TOKEN_MINUTES": "600",
            "USE_CORS": "no",
        }
    )
    return env


def start_peer(args, admin_url, bin_dir, stamp):
    """The peer on its own database, migrated, with one user, its token and seeded posts: (server, endpoints)."""
    name = "microblog_bench_%s" % secrets.token_hex(6)
    create_database(admin_url, name)
    env = peer_env(database_url(args.pg_server, name))
    subprocess.run(
        [os.path.join(bin_dir, "alembic"), "upgrade", "head"], cwd=PEER_DIR, env=env, check=True, capture_output=True
    )
    server = Gunicorn(
        "peer",
        "microblog:app",
        PEER_DIR,
        env,
        args.workers,
        args.threads,
        os.path.join(RESULTS_DIR, "throughput-gunicorn-peer-%s.log" % stamp),
        venv_bin=bin_dir,
        control_socket_flag=False,
    )
    server.database = name
    return server


def peer_endpoints(server, args, body_dir):
    user = {"username": "bench", "email": "bench@example.org", "password": "bench-password-%s" % secrets.token_hex(4)}
    api(server.port, "POST", "/api/users", user, None, 201)
    status, tokens = request(server.port, "POST", "/api/tokens", b"", basic=(user["username"], user["password"]))
    if status != 200:
        raise RuntimeError("peer token answered %s: %s" % (status, tokens))
    token = tokens["access_token"]
    posts = [
        api(server.port, "POST", "/api/posts", {"text": "seed %d" % index}, token, 201)["id"]
        for index in range(args.seed_referrals)
    ]
    body_file = os.path.join(body_dir, "post.json")
    with open(body_file, "w") as handle:
        json.dump({"text": "A post from the benchmark, __UNIQUE__"}, handle)
    return {
        "peer_create": {
            "name": "peer_create",
            "server": server,
            "method": "POST",
            "paths": ["/api/posts"],
            "token": token,
            "body_file": body_file,
            "expect": 201,
        },
        "peer_read": {
            "name": "peer_read",
            "server": server,
            "method": "GET",
            "paths": ["/api/posts/%d" % post_id for post_id in posts],
            "token": token,
            "expect": 200,
        },
    }


def analyze(url):
    """PostgreSQL statistics for what was seeded: autovacuum may be off, and a plan without them reads everything."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("ANALYZE")


# ------------------------------------------------------------------ CPU accounting


def process_parents():
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError):
                continue
    return parents


def _process_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            text = stat.read()
    except OSError:
        return None, 0
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of /proc/PID/stat; fields[0] here is field 3.
    return comm, int(fields[11]) + int(fields[12])


def _is_ours_postgres(pid, databases):
    """Backends of the bench databases and PostgreSQL's own helpers; not other sessions' client backends."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as cmdline:
            title = cmdline.read().decode(errors="replace")
    except OSError:
        return False
    is_client_backend = "127.0.0.1(" in title or "[local]" in title or "::1(" in title
    return any(database in title for database in databases) or not is_client_backend


def machine_ticks():
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    return sum(values[:8]), values[3] + values[4]


def cpu_snapshot(server_pids, databases):
    """CPU ticks so far: the whole machine, the gunicorn processes, PostgreSQL, this process, reaped children."""
    total, idle = machine_ticks()
    groups = Counter()
    for pid in process_parents():
        comm, ticks = _process_ticks(pid)
        if pid in server_pids:
            groups["server"] += ticks
            groups["server_pid_%d" % pid] += ticks
        elif comm == "postgres" and _is_ours_postgres(pid, databases):
            groups["postgres"] += ticks
        elif pid == os.getpid():
            groups["generator_python"] += ticks
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "time": time.monotonic(),
        "total": total,
        "idle": idle,
        "groups": groups,
        "children_s": children.ru_utime + children.ru_stime,
    }


def cpu_usage(before, after):
    """Cores used per group between two snapshots (2.0 = both cores of a 2-core machine busy)."""
    elapsed = max(after["time"] - before["time"], 1e-9)
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    total = max(after["total"] - before["total"], 1)
    busy_fraction = 1 - (after["idle"] - before["idle"]) / total
    usage = {"machine_busy_fraction": round(busy_fraction, 3)}
    for group in ("server", "postgres", "generator_python"):
        usage[group + "_cores"] = round((after["groups"][group] - before["groups"][group]) / ticks_per_s / elapsed, 2)
    # Per process, to show whether both workers did their share.
    usage["server_processes_cores"] = {
        group[len("server_pid_") :]: round(
            (after["groups"][group] - before["groups"][group]) / ticks_per_s / elapsed, 2
        )
        for group in after["groups"]
        if group.startswith("server_pid_") and after["groups"][group] - before["groups"][group] > 0
    }
    # wrk is a child that was reaped by the time of the second snapshot.
    usage["generator_wrk_cores"] = round((after["children_s"] - before["children_s"]) / elapsed, 2)
    ours = sum(usage[group + "_cores"] for group in ("server", "postgres", "generator_python", "generator_wrk"))
    # Whatever else ran on the machine meanwhile (other test runs, other databases): it took cores from the bench.
    usage["other_cores"] = round(max(0.0, busy_fraction * (os.cpu_count() or 1) - ours), 2)
    return usage


def wait_for_quiet(limit_s, threshold=0.15):
    """Wait (up to limit_s) until the machine is nearly idle, so others' work does not skew a phase."""
    started = time.monotonic()
    while True:
        total, idle = machine_ticks()
        time.sleep(1.0)
        total_after, idle_after = machine_ticks()
        busy = 1 - (idle_after - idle) / max(total_after - total, 1)
        waited = time.monotonic() - started
        if busy <= threshold or waited >= limit_s:
            if busy > threshold:
                log("machine still %d %% busy with other work after %ds; measuring anyway" % (busy * 100, waited))
            return {"busy_before": round(busy, 3), "waited_s": round(waited, 1)}
        if waited < 1.5 or int(waited) % 30 < 1:
            log("machine %d %% busy with other work; waiting for it to quieten" % (busy * 100))


def measure(label, run, servers, databases, args):
    """One run with its CPU accounting, repeated (up to --attempts) while other work took over --max-other cores."""
    best = None
    for attempt in range(1, args.attempts + 1):
        quiet = wait_for_quiet(args.quiet_wait)
        server_pids = all_server_pids(servers)
        before = cpu_snapshot(server_pids, databases)
        result = run(attempt)
        result["cpu"] = cpu_usage(before, cpu_snapshot(server_pids, databases))
        result["quiet"] = quiet
        result["attempt"] = attempt
        # The least disturbed attempt stands: others' work on a 2-core machine takes cores from the server.
        if best is None or result["cpu"]["other_cores"] < best["cpu"]["other_cores"]:
            best = result
        if result["cpu"]["other_cores"] <= args.max_other or attempt == args.attempts:
            break
        log("%s: other work took %.2f cores during the run; measuring again" % (label, result["cpu"]["other_cores"]))
    best["attempts"] = attempt
    best["disturbed"] = best["cpu"]["other_cores"] > args.max_other
    return best


def all_server_pids(servers):
    pids = set()
    for server in servers:
        pids.add(server.process.pid)
        pids.update(server.worker_pids())
    return pids


# ------------------------------------------------------------------ load phases


def run_wrk(port, endpoint, duration, connections, tag, close, timeout=10):
    """Closed-loop max throughput: wrk keeps `connections` requests in flight for `duration` seconds."""
    env = dict(os.environ)
    env.update(
        {
            "BENCH_METHOD": endpoint["method"],
            "BENCH_PATHS": ",".join(endpoint["paths"]),
            "BENCH_TOKEN": endpoint.get("token") or "",
            "BENCH_BODY_FILE": endpoint.get("body_file") or "",
            "BENCH_TAG": tag,
            "BENCH_CLOSE": "1" if close else "0",
        }
    )
    command = [
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        "%ds" % duration,
        "--timeout",
        "%ds" % timeout,
        "--script",
        WRK_SCRIPT,
        "http://127.0.0.1:%d" % port,
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + timeout + 30)
    line = next((line for line in completed.stdout.splitlines() if line.startswith("BENCH_JSON ")), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError("wrk failed (%s): %s %s" % (completed.returncode, completed.stdout, completed.stderr))
    raw = json.loads(line[len("BENCH_JSON ") :])
    seconds = raw["duration_us"] / 1e6
    expected = str(endpoint["expect"])
    unexpected = {status: count for status, count in raw["statuses"].items() if status != expected}
    socket_errors = sum(value for key, value in raw["errors"].items() if key != "status")
    return {
        "command": " ".join(command),
        "connections": connections,
        "duration_s": round(seconds, 2),
        "requests": raw["requests"],
        "statuses": raw["statuses"],
        "unexpected_statuses": unexpected,
        "socket_errors": raw["errors"],
        # Only answers with the expected status count as throughput.
        "rps": round(raw["statuses"].get(expected, 0) / seconds, 1),
        "rps_all": round(raw["requests"] / seconds, 1),
        "ok": not unexpected and socket_errors == 0,
        "latency_ms": {
            key: round(value / 1000, 2)
            for key, value in raw["latency_us"].items()
            if key in ("mean", "p50", "p90", "p95", "p99", "max")
        },
    }


def paced_builder(endpoint, tag, close):
    """build_request for paced_load: same requests as the wrk script, unique patients with their own tag."""
    headers = {"Connection": "close"} if close else {}
    if endpoint.get("token"):
        headers["Authorization"] = "Bearer %s" % endpoint["token"]
    if endpoint["method"] == "POST":
        headers["Content-Type"] = "application/json"
        path = endpoint["paths"][0]
        return lambda index: ("POST", path, referral_body("%s%d" % (tag, index)), headers)
    paths = endpoint["paths"]
    return lambda index: ("GET", paths[index % len(paths)], None, headers)


def run_profile(server, endpoint, seconds, connections, tag, close):
    """Sample the product's workers with py-spy while wrk loads one endpoint; returns the hotspot summary."""
    py_spy = shutil.which("py-spy") or os.path.join(VENV_BIN, "py-spy")
    outputs, samplers, logs = [], [], []
    for pid in server.worker_pids():
        output = os.path.join(RESULTS_DIR, "throughput-profile-%s-%d.txt" % (endpoint["name"], pid))
        outputs.append(output)
        logs.append(open(output + ".log", "w"))
        # --gil: only the thread holding the GIL, i.e. where the worker's CPU goes, not threads waiting on I/O.
        samplers.append(
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(seconds),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--gil",
                    "--nonblocking",
                    "--output",
                    output,
                ],
                stdout=subprocess.DEVNULL,
                stderr=logs[-1],
            )
        )
    time.sleep(0.5)
    run_wrk(server.port, endpoint, seconds + 1, connections, tag, close)
    for sampler, handle in zip(samplers, logs, strict=True):
        sampler.wait(seconds + 30)
        handle.close()
    return summarize_profile(outputs)


FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
STDLIB = set(sys.stdlib_module_names)


def _short_frame(frame):
    """py-spy frames read 'function (package/module.py:line)'; drop the line so a function's samples add up."""
    match = FRAME.match(frame)
    return "%s (%s)" % (match.group("function"), match.group("file")) if match else frame


def _package(frame):
    match = FRAME.match(frame)
    path = match.group("file") if match else frame
    top = path.split("/", 1)[0]
    top = top[:-3] if top.endswith(".py") else top
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    return "stdlib" if top in STDLIB else top


# Where a request's CPU goes, by the frames that open each stage (matched on the start of py-spy's frame text).
STAGES = (
    ("whole request in Flask", "Flask.wsgi_app "),
    ("authentication", "load_user_from_request "),
    ("body/query parsing and validation", "Parser.parse (webargs"),
    ("referral service", "create_referral (transitions/services"),
    ("access check and load", "get_referral (transitions/access"),
    ("response shaping", "dump_referral "),
    ("commit and audit (unit of work)", "finish_request "),
)


def summarize_profile(paths, top=15):
    """From py-spy raw (collapsed) stacks: the functions that hold the most samples, self and inclusive."""
    total = 0
    inclusive, leaf, packages, stages = Counter(), Counter(), Counter(), Counter()
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path) as handle:
            for line in handle:
                stack, _, count = line.rstrip("\n").rpartition(" ")
                if not stack or not count.isdigit():
                    continue
                count = int(count)
                frames = stack.split(";")
                total += count
                for name in {_short_frame(frame) for frame in frames}:
                    inclusive[name] += count
                for label, prefix in STAGES:
                    if any(frame.startswith(prefix) for frame in frames):
                        stages[label] += count
                leaf[_short_frame(frames[-1])] += count
                packages[_package(frames[-1])] += count
    if not total:
        return {"samples": 0}

    def share(counter, keep):
        return [{"what": name, "percent": round(100 * count / total, 1)} for name, count in counter.most_common(keep)]

    # Frames every request passes through (gunicorn, Flask dispatch) crowd the inclusive list; keep the product's.
    product_inclusive = Counter({name: count for name, count in inclusive.items() if "transitions/" in name})
    return {
        "samples": total,
        "stages": {label: round(100 * stages[label] / total, 1) for label, _ in STAGES if stages[label]},
        "self_by_package": share(packages, 10),
        "self_top": share(leaf, top),
        "inclusive_transitions_top": share(product_inclusive, top),
        "raw_files": paths,
    }


def _parse_libpq_trace(text):
    """Statements and round trips from a libpq trace: one ReadyForQuery ends each round trip."""
    statements = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 4 and parts[0] == "F" and parts[2] in ("Query", "Parse"):
            statement = parts[3].strip()
            if parts[2] == "Parse":
                statement = statement.split('" "', 1)[-1]
            statements.append(" ".join(statement.strip('"').split())[:160])
    round_trips = sum(1 for line in text.splitlines() if line.startswith("B\t") and "\tReadyForQuery" in line)
    return {"round_trips": round_trips, "statements": statements}


PING = "pool pre-ping (;)"


def sql_trace(url, secret, token, referral_id):
    """The SQL one create and one read send, traced in-process by libpq through the app's own engine.

    Each pooled connection is traced from the moment it connects, so the pool's pre-ping (sent before SQLAlchemy's
    checkout event) is in the trace; each request's share is what its connections' traces grew by meanwhile. A
    warm-up read first, so the traced requests meet a pooled connection, as in production, and pay its ping.
    """
    sys.path.insert(0, REPO_DIR)
    from psycopg.pq import Trace
    from sqlalchemy import event

    from transitions import create_app
    from transitions.core.db import db

    # The steady state: a worker under load resolves a token once per TOKEN_CACHE_SECONDS, not per request, and a
    # slow trace on a busy machine must not show the odd lookup as every request's.
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": secret, "TOKEN_CACHE_SECONDS": 3600})
    files = []

    def start_trace(dbapi_connection, record):
        handle = tempfile.TemporaryFile("w+b")
        dbapi_connection.pgconn.trace(handle.fileno())
        dbapi_connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        files.append((dbapi_connection, handle))

    with app.app_context():
        event.listen(db.engine, "connect", start_trace)
    client = app.test_client()
    headers = {"Authorization": "Bearer %s" % token}
    report = {}
    for key, call in (
        ("warm-up", lambda: client.get("/api/v1/referrals/%s" % referral_id, headers=headers)),
        (
            "create",
            lambda: client.post(
                "/api/v1/referrals",
                data=referral_body("trace"),
                headers=dict(headers, **{"Content-Type": "application/json"}),
            ),
        ),
        ("read", lambda: client.get("/api/v1/referrals/%s" % referral_id, headers=headers)),
    ):
        sizes = {id(handle): os.fstat(handle.fileno()).st_size for _, handle in files}
        response = call()
        text = ""
        for _, handle in files:
            offset = sizes.get(id(handle), 0)
            grown = os.fstat(handle.fileno()).st_size - offset
            if grown > 0:
                text += os.pread(handle.fileno(), grown, offset).decode(errors="replace")
        if key == "warm-up":
            continue
        report[key] = _parse_libpq_trace(text)
        report[key]["status"] = response.status_code
        # psycopg's ping (SQLAlchemy's do_ping) is an empty statement.
        report[key]["statements"] = [
            PING if statement.strip() == ";" else statement for statement in report[key]["statements"]
        ]
        report[key]["pings"] = report[key]["statements"].count(PING)
    with app.app_context():
        db.engine.dispose()
    for _, handle in files:
        handle.close()
    report["pool_pre_ping"] = bool(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}).get("pool_pre_ping"))
    return report


# ------------------------------------------------------------------ report


def cpu_cost_ms(run):
    """CPU milliseconds one answered request cost: unlike req/s, this hardly moves when others share the machine."""
    usage, rps = run["cpu"], max(run["rps"], 1e-9)
    server = 1000 * usage["server_cores"] / rps
    postgres = 1000 * usage["postgres_cores"] / rps
    generator = 1000 * (usage["generator_wrk_cores"] + usage["generator_python_cores"]) / rps
    return {"server": server, "postgres": postgres, "generator": generator, "total": server + postgres + generator}


def side_by_side_ratios(results):
    """Throughput ratios per connection mode: against hello-world, and against the peer where it ran."""
    ratios = {}
    for phase, mode in (("max", "close"), ("max_keepalive", "keepalive")):
        runs = results.get(phase)
        if not runs or "hello" not in runs:
            continue
        hello = runs["hello"]["rps"] or 1e-9
        for key, floor in (("read", "floor"), ("create", "floor_create")):
            if floor in runs:
                ratios["%s_vs_hello_%s" % (floor, mode)] = round(runs[floor]["rps"] / hello, 4)
                ratios["%s_vs_floor_%s" % (key, mode)] = round(runs[key]["rps"] / (runs[floor]["rps"] or 1e-9), 4)
        for key in ("create", "read"):
            ratios["%s_vs_hello_%s" % (key, mode)] = round(runs[key]["rps"] / hello, 4)
            peer = runs.get("peer_" + key)
            if peer:
                ratios["%s_vs_peer_%s" % (key, mode)] = round(runs[key]["rps"] / (peer["rps"] or 1e-9), 3)
                ours, theirs = cpu_cost_ms(runs[key]), cpu_cost_ms(peer)
                ratios["%s_cpu_ms_%s" % (key, mode)] = {
                    "ours": {"server": round(ours["server"], 2), "postgres": round(ours["postgres"], 2)},
                    "peer": {"server": round(theirs["server"], 2), "postgres": round(theirs["postgres"], 2)},
                }
    return ratios


def render_side_by_side(results):
    """The table of both connection modes, hello-world and the peer beside the product, from one run."""
    checks = results["checks"]
    phases = [(phase, mode) for phase, mode in (("max", "close"), ("max_keepalive", "keep-alive")) if phase in results]
    peer = results.get("peer", {})
    lines = [
        "",
        "Side by side in this run (the same gunicorn settings, the same PostgreSQL; CPU per request from /proc: the "
        "gunicorn processes and the PostgreSQL backends of the benchmark's databases):",
        "",
    ]
    if "absent" in peer:
        lines += ["- The peer's folder (%s) was absent: measured without it." % peer["absent"], ""]
    else:
        lines += [
            "- Peer: miguelgrinberg/microblog-api run from `%s` in its own virtualenv (`%s`), `GET /api/posts/{id}` "
            "and `POST /api/posts` with its bearer-token auth, gunicorn from its own pins."
            % (peer["dir"], peer["venv"]),
            "",
        ]
    lines += [
        "| endpoint | connections | req/s | vs hello | vs peer | CPU ms per request: gunicorn + PostgreSQL |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for phase, mode in phases:
        runs = results[phase]
        hello = runs["hello"]["rps"] or 1e-9
        for key, label in (
            ("hello", "GET /hello"),
            ("read", "GET /api/v1/referrals/{id}"),
            ("floor", "floor GET /floor/referrals/{id}"),
            ("peer_read", "peer GET /api/posts/{id}"),
            ("create", "POST /api/v1/referrals"),
            ("floor_create", "floor POST /floor/referrals"),
            ("peer_create", "peer POST /api/posts"),
        ):
            if key not in runs:
                continue
            run, cost = runs[key], cpu_cost_ms(runs[key])
            versus_peer = ""
            if key in ("read", "create") and "peer_" + key in runs:
                versus_peer = "%.2f×" % (run["rps"] / (runs["peer_" + key]["rps"] or 1e-9))
            lines.append(
                "| %s | %s | %.0f | %.1f %% | %s | %.2f + %.2f |"
                % (label, mode, run["rps"], 100 * run["rps"] / hello, versus_peer, cost["server"], cost["postgres"])
            )
    lines.append("")
    for key, target_hello, target_peer in (
        ("read", TARGETS["read_ratio"], TARGETS["peer_read"]),
        ("create", TARGETS["create_ratio"], TARGETS["peer_create"]),
    ):
        parts = []
        if "%s_vs_hello_close" % key in checks:
            ratio = checks["%s_vs_hello_close" % key]
            parts.append(
                "%.1f %% of hello-world with Connection: close (target ≥ %d %% %s)"
                % (100 * ratio, 100 * target_hello, verdict(ratio >= target_hello))
            )
        if "%s_vs_hello_keepalive" % key in checks:
            parts.append("%.1f %% with keep-alive" % (100 * checks["%s_vs_hello_keepalive" % key]))
        if "%s_vs_peer_close" % key in checks:
            ratio = checks["%s_vs_peer_close" % key]
            parts.append("%.2f× the peer (target ≥ %.1f× %s)" % (ratio, target_peer, verdict(ratio >= target_peer)))
        if "%s_vs_peer_keepalive" % key in checks:
            parts.append("%.2f× the peer with keep-alive" % checks["%s_vs_peer_keepalive" % key])
        lines.append("- %s: %s." % (key.capitalize(), "; ".join(parts)))
    for key, floor in (("read", "floor"), ("create", "floor_create")):
        if "%s_vs_hello_close" % floor in checks:
            lines.append(
                "- Floor of the %s (bench/floor_app.py: its SQL in this stack with nothing else): %.1f %% of "
                "hello-world with Connection: close; the product's %s reaches %.0f %% of the floor's throughput%s."
                % (
                    key,
                    100 * checks["%s_vs_hello_close" % floor],
                    key,
                    100 * checks["%s_vs_floor_close" % key],
                    (
                        " (%.0f %% with keep-alive)" % (100 * checks["%s_vs_floor_keepalive" % key])
                        if "%s_vs_floor_keepalive" % key in checks
                        else ""
                    ),
                )
            )
    return lines


def render_section(results):
    machine, settings, maxima, paced = results["machine"], results["settings"], results["max"], results["paced"]
    hello = maxima["hello"]["rps"] or 1e-9
    create_ratio = maxima["create"]["rps"] / hello
    read_ratio = maxima["read"]["rps"] / hello
    create_p95 = paced["create"]["latency_ms"]["p95"]
    read_p95 = paced["read"]["latency_ms"]["p95"]
    checks = results["checks"]
    pg = machine["postgresql"]
    lines = [
        DOC_HEADING,
        "",
        "Measured %s by `bench/throughput.py` (raw JSON in the git-ignored `bench/results/%s`)."
        % (results["date"], os.path.basename(results["results_file"])),
        "",
        "- Code: commit %s%s."
        % (
            results["git"]["commit"],
            " with uncommitted changes to %d files" % len(results["git"]["uncommitted_files"])
            if results["git"]["uncommitted_files"]
            else "",
        ),
        "- Machine: %d CPU (%s), Linux %s, Python %s, PostgreSQL %s (fsync=%s, synchronous_commit=%s, "
        "shared_buffers=%s), all on the same host."
        % (
            machine["nproc"],
            machine["cpu_model"],
            machine["kernel"],
            machine["python"],
            pg["server_version"],
            pg["fsync"],
            pg["synchronous_commit"],
            pg["shared_buffers"],
        ),
        "- Server: gunicorn %s, `--worker-class gthread --workers %d --threads %d`, bound to 127.0.0.1; the same "
        "settings for the product (`wsgi:app`) and for `bench/hello_app.py` (Flask %s, one JSON endpoint)."
        % (machine["gunicorn"], settings["workers"], settings["threads"], machine["flask"]),
        "- Max throughput: `%s`, closed loop, %d concurrent connections, %d s after a %d s warm-up; "
        "only answers with the expected status (201 create, 200 read and hello) count."
        % (machine["wrk"].split(" [")[0], settings["connections"], settings["duration"], settings["warmup"]),
        "- Latency: a Python open-loop generator (`bench/paced_load.py`, %d connections) sends at a fixed "
        "rate of half the endpoint's own max throughput for %d s; latency runs from each request's scheduled "
        'time, so queueing behind a slow answer counts ("generator lag" is how late the generator itself sent; '
        "when it is large the generator, not the server, limited the run)."
        % (settings["paced_connections"], settings["paced_duration"]),
        (
            "- Connections: kept alive."
            if "close" not in settings.get("modes", ["close"])
            else "- Connections: a new one per request (`Connection: close`), as from a proxy that does not pool "
            "upstream connections. With keep-alive, gunicorn serves a connection in the worker that accepted it, "
            "and one worker can end up with all of a run's connections while the other idles (seen while building "
            "this benchmark)."
        ),
        "- Create: `POST /api/v1/referrals` as a discharge planner, a new patient per request. Read: "
        "`GET /api/v1/referrals/{id}` as the same planner over %d seeded referrals (each read also writes its "
        "audit row). The load generator, PostgreSQL and gunicorn share the %d cores."
        % (settings["seed_referrals"], machine["nproc"]),
        "",
        "| endpoint | max req/s | vs hello | target | | non-2xx / errors | p50 at max | p99 at max "
        "| CPU ms per request: gunicorn + PostgreSQL |",
        "| --- | ---: | ---: | --- | --- | --- | ---: | ---: | ---: |",
    ]
    for key, label, ratio, target in (
        ("hello", "GET /hello (baseline)", 1.0, None),
        ("create", "POST /api/v1/referrals", create_ratio, TARGETS["create_ratio"]),
        ("read", "GET /api/v1/referrals/{id}", read_ratio, TARGETS["read_ratio"]),
    ):
        run = maxima[key]
        problems = dict(run["unexpected_statuses"])
        problems.update({name: count for name, count in run["socket_errors"].items() if name != "status" and count})
        cost = cpu_cost_ms(run)
        lines.append(
            "| %s | %.0f | %.1f %% | %s | %s | %s | %.1f ms | %.1f ms | %.2f + %.2f |"
            % (
                label,
                run["rps"],
                ratio * 100,
                "≥ %d %%" % (target * 100) if target else "",
                verdict(ratio >= target) if target else "",
                problems or "none",
                run["latency_ms"]["p50"],
                run["latency_ms"]["p99"],
                cost["server"],
                cost["postgres"],
            )
        )
    lines += [
        "",
        "| at half load | rate asked | rate got | p50 | p95 | p99 | target p95 | | generator lag p95 "
        "| non-2xx / errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |",
    ]
    for key, label in (
        ("hello", "GET /hello"),
        ("create", "POST /api/v1/referrals"),
        ("read", "GET /api/v1/referrals/{id}"),
    ):
        run = paced[key]
        expected = str(run["expect"])
        problems = {status: count for status, count in run["statuses"].items() if status != expected}
        problems.update(run["errors"])
        if run["missed_deadline"]:
            problems["not sent in time"] = run["missed_deadline"]
        target = key != "hello"
        latency = run["latency_ms"]
        lines.append(
            "| %s | %.0f/s | %.0f/s | %s ms | %s ms | %s ms | %s | %s | %s ms | %s |"
            % (
                label,
                run["target_rate"],
                run["achieved_rate"],
                latency["p50"],
                latency["p95"],
                latency["p99"],
                "≤ %d ms" % TARGETS["p95_ms"] if target else "",
                verdict(latency["p95"] is not None and latency["p95"] <= TARGETS["p95_ms"]) if target else "",
                run["send_lag_ms"]["p95"],
                problems or "none",
            )
        )
    lines += [
        "",
        "CPU used during each run, in cores of %d (wrk or the Python generator is the load generator; "
        '"other" is work outside the benchmark that ran on the machine at the same time):' % machine["nproc"],
        "",
        "| run | gunicorn | of which per process | PostgreSQL | load generator | other | machine busy |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for phase, label in (("max", "max"), ("paced", "half load")):
        for key in ("hello", "create", "read"):
            usage = results[phase][key]["cpu"]
            split = " + ".join(
                "%.2f" % cores
                for cores in sorted(usage["server_processes_cores"].values(), reverse=True)
                if cores >= 0.01
            )
            lines.append(
                "| %s %s | %.2f | %s | %.2f | %.2f | %.2f | %d %% |"
                % (
                    key,
                    label,
                    usage["server_cores"],
                    split,
                    usage["postgres_cores"],
                    usage["generator_wrk_cores"] + usage["generator_python_cores"],
                    usage["other_cores"],
                    usage["machine_busy_fraction"] * 100,
                )
            )
    lines += [
        "",
        "Where it stands:",
        "",
        "- Create throughput is %.1f %% of hello-world: target ≥ %d %% %s."
        % (create_ratio * 100, TARGETS["create_ratio"] * 100, verdict(create_ratio >= TARGETS["create_ratio"])),
        "- Read throughput is %.1f %% of hello-world: target ≥ %d %% %s."
        % (read_ratio * 100, TARGETS["read_ratio"] * 100, verdict(read_ratio >= TARGETS["read_ratio"])),
        "- p95 at half load: create %s ms, read %s ms: target ≤ %d ms %s for create and %s for read."
        % (
            create_p95,
            read_p95,
            TARGETS["p95_ms"],
            verdict(create_p95 is not None and create_p95 <= TARGETS["p95_ms"]),
            verdict(read_p95 is not None and read_p95 <= TARGETS["p95_ms"]),
        ),
    ]
    hello_cost, create_cost, read_cost = (cpu_cost_ms(maxima[key])["total"] for key in ("hello", "create", "read"))
    lines.append(
        "- Cross-check that other load on the machine cannot skew: CPU per request (gunicorn + PostgreSQL "
        "+ load generator) is %.2f ms for hello, %.2f ms for create and %.2f ms for read, so on a machine "
        "the benchmark has to itself, where CPU is the limit, create would reach about %.0f %% and read "
        "about %.0f %% of hello-world."
        % (hello_cost, create_cost, read_cost, 100 * hello_cost / create_cost, 100 * hello_cost / read_cost)
    )
    disturbed = [
        "%s %s" % (key, label)
        for phase, label in (("max", "max"), ("paced", "half load"))
        for key in ("hello", "create", "read")
        if results[phase][key].get("disturbed")
    ]
    if any(maxima[key].get("disturbed") for key in maxima):
        lines.append(
            "- The half-load rates are half of max runs that other work slowed down, so they are lower than "
            "half of what this machine does alone, and the p95 verdicts above are on the optimistic side."
        )
    if disturbed:
        lines.append(
            "- Other work on the machine took more than %.2f cores during: %s, in each of up to %d "
            "attempts; those figures are pessimistic."
            % (settings["max_other"], ", ".join(disturbed), settings["attempts"])
        )
    if not checks["all_ok"]:
        lines.append(
            "- Some runs had unexpected statuses or socket errors (see the tables): the figures above "
            "count only the expected answers."
        )
    if "checks" in results and any(key.endswith("_keepalive") or "_vs_peer_" in key for key in results["checks"]):
        lines += render_side_by_side(results)
    sql = results.get("sql")
    if sql:
        lines += [
            "",
            "SQL per request (libpq trace of one request of each, made in-process on a pooled connection; the pool's "
            "pre-ping, an empty statement, is in the trace and in the count when `pool_pre_ping` is on: %s):"
            % ("on" if sql.get("pool_pre_ping") else "off"),
            "",
        ]
        for key in ("create", "read"):
            statements = [statement.split(" (")[0].split(" VALUES")[0][:60] for statement in sql[key]["statements"]]
            lines.append(
                "- %s: %d round trips: %s."
                % (
                    key,
                    sql[key]["round_trips"],
                    "; ".join(
                        "`%s`" % (statement.split(",")[0] + (" …" if "," in statement else ""))
                        for statement in statements
                    ),
                )
            )
    profile = results.get("profile")
    if profile:
        lines += [
            "",
            "Profile (py-spy `--gil`: where the workers spend CPU holding the GIL; %d samples over both "
            "workers while loaded at max; self time by package, then the product functions with the most "
            "inclusive time):" % sum(part.get("samples", 0) for part in profile.values()),
            "",
        ]
        for key, part in profile.items():
            if not part.get("samples"):
                continue
            packages = ", ".join("%s %.0f %%" % (item["what"], item["percent"]) for item in part["self_by_package"][:6])
            product = ", ".join(
                "%s %.0f %%" % (item["what"], item["percent"]) for item in part["inclusive_transitions_top"][:6]
            )
            hottest = ", ".join("%s %.0f %%" % (item["what"], item["percent"]) for item in part["self_top"][:6])
            stages = ", ".join("%s %.0f %%" % item for item in part.get("stages", {}).items())
            lines.append(
                "- %s: stages: %s. Self time by package: %s. Hottest functions: %s. Product frames: %s."
                % (key, stages, packages, hottest, product)
            )
    return "\n".join(lines) + "\n"


DOC_INTRO = """# Performance

Run the throughput benchmark from the repository root:

    .venv/bin/python bench/throughput.py            # add --profile to sample the workers with py-spy

It needs PostgreSQL at postgresql://postgres@127.0.0.1:5432 with trust auth (or `--pg-server URL`) and `wrk`
(`apt-get install -y wrk`); `--profile` also needs py-spy (`.venv/bin/pip install py-spy`). It creates a
throw-away database `transitions_bench_<random>`, migrates it, makes a planner through the API, seeds
referrals, serves the product and `bench/hello_app.py` with gunicorn on loopback, loads them, drops the
database, writes raw JSON to `bench/results/` (git-ignored) and rewrites the section "API throughput
(foundation)" below (`--no-doc` leaves it alone; `--render FILE` rewrites it from a saved JSON result).

"""


# ------------------------------------------------------------------ main


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--pg-server",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL; a fresh database is created on it and dropped at the end",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2: the machine has 2 cores)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections for the max-throughput runs")
    parser.add_argument("--duration", type=int, default=15, help="seconds of each max-throughput run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each max-throughput run")
    parser.add_argument("--paced-duration", type=int, default=20, help="seconds of each half-load latency run")
    parser.add_argument("--paced-connections", type=int, default=16, help="connections of the half-load generator")
    parser.add_argument("--seed-referrals", type=int, default=50, help="referrals created for the read runs")
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=10,
        default=0,
        metavar="SECONDS",
        help="after measuring, sample the workers with py-spy for SECONDS under create and read load",
    )
    parser.add_argument(
        "--quiet-wait",
        type=int,
        default=20,
        help="seconds to wait at most before each run for other work on the machine to stop (on a shared host it "
        "never does; the CPU accounting then says how much other work took)",
    )
    parser.add_argument(
        "--max-other",
        type=float,
        default=0.2,
        help="cores other work may take during a run before it is measured again",
    )
    parser.add_argument("--attempts", type=int, default=3, help="runs of a phase at most, while others disturb it")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=tuple(MODES),
        default=list(MODES),
        help="connection modes of the max-throughput runs: close (a new connection per request, the figure the "
        "targets are set on) and keepalive; the half-load runs use close when it is measured",
    )
    parser.add_argument("--render", metavar="JSON", help="only rewrite the doc section from a saved result file")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite the section in docs/performance.md")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.render:
        with open(args.render) as handle:
            write_doc_section(DOC_HEADING, render_section(json.load(handle)))
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu)")
    if args.profile and not (shutil.which("py-spy") or os.path.exists(os.path.join(VENV_BIN, "py-spy"))):
        sys.exit("--profile needs py-spy: .venv/bin/pip install py-spy")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    admin_url = database_url(args.pg_server, "postgres")
    name = "transitions_bench_%s" % secrets.token_hex(6)
    url = database_url(args.pg_server, name)
    results = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_facts(admin_url),
        "git": git_facts(),
        "settings": vars(args),
        "database": name,
    }
    servers = []
    body_dir = tempfile.mkdtemp(prefix="bench-")
    create_database(admin_url, name)
    log("created database %s" % name)
    try:
        env = product_env(url, "bench-" + secrets.token_hex(16))
        flask_cli(env, "db", "upgrade")
        log("migrated")
        admin_token = flask_cli(env, "create-admin", "bench-admin@example.org").strip().splitlines()[-1]

        product = Gunicorn(
            "product",
            "wsgi:app",
            REPO_DIR,
            env,
            args.workers,
            args.threads,
            os.path.join(RESULTS_DIR, "throughput-gunicorn-product-%s.log" % stamp),
        )
        servers.append(product)
        hello = Gunicorn(
            "hello",
            "hello_app:app",
            BENCH_DIR,
            dict(os.environ),
            args.workers,
            args.threads,
            os.path.join(RESULTS_DIR, "throughput-gunicorn-hello-%s.log" % stamp),
        )
        servers.append(hello)
        floor = Gunicorn(
            "floor",
            "floor_app:app",
            BENCH_DIR,
            env,
            args.workers,
            args.threads,
            os.path.join(RESULTS_DIR, "throughput-gunicorn-floor-%s.log" % stamp),
        )
        servers.append(floor)
        databases = [name]
        peer = None
        bin_dir = peer_venv_bin(os.path.join(RESULTS_DIR, "throughput-peer-venv-%s.log" % stamp))
        if bin_dir is None:
            log("the peer's folder %s is absent: measuring without it" % PEER_DIR)
            results["peer"] = {"absent": PEER_DIR}
        else:
            peer = start_peer(args, admin_url, bin_dir, stamp)
            servers.append(peer)
            databases.append(peer.database)
            results["peer"] = {"dir": PEER_DIR, "venv": PEER_VENV, "command": " ".join(peer.command)}
        product.wait_ready("/healthz")
        hello.wait_ready("/hello")
        floor.wait_ready("/floor/referrals/none", answers=(401,))
        results["settings"]["product_command"] = " ".join(product.command)
        results["settings"]["hello_command"] = " ".join(hello.command)
        results["settings"]["floor_command"] = " ".join(floor.command)
        log("servers up: product on %d, hello on %d, floor on %d" % (product.port, hello.port, floor.port))

        planner_token = bench_planner_token(product.port, admin_token)
        seeded = []
        for index in range(args.seed_referrals):
            status, payload = request(
                product.port, "POST", "/api/v1/referrals", referral_body("seed%d" % index), planner_token
            )
            if status != 201:
                raise RuntimeError("seeding a referral answered %s: %s" % (status, payload))
            seeded.append(payload["id"])
        log("seeded %d referrals" % len(seeded))

        body_file = os.path.join(body_dir, "referral.json")
        with open(body_file, "w") as handle:
            json.dump(REFERRAL_BODY, handle)
        endpoints = {
            "hello": {"name": "hello", "server": hello, "method": "GET", "paths": ["/hello"], "expect": 200},
            "create": {
                "name": "create",
                "server": product,
                "method": "POST",
                "paths": ["/api/v1/referrals"],
                "token": planner_token,
                "body_file": body_file,
                "expect": 201,
            },
            "read": {
                "name": "read",
                "server": product,
                "method": "GET",
                "token": planner_token,
                "expect": 200,
                "paths": ["/api/v1/referrals/%s" % referral_id for referral_id in seeded],
            },
            # The same reads with nothing but their safety (bench/floor_app.py): what this stack cannot go under.
            "floor": {
                "name": "floor",
                "server": floor,
                "method": "GET",
                "token": planner_token,
                "expect": 200,
                "paths": ["/floor/referrals/%s" % referral_id for referral_id in seeded],
            },
            "floor_create": {
                "name": "floor_create",
                "server": floor,
                "method": "POST",
                "paths": ["/floor/referrals"],
                "token": planner_token,
                "body_file": body_file,
                "expect": 201,
            },
        }

        if peer is not None:
            # Any answer of its API will do: 401 is it up and asking for a token.
            peer.wait_ready("/api/users/1", answers=(200, 401))
            endpoints.update(peer_endpoints(peer, args, body_dir))
            log("peer up on %d with %d posts" % (peer.port, len(endpoints["peer_read"]["paths"])))
        # What was seeded, analyzed: this PostgreSQL may run without autovacuum (docs/performance.md). Analyzed again
        # after each warm-up and before each half-load run, as autovacuum would as the creates grow the tables: a plan
        # against referrals made on a pooled connection while the table held the seeded rows scanned the whole table
        # on every create (pg_stat_user_tables), so PostgreSQL's CPU per create grew with the run.
        analyzed_urls = [url] + ([database_url(args.pg_server, peer.database)] if peer is not None else [])

        def analyze_all():
            for analyzed_url in analyzed_urls:
                analyze(analyzed_url)

        analyze_all()

        # Connection: close is the figure the targets are set on (a new connection per request spreads the requests
        # over the workers; with keep-alive gunicorn serves a connection in the worker that accepted it, and one
        # worker may take every connection of a run). Keep-alive is measured beside it, in the same run.
        for mode in args.modes:
            close = MODES[mode]
            phase = "max" if close else "max_keepalive"
            results[phase] = {}
            for key, endpoint in endpoints.items():
                server = endpoint["server"]
                log("%s %s: warm-up %ds" % (mode, key, args.warmup))
                run_wrk(server.port, endpoint, args.warmup, args.connections, "warm%s%s" % (mode, key), close)
                analyze_all()

                def max_run(attempt, server=server, endpoint=endpoint, key=key, mode=mode, close=close):
                    return run_wrk(
                        server.port,
                        endpoint,
                        args.duration,
                        args.connections,
                        "max%s%s%d" % (mode, key, attempt),
                        close,
                    )

                run = measure(key, max_run, servers, databases, args)
                results[phase][key] = run
                log(
                    "%s %s: %.1f req/s (%s), p50 %.1f ms, p99 %.1f ms, cpu %s"
                    % (
                        mode,
                        key,
                        run["rps"],
                        run["statuses"],
                        run["latency_ms"]["p50"],
                        run["latency_ms"]["p99"],
                        run["cpu"],
                    )
                )
        close = "close" in args.modes
        maxima = results["max"] if close else results["max_keepalive"]

        results["paced"] = {}
        for key in ("hello", "create", "read"):
            endpoint = endpoints[key]
            server = endpoint["server"]
            rate = max(1.0, round(maxima[key]["rps"] / 2, 1))
            log("%s: %.1f req/s for %ds (half of max)" % (key, rate, args.paced_duration))

            def paced_run(attempt, server=server, endpoint=endpoint, key=key, rate=rate):
                return run_paced(
                    server.port,
                    paced_builder(endpoint, "paced%s%d" % (key, attempt), close),
                    rate,
                    args.paced_duration,
                    connections=args.paced_connections,
                )

            analyze_all()
            run = measure(key, paced_run, servers, databases, args)
            run["expect"] = endpoint["expect"]
            results["paced"][key] = run
            log(
                "%s: got %.1f req/s %s errors %s; latency p50 %s p95 %s p99 %s ms; send lag p95 %s ms; cpu %s"
                % (
                    key,
                    run["achieved_rate"],
                    run["statuses"],
                    run["errors"],
                    run["latency_ms"]["p50"],
                    run["latency_ms"]["p95"],
                    run["latency_ms"]["p99"],
                    run["send_lag_ms"]["p95"],
                    run["cpu"],
                )
            )
        if "max" not in results:
            results["max"] = maxima

        if args.profile:
            results["profile"] = {}
            for key in ("create", "read"):
                log("%s: profiling workers for %ds" % (key, args.profile))
                results["profile"][key] = run_profile(
                    product, endpoints[key], args.profile, args.connections, "prof%s" % key, close
                )

        log("tracing the SQL of one create and one read")
        results["sql"] = sql_trace(url, env["TRANSITIONS_SECRET_KEY"], planner_token, seeded[0])

        all_ok = all(
            run["ok"] for phase in ("max", "max_keepalive") for run in results.get(phase, {}).values()
        ) and all(
            set(run["statuses"]) == {str(run["expect"])} and not run["errors"] and not run["missed_deadline"]
            for run in results["paced"].values()
        )
        hello_rps = results["max"]["hello"]["rps"] or 1e-9
        results["checks"] = {
            "all_ok": all_ok,
            "create_ratio": round(results["max"]["create"]["rps"] / hello_rps, 4),
            "read_ratio": round(results["max"]["read"]["rps"] / hello_rps, 4),
            "create_p95_ms": results["paced"]["create"]["latency_ms"]["p95"],
            "read_p95_ms": results["paced"]["read"]["latency_ms"]["p95"],
            "targets": TARGETS,
        }
        results["checks"].update(side_by_side_ratios(results))
        for endpoint in endpoints.values():
            endpoint.pop("server")
            endpoint.pop("token", None)
    finally:
        for server in servers:
            server.stop()
            if getattr(server, "database", None):
                drop_database(admin_url, server.database)
        shutil.rmtree(body_dir, ignore_errors=True)
        drop_database(admin_url, name)
        log("dropped database %s" % name)

    results_file = os.path.join(RESULTS_DIR, "throughput-%s.json" % stamp)
    results["results_file"] = results_file
    with open(results_file, "w") as handle:
        json.dump(results, handle, indent=2)
    section = render_section(results)
    if not args.no_doc:
        write_doc_section(DOC_HEADING, section, DOC_INTRO)
    print()
    print(section)
    log("raw results: %s" % results_file)


if __name__ == "__main__":
    main()
