"""Instructions per request (valgrind callgrind) for hello-world, the read's floor, the referral read and create.

A timing on a shared 2-core machine moves with everyone else's work; an instruction count does not. The app (the
product's wsgi:app on a throw-away PostgreSQL database, bench/hello_app.py, or bench/floor_app.py on the product's
database) runs in one process under callgrind with instrumentation off; that process takes requests one per line on
its stdin and calls the WSGI app with the environ gunicorn would build. Each endpoint is warmed up, then for each
counted request this script zeroes the counters, switches instrumentation on, sends the one request, switches it off
and dumps: the dump's total is that request's instructions in the app's process (Flask, the product, SQLAlchemy and
psycopg's side of the SQL; not gunicorn's HTTP parsing, the same few hundred thousand for every endpoint, and not
PostgreSQL's work). The median of --repeat requests is reported, and a no-op through the same stdin protocol shows
the harness's own share.

    .venv/bin/python bench/instructions.py              # the product at this checkout
    .venv/bin/python bench/instructions.py --repo DIR   # the product code of another tree (a baseline copy)
"""

import argparse
import datetime
import io
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile

from common import BENCH_DIR, REPO_DIR, RESULTS_DIR, create_database, database_url, drop_database, log


def load_average():
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


# ------------------------------------------------------------------ the app's side (runs under callgrind)


def environ_for(method, path, body, token):
    """The WSGI environ gunicorn builds for this request on loopback."""
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "RAW_URI": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body or b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = "Bearer %s" % token
    if body is not None:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def call_app(app, command, body):
    status = []
    result = app(
        environ_for(command["method"], command["path"], body, command.get("token")),
        lambda line, headers, exc_info=None: status.append(line),
    )
    return result, status


def serve(app_name):
    """Answer one JSON request per stdin line with one JSON line on stdout: {status, body}."""
    if app_name == "hello":
        sys.path.insert(0, BENCH_DIR)
        from hello_app import app
    elif app_name == "floor":
        sys.path.insert(0, BENCH_DIR)
        from floor_app import app
    else:
        from wsgi import app
    out = sys.stdout
    print(json.dumps({"ready": True}), file=out, flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("noop"):
            out.write('{"status": 0}\n')
            out.flush()
            continue
        body = command["body"].encode() if command.get("body") is not None else None
        result, status = call_app(app, command, body)
        payload = b"".join(result)
        if hasattr(result, "close"):
            result.close()
        out.write(json.dumps({"status": int(status[0].split()[0]), "body": payload.decode()}) + "\n")
        out.flush()


# ------------------------------------------------------------------ the measuring side


class CallgrindApp:
    """The app in one process under callgrind, instrumentation off until asked."""

    def __init__(self, app_name, repo, env, out_dir):
        self.out_dir = out_dir
        self.name = app_name
        self.stderr = open(os.path.join(out_dir, "%s.log" % app_name), "w")
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--callgrind-out-file=%s" % os.path.join(out_dir, "callgrind.%s.%%p" % app_name),
            sys.executable,
            os.path.abspath(__file__),
            "--serve",
            app_name,
        ]
        self.process = subprocess.Popen(
            command, cwd=repo, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True
        )
        ready = self.process.stdout.readline()
        if not ready:
            raise RuntimeError("%s did not start; see %s" % (app_name, self.stderr.name))

    def call(self, command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def request(self, method, path, body=None, token=None, expect=200):
        answer = self.call({"method": method, "path": path, "body": body, "token": token})
        if answer["status"] != expect:
            raise RuntimeError("%s %s answered %s: %s" % (method, path, answer["status"], answer["body"][:500]))
        return json.loads(answer["body"]) if answer["body"] else None

    def control(self, *args):
        subprocess.run(["callgrind_control", *args, str(self.process.pid)], check=True, capture_output=True)

    def count(self, command):
        """Instructions the app's process spent on this one command (a request, or the no-op)."""
        self.control("--zero")
        self.control("--instr=on")
        answer = self.call(command)
        self.control("--instr=off")
        if not command.get("noop") and answer["status"] != command["expect"]:
            raise RuntimeError(
                "%s %s answered %s: %s" % (command["method"], command["path"], answer["status"], answer["body"][:500])
            )
        before = set(os.listdir(self.out_dir))
        self.control("--dump")
        dumps = [name for name in set(os.listdir(self.out_dir)) - before if name.startswith("callgrind.")]
        if len(dumps) != 1:
            raise RuntimeError("expected one new callgrind dump, found %s" % dumps)
        path = os.path.join(self.out_dir, dumps[0])
        total = total_instructions(path)
        if not os.environ.get("BENCH_KEEP_CALLGRIND"):
            os.remove(path)
        return total

    def stop(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()


def total_instructions(path):
    with open(path) as handle:
        for line in handle:
            match = re.match(r"^totals:\s+(\d+)", line)
            if match:
                return int(match.group(1))
    raise RuntimeError("no total in %s" % path)


def measure(app, make_command, warmup, repeat):
    for index in range(warmup):
        command = make_command("warm%d" % index)
        app.request(command["method"], command["path"], command.get("body"), command.get("token"), command["expect"])
    counts = [app.count(make_command("count%d" % index)) for index in range(repeat)]
    return {"median": statistics.median(counts), "counts": counts, "noop": app.count({"noop": True})}


def referral_body(unique):
    sys.path[:0] = [BENCH_DIR, REPO_DIR]
    from throughput import referral_body as body

    return body(unique).decode()


def flask_cli(env, repo, *args):
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "transitions", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--pg-server",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL; a fresh database is created on it and dropped at the end",
    )
    parser.add_argument("--repo", default=REPO_DIR, help="the tree whose transitions package and wsgi.py to run")
    parser.add_argument("--warmup", type=int, default=20, help="requests of each endpoint before counting")
    parser.add_argument("--repeat", type=int, default=5, help="requests counted one by one; the median is reported")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=("hello", "floor", "read", "floor_create", "create"),
        default=("hello", "floor", "read", "floor_create", "create"),
    )
    parser.add_argument("--label", default="", help="a name for this run in the results file")
    parser.add_argument("--serve", choices=("hello", "floor", "product"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.serve:
        return serve(args.serve)
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        sys.exit("valgrind is not installed: apt-get install -y valgrind")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    repo = os.path.abspath(args.repo)
    admin_url = database_url(args.pg_server, "postgres")
    name = "transitions_instr_%s" % secrets.token_hex(6)
    out_dir = tempfile.mkdtemp(prefix="callgrind-")
    results = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "label": args.label,
        "repo": repo,
        "settings": vars(args),
        "load_average_start": load_average(),
        "instructions": {},
    }
    apps = []
    create_database(admin_url, name)
    try:
        env = dict(os.environ)
        env.update(
            {
                "TRANSITIONS_DATABASE_URL": database_url(args.pg_server, name),
                "TRANSITIONS_SECRET_KEY": "instr-" + secrets.token_hex(16),
                "PYTHONPATH": repo,
                # A request under callgrind takes a second or more: with the default 5 s every counted request would
                # look its token up again. Counted here is the steady state, where a worker at hundreds of requests
                # a second looks a token up once per TOKEN_CACHE_SECONDS.
                "TRANSITIONS_TOKEN_CACHE_SECONDS": "3600",
            }
        )
        flask_cli(env, repo, "db", "upgrade")
        admin_token = flask_cli(env, repo, "create-admin", "instr-admin@example.org").strip().splitlines()[-1]
        if "hello" in args.only:
            hello = CallgrindApp("hello", BENCH_DIR, dict(os.environ), out_dir)
            apps.append(hello)
            results["instructions"]["hello"] = measure(
                hello, lambda tag: {"method": "GET", "path": "/hello", "expect": 200}, args.warmup, args.repeat
            )
            log("hello: %s" % results["instructions"]["hello"])
        if {"floor", "read", "floor_create", "create"} & set(args.only):
            product = CallgrindApp("product", repo, env, out_dir)
            apps.append(product)
            hospital = product.request(
                "POST",
                "/api/v1/organizations",
                json.dumps({"name": "Bench Hospital", "kind": "hospital"}),
                admin_token,
                201,
            )
            planner = product.request(
                "POST",
                "/api/v1/users",
                json.dumps(
                    {"email": "planner@example.org", "organization_id": hospital["id"], "role": "discharge_planner"}
                ),
                admin_token,
                201,
            )
            token = planner["token"]
            seeded = product.request("POST", "/api/v1/referrals", referral_body("seed"), token, 201)
            floor = None
            if {"floor", "floor_create"} & set(args.only):
                floor = CallgrindApp("floor", BENCH_DIR, env, out_dir)
                apps.append(floor)

            def read_of(prefix):
                path = "%s/%s" % (prefix, seeded["id"])
                return lambda tag: {"method": "GET", "path": path, "token": token, "expect": 200}

            def create_at(path, label):
                return lambda tag: {
                    "method": "POST",
                    "path": path,
                    "body": referral_body(label + tag),
                    "token": token,
                    "expect": 201,
                }

            for name, app, make_command in (
                ("floor", floor, read_of("/floor/referrals")),
                ("floor_create", floor, create_at("/floor/referrals", "floor")),
                ("read", product, read_of("/api/v1/referrals")),
                ("create", product, create_at("/api/v1/referrals", "")),
            ):
                if name in args.only:
                    results["instructions"][name] = measure(app, make_command, args.warmup, args.repeat)
                    log("%s: %s" % (name, results["instructions"][name]))
    finally:
        for app in apps:
            app.stop()
        drop_database(admin_url, name)
        if not os.environ.get("BENCH_KEEP_CALLGRIND"):
            shutil.rmtree(out_dir, ignore_errors=True)
    results["load_average_end"] = load_average()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(RESULTS_DIR, "instructions-%s.json" % stamp)
    with open(path, "w") as handle:
        json.dump(results, handle, indent=2)
    print()
    print("| endpoint | instructions per request (median of %d) | no-op of the harness |" % args.repeat)
    print("|---|---|---|")
    for key, value in results["instructions"].items():
        print("| %s | %.2f M | %.3f M |" % (key, value["median"] / 1e6, value["noop"] / 1e6))
    print("load average %s → %s; raw: %s" % (results["load_average_start"], results["load_average_end"], path))


if __name__ == "__main__":
    main()
