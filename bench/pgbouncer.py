"""Throughput of the hot read (GET /api/v1/referrals/{id}) with the app's connections straight to PostgreSQL and
through PgBouncer in transaction mode (scripts/pgbouncer.ini), side by side in one run.

    scripts/pgbouncer start
    .venv/bin/python bench/pgbouncer.py [--seconds 15] [--rounds 2] [--workers 4] [--threads 4] [--connections 16]

Two gunicorn masters serve one throw-away database (created, migrated and seeded on PostgreSQL directly, then
ANALYZEd): "direct" with DATABASE_URL on port 5432, "pgbouncer" on port 6432 with psycopg's prepared statements off
(SQLALCHEMY_ENGINE_OPTIONS connect_args prepare_threshold=null, which transaction pooling needs). wrk (keep-alive,
bench/wrk_bench.lua) loads each in turn, rounds interleaved (direct, pgbouncer, pgbouncer, direct, ...); the load
average is recorded beside each run, since other work on the host moves every figure. Writes raw JSON to
bench/results/pgbouncer-*.json and prints a summary; it never edits the docs.
"""

import argparse
import datetime
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import BENCH_DIR, REPO_DIR, RESULTS_DIR, create_database, database_url, drop_database, git_facts, log  # noqa: E402  (bench/ is on sys.path: it is the running script's folder)

from tests.support import payloads  # noqa: E402

VENV_BIN = os.path.dirname(sys.executable)
WRK_SCRIPT = os.path.join(BENCH_DIR, "wrk_bench.lua")
THROUGH_PGBOUNCER = {"pool_pre_ping": True, "connect_args": {"prepare_threshold": None}}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def app_env(url, secret, engine_options=None):
    env = dict(os.environ, TRANSITIONS_DATABASE_URL=url, TRANSITIONS_SECRET_KEY=secret)
    if engine_options is not None:
        env["TRANSITIONS_SQLALCHEMY_ENGINE_OPTIONS"] = json.dumps(engine_options)
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


def call(port, method, path, body=None, token=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = "Bearer %s" % token
    try:
        connection.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        return response.status, (json.loads(payload) if payload else None)
    finally:
        connection.close()


def expect(port, method, path, body, token, status):
    got, payload = call(port, method, path, body, token)
    if got != status:
        raise RuntimeError("%s %s answered %s: %s" % (method, path, got, payload))
    return payload


class Server:
    """One gunicorn master (gthread) of the app on a loopback port, its log in bench/results/."""

    def __init__(self, name, env, workers, threads, log_path):
        self.name, self.port = name, free_port()
        self.log = open(log_path, "w")
        self.command = [
            os.path.join(VENV_BIN, "gunicorn"),
            "wsgi:app",
            "--chdir",
            REPO_DIR,
            "--bind",
            "127.0.0.1:%d" % self.port,
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--no-control-socket",
        ]
        self.process = subprocess.Popen(self.command, cwd=REPO_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=240):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("%s exited with %s; see %s" % (self.name, self.process.returncode, self.log.name))
            try:
                if call(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("%s not ready after %d s" % (self.name, timeout))

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def run_wrk(port, paths, token, seconds, connections):
    env = dict(
        os.environ,
        BENCH_METHOD="GET",
        BENCH_PATHS=",".join(paths),
        BENCH_TOKEN=token,
        BENCH_BODY_FILE="",
        BENCH_TAG="pgb%s" % secrets.token_hex(3),
        BENCH_CLOSE="0",
    )
    command = ["wrk", "--threads", "1", "--connections", str(connections), "--duration", "%ds" % seconds]
    command += ["--timeout", "10s", "--script", WRK_SCRIPT, "http://127.0.0.1:%d" % port]
    load_before = os.getloadavg()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in completed.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError("wrk failed (%s): %s %s" % (completed.returncode, completed.stdout, completed.stderr))
    raw = json.loads(line[len("BENCH_JSON ") :])
    duration = raw["duration_us"] / 1e6
    return {
        "rps": round(raw["statuses"].get("200", 0) / duration, 1),
        "statuses": raw["statuses"],
        "errors": raw["errors"],
        "latency_ms": {k: round(v / 1000, 2) for k, v in raw["latency_us"].items() if k in ("p50", "p95", "p99")},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--pg-server", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument(
        "--pgbouncer", default="postgresql://postgres@127.0.0.1:6432", help="PgBouncer (scripts/pgbouncer start)"
    )
    parser.add_argument("--seconds", type=int, default=15, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (direct, pgbouncer), alternating order")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16, help="wrk's keep-alive connections")
    parser.add_argument("--referrals", type=int, default=200, help="referrals seeded and read in turn")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    # A SIGTERM (timeout, kill) still stops the servers and drops the database in the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    name = "transitions_bench_pgb_%s" % secrets.token_hex(6)
    admin_url = database_url(args.pg_server, "postgres")
    direct_url, bouncer_url = database_url(args.pg_server, name), database_url(args.pgbouncer, name)
    with psycopg_connect(bouncer_url.replace(name, "postgres")) as _:
        pass  # PgBouncer answers (else: scripts/pgbouncer start)
    results = {"date": stamp, "git": git_facts(), "settings": vars(args), "runs": []}
    secret = "bench-" + secrets.token_hex(16)
    servers = []
    create_database(admin_url, name)
    try:
        env = app_env(direct_url, secret)
        flask_cli(env, "db", "upgrade")
        admin_token = flask_cli(env, "create-admin", "bench-admin@example.org").strip().splitlines()[-1]
        direct = Server(
            "direct", env, args.workers, args.threads, os.path.join(RESULTS_DIR, "pgbouncer-direct-%s.log" % stamp)
        )
        bouncer = Server(
            "pgbouncer",
            app_env(bouncer_url, secret, THROUGH_PGBOUNCER),
            args.workers,
            args.threads,
            os.path.join(RESULTS_DIR, "pgbouncer-pooled-%s.log" % stamp),
        )
        servers += [direct, bouncer]
        direct.wait_ready()
        bouncer.wait_ready()
        hospital = expect(
            direct.port,
            "POST",
            "/api/v1/organizations",
            {"name": "Bench Hospital", "kind": "hospital"},
            admin_token,
            201,
        )
        planner = expect(
            direct.port,
            "POST",
            "/api/v1/users",
            {"email": "bench-planner@example.org", "organization_id": hospital["id"], "role": "discharge_planner"},
            admin_token,
            201,
        )
        token = planner["token"]
        discharge = (datetime.date.today() + datetime.timedelta(days=7)).isoformat()
        paths = []
        for index in range(args.referrals):
            body = payloads.referral(patient={"family_name": "Bench %d" % index}, discharge_date=discharge)
            paths.append(
                "/api/v1/referrals/%s" % expect(bouncer.port, "POST", "/api/v1/referrals", body, token, 201)["id"]
            )
        with psycopg_connect(direct_url, autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE")
        log("seeded %d referrals (through PgBouncer), analyzed" % len(paths))
        for server in servers:  # warm-up: every worker's pool and caches
            run_wrk(server.port, paths, token, 3, args.connections)
        for round_ in range(args.rounds):
            order = servers if round_ % 2 == 0 else servers[::-1]
            for server in order:
                run = run_wrk(server.port, paths, token, args.seconds, args.connections)
                run.update(server=server.name, round=round_)
                results["runs"].append(run)
                log(
                    "%-9s %7.1f req/s  p95 %6.1f ms  load %s"
                    % (server.name, run["rps"], run["latency_ms"]["p95"], run["load_average_before"])
                )
        summary = {}
        for server in servers:
            rates = [r["rps"] for r in results["runs"] if r["server"] == server.name]
            summary[server.name] = {"median_rps": statistics.median(rates), "runs_rps": rates}
        summary["ratio_pgbouncer_to_direct"] = round(
            summary["pgbouncer"]["median_rps"] / summary["direct"]["median_rps"], 3
        )
        results["summary"] = summary
        log("summary: %s" % json.dumps(summary))
    finally:
        for server in servers:
            server.stop()
        drop_database(admin_url, name)
        path = os.path.join(RESULTS_DIR, "pgbouncer-%s.json" % stamp)
        with open(path, "w") as handle:
            json.dump(results, handle, indent=2)
        log("raw JSON %s" % path)


def psycopg_connect(url, **kwargs):
    import psycopg

    return psycopg.connect(url, prepare_threshold=None, **kwargs)


if __name__ == "__main__":
    main()
