"""ADT over MLLP on PostgreSQL: sustained ADT^A03 throughput through `flask adt listen`, then ACK latency at half of it.

    .venv/bin/python bench/adt.py [--pg-server postgresql://postgres@127.0.0.1:5432] [--referrals 400]
        [--connections 8] [--seconds 20] [--paced-seconds 20] [--processes 1] [--listener-nice 0]
        [--listener-arg ...]

Creates a throw-away database `transitions_bench_adt_<random>`, migrates it, and seeds through the service's own
commands and API: a hospital organization with the HL7 facility id BENCHHOSP, a health plan, a planner, and
`--referrals` open referrals (one patient each) submitted with `POST /api/v1/referrals`; then ANALYZE (autovacuum
may be off). It starts the listener as its own process (`flask --app transitions adt listen --port 0`) and drives it
over `--connections` concurrent MLLP connections (asyncio streams, 0x0B … 0x1C 0x0D framing, one message in flight
per connection as MLLP senders do):

1. closed loop for `--seconds`: every connection sends its next A03 as soon as the previous ACK arrives; messages/s
   of AA answers;
2. open loop at half that rate for `--paced-seconds`: messages sent on a fixed schedule spread over the connections,
   each latency taken from its scheduled send time to its ACK (a late send counts against the listener: no
   coordinated omission); p50/p95/p99.

Every A03 does real work: message n names referral n mod N and a discharge date that alternates between two days
from one round over the referrals to the next, so each one changes the referral's discharge date through the
referral command (policy, validation, follow-up replanning, timeline event, audit) besides storing the message and
its state. Any ACK other than AA counts as an error, and the run checks afterwards that every message is stored and
processed once. CPU time of the listener and of PostgreSQL (this database's backends) per message is read from
/proc, as is the load average, since the machine is shared. Drops the database and writes raw JSON to bench/results/
(git-ignored); prints the Markdown section for docs/performance.md (it does not rewrite that file).
"""

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter

import psycopg
from common import REPO_DIR, RESULTS_DIR, create_database, database_url, drop_database, log, verdict  # noqa: E402  (bench/ is on sys.path)

sys.path.insert(0, REPO_DIR)

FACILITY = "BENCHHOSP"
TARGET_RATE = 300.0
TARGET_P95_MS = 50.0
START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\x0d"


# ------------------------------------------------------------------ setup


def seed(url, referrals):
    """Organizations, a planner and open referrals through the service's commands and API; ANALYZE after."""
    from flask_migrate import upgrade

    from tests.support import payloads
    from transitions import MIGRATIONS_DIR, create_app
    from transitions.core.db import db
    from transitions.identity import service as identity

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        hospital = identity.create_organization("Bench hospital", "hospital", hl7_facility_ids=[FACILITY])
        identity.create_organization("Bench plan", "health_plan", ["acme-health"])
        _, token = identity.create_user("bench-planner@example.org", hospital.id, "discharge_planner")
        db.session.commit()
    client = app.test_client()
    discharge = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    started = time.perf_counter()
    for index in range(referrals):
        body = payloads.referral(patient=patient(index), discharge_date=discharge)
        response = client.post("/api/v1/referrals", json=body, headers={"Authorization": "Bearer %s" % token})
        if response.status_code != 201:
            raise SystemExit("seeding failed: %s %s" % (response.status_code, response.get_data(as_text=True)))
    log("seeded %d referrals through the API in %.1f s" % (referrals, time.perf_counter() - started))
    with app.app_context():
        db.engine.dispose()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("ANALYZE")


def birth_date(index):
    # Patients born on different days, as real ones are: the inbox finds the referral by birth date, then name.
    return dt.date(1950, 1, 1) + dt.timedelta(days=index)


def patient(index):
    return {"given_name": "Bench%d" % index, "family_name": "Patient", "birth_date": birth_date(index).isoformat()}


def a03(number, referrals):
    """The nth discharge: referral n mod N, on a day that differs from the one the previous round set."""
    index, round_number = number % referrals, number // referrals
    day = dt.date.today() + dt.timedelta(days=round_number % 2)
    pv1 = ["PV1", "1", "I"] + [""] * 41 + ["%s0930" % (day - dt.timedelta(days=7)).strftime("%Y%m%d")]
    pv1.append("%s1415" % day.strftime("%Y%m%d"))
    segments = [
        "MSH|^~\\&|EPIC|%s|TRANSITIONS|PLAN|%s||ADT^A03^ADT_A03|B%09d|P|2.5.1"
        % (FACILITY, dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"), number),
        "EVN|A03|%s" % day.strftime("%Y%m%d"),
        "PID|1||MRN%d^^^%s^MR||Patient^Bench%d^^^^^L||%s|F"
        % (index, FACILITY, index, birth_date(index).strftime("%Y%m%d")),
        "|".join(pv1),
    ]
    return ("\r".join(segments) + "\r").encode(), "B%09d" % number


def start_listener(url, nice, extra_args, processes=1):
    env = dict(os.environ, TRANSITIONS_DATABASE_URL=url, TRANSITIONS_SECRET_KEY="bench", PYTHONUNBUFFERED="1")
    env["TRANSITIONS_ADT_LISTENER_PROCESSES"] = str(processes)
    command = [sys.executable, "-m", "flask", "--app", "transitions", "adt", "listen", "--port", "0", *extra_args]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    process = subprocess.Popen(
        command, cwd=REPO_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("ADT MLLP listener on "):
            host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
            return process, (host, int(port))
    process.kill()
    raise SystemExit("the listener did not start: %s" % process.stdout.read())


# ------------------------------------------------------------------ CPU accounting


def process_tree(root):
    """root and its descendants (a listener may fork workers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def postgres_pids(database):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as cmdline:
                    title = cmdline.read().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres:") and database in title:
                pids.append(int(entry))
    return pids


def cpu_snapshot(listener_pid, database):
    return {
        "time": time.monotonic(),
        "listener": sum(ticks(pid) for pid in process_tree(listener_pid)),
        "postgres": sum(ticks(pid) for pid in postgres_pids(database)),
    }


def cpu_usage(before, after, messages):
    per_second = os.sysconf("SC_CLK_TCK")
    elapsed = max(after["time"] - before["time"], 1e-9)
    usage = {}
    for group in ("listener", "postgres"):
        seconds = (after[group] - before[group]) / per_second
        usage[group + "_cores"] = round(seconds / elapsed, 2)
        usage[group + "_ms_per_message"] = round(1000 * seconds / max(messages, 1), 2)
    return usage


# ------------------------------------------------------------------ load


async def read_ack(reader):
    block = await reader.readuntil(END_BLOCK)
    content = block[block.index(START_BLOCK) + 1 : -len(END_BLOCK)].decode("utf-8", "replace")
    for segment in content.replace("\n", "\r").split("\r"):
        if segment.startswith("MSA"):
            fields = segment.split(segment[3])
            return fields[1], fields[2] if len(fields) > 2 else ""
    return "??", ""


class Numbers:
    """Message numbers handed out to the connections in order, so no two messages share a number."""

    def __init__(self, start=0):
        self.next = start

    def take(self):
        number = self.next
        self.next += 1
        return number


async def closed_loop(address, connections, seconds, referrals, numbers):
    """Every connection sends its next message when the previous ACK arrives; (ACK codes, latencies in s)."""
    codes, latencies = Counter(), []
    deadline = time.monotonic() + seconds

    async def connection():
        reader, writer = await asyncio.open_connection(*address)
        try:
            while time.monotonic() < deadline:
                raw, control_id = a03(numbers.take(), referrals)
                sent = time.perf_counter()
                writer.write(START_BLOCK + raw + END_BLOCK)
                await writer.drain()
                code, answered = await read_ack(reader)
                latencies.append(time.perf_counter() - sent)
                codes[code if answered == control_id else "mismatch"] += 1
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return codes, latencies


async def open_loop(address, connections, seconds, rate, referrals, numbers):
    """Messages on a fixed schedule (rate per second over all connections); latency from the scheduled send time."""
    codes, latencies = Counter(), []
    started = time.perf_counter() + 0.2
    total = int(seconds * rate)

    async def connection(offset):
        reader, writer = await asyncio.open_connection(*address)
        try:
            for slot in range(offset, total, connections):
                due = started + slot / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                raw, control_id = a03(numbers.take(), referrals)
                writer.write(START_BLOCK + raw + END_BLOCK)
                await writer.drain()
                code, answered = await read_ack(reader)
                latencies.append(time.perf_counter() - due)
                codes[code if answered == control_id else "mismatch"] += 1
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(connection(offset) for offset in range(connections)))
    return codes, latencies


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def latency_ms(latencies):
    return {name: round(1000 * percentile(latencies, q), 1) for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}


def in_process(url, referrals, numbers, count=100, batch=8):
    """The deterministic side: the SQL statements and commits one message costs (traced through the app's engine),
    and the CPU time of handling `count` messages one after another in this process (no threads, no network); then
    the same for batches of `batch` messages (the listener's group commit, as when that many connections send at
    once)."""
    from sqlalchemy import event

    from transitions import create_app
    from transitions.adt import listener
    from transitions.core.clock import utcnow
    from transitions.core.db import db

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    listener.handle_frame(app, a03(numbers.take(), referrals)[0])
    statements = []
    with app.app_context():
        engine = db.engine

    def traced(connection, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split())[:100])

    def committed(connection):
        statements.append("COMMIT")

    def rolled_back(connection):
        statements.append("ROLLBACK")

    hooks = (("before_cursor_execute", traced), ("commit", committed), ("rollback", rolled_back))
    for name, hook in hooks:
        event.listen(engine, name, hook)
    listener.handle_frame(app, a03(numbers.take(), referrals)[0])
    for name, hook in hooks:
        event.remove(engine, name, hook)
    cpu_started = time.process_time()
    for _ in range(count):
        listener.handle_frame(app, a03(numbers.take(), referrals)[0])
    cpu_ms = 1000 * (time.process_time() - cpu_started) / count

    def frames():
        return [(a03(numbers.take(), referrals)[0], utcnow()) for _ in range(batch)]

    single = statements[:]
    del statements[:]
    for name, hook in hooks:
        event.listen(engine, name, hook)
    listener.handle_batch(app, frames())
    for name, hook in hooks:
        event.remove(engine, name, hook)
    batches = max(1, count // batch)
    cpu_started = time.process_time()
    for _ in range(batches):
        listener.handle_batch(app, frames())
    batch_cpu_ms = 1000 * (time.process_time() - cpu_started) / (batches * batch)
    with app.app_context():
        db.engine.dispose()
    batch_statements = len([line for line in statements if line not in ("COMMIT", "ROLLBACK")])
    return {
        "statements": len([line for line in single if line not in ("COMMIT", "ROLLBACK")]),
        "commits": single.count("COMMIT"),
        "trace": single,
        "cpu_ms_per_message": round(cpu_ms, 2),
        "messages": count,
        # pool_pre_ping's SELECT 1 on every checkout is not a cursor event: one more round trip a message.
        "pre_ping": True,
        "batch": batch,
        "batch_statements": batch_statements,
        "batch_statements_per_message": round(batch_statements / batch, 2),
        "batch_commits": statements.count("COMMIT"),
        "batch_trace": statements[:],
        "batch_cpu_ms_per_message": round(batch_cpu_ms, 2),
    }


def check_stored(url, sent):
    """Every message stored once and processed (a short count means lost messages, a long one duplicates)."""
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT state, count(*) FROM adt_messages GROUP BY state").fetchall()
        updates = connection.execute("SELECT count(*) FROM events WHERE type = 'referral.updated'").fetchone()[0]
    return {"states": dict(rows), "sent": sent, "referral_updated_events": updates}


# ------------------------------------------------------------------ main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--referrals", type=int, default=400)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    parser.add_argument("--paced-rate", type=float, default=None, help="default: half the closed-loop rate")
    parser.add_argument("--processes", type=int, default=1, help="listener processes (ADT_LISTENER_PROCESSES)")
    parser.add_argument("--listener-nice", type=int, default=0, help="run the listener under nice -n N")
    parser.add_argument("--listener-arg", action="append", default=[], help="extra `adt listen` argument")
    args = parser.parse_args()

    name = "transitions_bench_adt_%s" % secrets.token_hex(4)
    admin_url = database_url(args.pg_server, "postgres")
    url = database_url(args.pg_server, name)
    create_database(admin_url, name)
    results = {"date": dt.date.today().isoformat(), "settings": vars(args), "cores": os.cpu_count()}
    listener = None
    try:
        seed(url, args.referrals)
        listener, address = start_listener(url, args.listener_nice, args.listener_arg, args.processes)
        numbers = Numbers()
        # Warm up: connections, the code paths and the pool, not measured.
        asyncio.run(closed_loop(address, args.connections, 2.0, args.referrals, numbers))
        warmed = numbers.next

        log("closed loop: %d connections for %.0f s" % (args.connections, args.seconds))
        load_before = os.getloadavg()
        before = cpu_snapshot(listener.pid, name)
        started = time.perf_counter()
        codes, latencies = asyncio.run(closed_loop(address, args.connections, args.seconds, args.referrals, numbers))
        elapsed = time.perf_counter() - started
        after = cpu_snapshot(listener.pid, name)
        sent = sum(codes.values())
        results["max"] = {
            "messages": sent,
            "seconds": round(elapsed, 2),
            "rate": round(codes["AA"] / elapsed, 1),
            "codes": dict(codes),
            "latency_ms": latency_ms(latencies),
            "cpu": cpu_usage(before, after, sent),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        }
        log("max: %s" % results["max"])

        rate = args.paced_rate or results["max"]["rate"] / 2
        log("open loop at %.0f messages/s for %.0f s" % (rate, args.paced_seconds))
        load_before = os.getloadavg()
        before = cpu_snapshot(listener.pid, name)
        started = time.perf_counter()
        codes, latencies = asyncio.run(
            open_loop(address, args.connections, args.paced_seconds, rate, args.referrals, numbers)
        )
        elapsed = time.perf_counter() - started
        after = cpu_snapshot(listener.pid, name)
        sent = sum(codes.values())
        results["paced"] = {
            "rate": round(rate, 1),
            "achieved_rate": round(sent / elapsed, 1),
            "messages": sent,
            "codes": dict(codes),
            "latency_ms": latency_ms(latencies),
            "cpu": cpu_usage(before, after, sent),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        }
        log("paced: %s" % results["paced"])
        log("in process: statements and CPU time per message")
        results["in_process"] = in_process(url, args.referrals, numbers, batch=args.connections)
        log("in process: %s" % {k: v for k, v in results["in_process"].items() if not k.endswith("trace")})
        results["stored"] = check_stored(url, numbers.next)
        results["stored"]["warm_up"] = warmed
    finally:
        if listener is not None:
            listener.send_signal(signal.SIGTERM)
            try:
                listener.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                listener.kill()
        drop_database(admin_url, name)

    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, "adt-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    with open(path, "w") as handle:
        json.dump(results, handle, indent=2)
    print(render(results))
    log("raw results in %s" % path)


def render(results):
    maximum, paced, stored = results["max"], results["paced"], results["stored"]
    p95 = paced["latency_ms"]["p95"]
    settings = results["settings"]
    listener = " ".join(["%d process(es)" % settings["processes"], *settings["listener_arg"]])
    return "\n".join(
        [
            "## ADT over MLLP",
            "",
            "`bench/adt.py`: ADT^A03 discharges over MLLP into `flask adt listen` (%s%s) on PostgreSQL, from %d"
            % (
                listener,
                ", nice %d" % settings["listener_nice"] if settings["listener_nice"] else "",
                settings["connections"],
            ),
            "concurrent connections, one message in flight each; %d open referrals, every message changing one's"
            % settings["referrals"],
            "discharge date (stored, applied through the referral command, acknowledged). Run on %s, %d cores."
            % (results["date"], results["cores"]),
            "",
            "| measure | value | target |",
            "|---|---|---|",
            "| sustained throughput (closed loop, %.0f s) | %.0f messages/s AA (%d messages, codes %s) | ≥ %.0f/s: %s |"
            % (
                settings["seconds"],
                maximum["rate"],
                maximum["messages"],
                maximum["codes"],
                TARGET_RATE,
                verdict(maximum["rate"] >= TARGET_RATE),
            ),
            "| ACK latency at %.0f/s (open loop, %.0f s) p50 / p95 / p99 | %.1f / %.1f / %.1f ms | p95 ≤ %.0f ms: %s |"
            % (
                paced["rate"],
                settings["paced_seconds"],
                paced["latency_ms"]["p50"],
                p95,
                paced["latency_ms"]["p99"],
                TARGET_P95_MS,
                verdict(p95 <= TARGET_P95_MS),
            ),
            "| CPU per message (closed loop): listener / PostgreSQL | %.2f / %.2f ms | |"
            % (maximum["cpu"]["listener_ms_per_message"], maximum["cpu"]["postgres_ms_per_message"]),
            "| cores used (closed loop): listener / PostgreSQL | %.2f / %.2f | |"
            % (maximum["cpu"]["listener_cores"], maximum["cpu"]["postgres_cores"]),
            "| one message in process: SQL statements / commits / CPU | %d (+ the pool's pre-ping) / %d / %.1f ms"
            " (mean of %d) | |"
            % (
                results["in_process"]["statements"],
                results["in_process"]["commits"],
                results["in_process"]["cpu_ms_per_message"],
                results["in_process"]["messages"],
            ),
            "| a batch of %d in process: SQL statements / commits / CPU a message | %d (%.1f a message) / %d / %.1f ms"
            " | |"
            % (
                results["in_process"]["batch"],
                results["in_process"]["batch_statements"],
                results["in_process"]["batch_statements_per_message"],
                results["in_process"]["batch_commits"],
                results["in_process"]["batch_cpu_ms_per_message"],
            ),
            "",
            "Load average (1/5/15 min) before the closed loop: %s; before the paced run: %s. The machine is shared."
            % (
                " / ".join("%.1f" % value for value in maximum["load_before"]),
                " / ".join("%.1f" % value for value in paced["load_before"]),
            ),
            "Stored afterwards: %s of %d sent (warm-up included); referral.updated events: %d."
            % (stored["states"], stored["sent"], stored["referral_updated_events"]),
            "",
        ]
    )


if __name__ == "__main__":
    main()
