"""Mail at scale: 10,000 due notifications sent by one scheduler run to a local SMTP sink (MAIL_CONNECTIONS reused).

    .venv/bin/python bench/mail.py [--pg-server postgresql://postgres@127.0.0.1:5432] [--mails 10000]

Creates a throw-away database (PostgreSQL with --pg-server, else a SQLite file), migrates it, writes the events and
their due `mail_deliveries` rows directly (setup, not measured), starts an aiosmtpd sink in a subprocess
(`python -m aiosmtpd -c aiosmtpd.handlers.Sink`), then times the production `send-mail` job with its default
settings: claim under lease, render, send over MAIL_CONNECTIONS connections each reused for the run, record each.
Reports mails per second and the process's RSS
before, during and after. Rewrites its own section of docs/performance.md ("## Mail to people").
"""

import argparse
import datetime as dt
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from common import REPO_DIR, create_database, database_url, drop_database, log, verdict, write_doc_section  # noqa: E402  (bench/ is on sys.path)

sys.path.insert(0, REPO_DIR)

DOC_HEADING = "## Mail to people"
TARGET_SECONDS = 60.0
UTC = dt.UTC


def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sink(port):
    sink = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:%d" % port, "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return sink
        except OSError:
            time.sleep(0.1)
    sink.kill()
    raise SystemExit("the SMTP sink did not start")


def seed(app, count, now):
    """One planner, `count` followup.missed events already dispatched, and a due mail row for each."""
    from sqlalchemy import insert

    from transitions.core.db import db
    from transitions.identity.models import Organization, User
    from transitions.notify.models import Event, MailDelivery

    with app.app_context():
        organization = Organization(name="Bench hospital", kind="hospital", payer_ids=[])
        db.session.add(organization)
        db.session.flush()
        user = User(
            email="planner@bench.example",
            organization_id=organization.id,
            role="discharge_planner",
            token_hash=secrets.token_hex(32),
            active=True,
        )
        db.session.add(user)
        db.session.flush()
        events, mails = [], []
        for index in range(count):
            event_id = str(uuid.uuid4())
            events.append(
                {
                    "id": event_id,
                    "type": "followup.missed",
                    "data": {"check": "contact_7d"},
                    "created_at": now,
                    "dispatched_at": now,
                    "mailed_at": now,
                }
            )
            mails.append(
                {
                    "id": str(uuid.uuid4()),
                    "event_id": event_id,
                    "user_id": user.id,
                    "status": "pending",
                    "digest": False,
                    "attempts": 0,
                    "next_attempt_at": now - dt.timedelta(seconds=index % 60),
                    "created_at": now,
                }
            )
        for start in range(0, count, 2000):
            db.session.execute(insert(Event), events[start : start + 2000])
            db.session.execute(insert(MailDelivery), mails[start : start + 2000])
        db.session.commit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-server", default=None, help="PostgreSQL server URL (default: a SQLite file)")
    parser.add_argument("--mails", type=int, default=10_000)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from transitions import MIGRATIONS_DIR, create_app, scheduler
    from transitions.core.db import db

    name = "transitions_bench_mail_%s" % secrets.token_hex(4)
    tmp = None
    if args.pg_server:
        admin_url = database_url(args.pg_server, "postgres")
        create_database(admin_url, name)
        url = database_url(args.pg_server, name)
    else:
        tmp = tempfile.mkdtemp()
        url = "sqlite:///%s" % os.path.join(tmp, "bench.sqlite3")
    port = free_port()
    sink = start_sink(port)
    try:
        app = create_app(
            {
                "DATABASE_URL": url,
                "SECRET_KEY": "bench",
                "SMTP_URL": "smtp://127.0.0.1:%d" % port,
                "MAIL_FROM": "no-reply@bench.example",
                "BASE_URL": "https://transitions.example",
            }
        )
        with app.app_context():
            upgrade(directory=MIGRATIONS_DIR)
        now = dt.datetime.now(UTC)
        log("seeding %d due mails on %s" % (args.mails, "PostgreSQL" if args.pg_server else "SQLite"))
        seed(app, args.mails, now)
        scheduler.bind_app(app)
        rss = {"before": rss_mb(), "peak": rss_mb()}
        stop = threading.Event()

        def sample():
            while not stop.wait(0.25):
                rss["peak"] = max(rss["peak"], rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        log("sending")
        load_before = os.getloadavg()[0]
        cpu_started = time.process_time()
        started = time.perf_counter()
        summary = scheduler.run_job("send-mail", now)
        elapsed = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        load_after = os.getloadavg()[0]
        stop.set()
        sampler.join()
        rss["after"] = rss_mb()
        log("%s in %.1f s" % (summary, elapsed))
        with app.app_context():
            db.engine.dispose()
    finally:
        sink.terminate()
        sink.wait()
        if args.pg_server:
            drop_database(admin_url, name)

    rate = args.mails / elapsed
    section = "\n".join(
        [
            DOC_HEADING,
            "",
            "`bench/mail.py`: %d due mails, each its own event and row, sent by one `send-mail` run of one scheduler"
            % args.mails,
            "to a local aiosmtpd sink (a subprocess), over %d SMTP connections (MAIL_CONNECTIONS, the default), each"
            % app.config["MAIL_CONNECTIONS"],
            "reused for the run: 100 mails claimed under lease per commit and rendered (text and HTML from the",
            "templates), then sent within the batch's deadline, each recorded and committed as soon as its send",
            "returns (one statement on a connection held for the run), so at most one mail per connection is ever sent",
            "and not recorded.",
            "Database: %s. Run on %s." % ("PostgreSQL" if args.pg_server else "SQLite", dt.date.today()),
            "",
            "| measure | value | target |",
            "|---|---|---|",
            "| time for %d mails | %.1f s (%.0f mails/s) | ≤ %d s: %s |"
            % (args.mails, elapsed, rate, TARGET_SECONDS, verdict(elapsed <= TARGET_SECONDS)),
            "| RSS before / peak / after | %.0f / %.0f / %.0f MB | flat |" % (rss["before"], rss["peak"], rss["after"]),
            "| CPU time of the scheduler process | %.1f s (%.1f ms a mail) | |"
            % (cpu_seconds, cpu_seconds * 1000 / args.mails),
            "",
            "Load average (1 min) before / after: %.1f / %.1f on %d cores; the machine is shared: wall time above the"
            % (load_before, load_after, os.cpu_count()),
            "CPU time is waiting for a core, PostgreSQL or the sink.",
            "",
            "Summary of the run: `%s`." % summary,
            "",
        ]
    )
    write_doc_section(DOC_HEADING, section)
    print(section)


if __name__ == "__main__":
    main()
