"""Follow-up scheduling at scale on PostgreSQL: writing 1,000,000 checks, sweeping 10,000 due ones, scheduler memory.

    .venv/bin/python bench/followups.py [--pg-server postgresql://postgres@127.0.0.1:5432] [--checks 1000000]

Creates a throw-away database `transitions_bench_fu_<random>`, migrates it, and measures:

1. writing the plans of 1,000,000 checks (bulk, with the production plan rules), and the production path
   (plan_referral inside the referral's transaction) on a sample, against one APScheduler job per check
   in a SQLAlchemyJobStore on the same PostgreSQL (a sample, extrapolated);
2. the resident memory of a real `flask scheduler` process with 10 % and with 100 % of the checks scheduled,
   and its peak while sweeping 10,000 due checks;
3. the production sweep job on 10,000 due checks with recorded facts behind them.

Drops the database, writes raw JSON to bench/results/ (git-ignored) and rewrites its own section of
docs/performance.md ("## Follow-ups and scheduler"), leaving the other sections alone.
"""

import argparse
import datetime as dt
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
import uuid
from importlib import metadata

import psycopg
from common import DOC_PATH, REPO_DIR, RESULTS_DIR, cpu_model, database_url, log, verdict, write_doc_section  # noqa: E402  (bench/ is on sys.path: it is the running script's folder)

DOC_HEADING = "## Follow-ups and scheduler"
sys.path.insert(0, REPO_DIR)

TARGETS = {"write_speedup": 50.0, "sweep_seconds": 10.0, "rss_mb": 200.0}
UTC = dt.UTC


def evaluate_one(followup_id):
    """What a job-per-check design would schedule; never run here."""


# ------------------------------------------------------------------ setup


def copy_rows(url, table, columns, rows):
    """COPY rows into a table: setup data, not what is measured."""
    with psycopg.connect(url) as connection:
        with connection.cursor().copy("COPY %s (%s) FROM STDIN" % (table, ", ".join(columns))) as copy:
            for row in rows:
                copy.write_row(row)


def make_referrals(url, organization_id, user_id, discharges, tag):
    """Referral rows with the given discharge dates; returns their (id, discharge_date)."""
    now = dt.datetime.now(UTC)
    made = [(str(uuid.uuid4()), discharge) for discharge in discharges]
    columns = (
        "id",
        "organization_id",
        "created_by",
        "status",
        "patient_key",
        "given_name",
        "family_name",
        "birth_date",
        "gender",
        "language",
        "zip",
        "patient_state",
        "latitude",
        "longitude",
        "payer_id",
        "member_id",
        "self_pay",
        "origin",
        "need",
        "diagnoses",
        "needs_mat",
        "discharge_date",
        "timezone",
        "modality",
        "share_notes",
        "auto_cascade",
        "created_at",
        "updated_at",
    )
    copy_rows(
        url,
        "referrals",
        columns,
        (
            (
                rid,
                organization_id,
                user_id,
                "submitted",
                "%s%s|x|1990-01-01" % (tag, rid),
                "Bench",
                "Patient",
                dt.date(1990, 1, 1),
                "unknown",
                "en",
                "60614",
                "IL",
                41.92,
                -87.65,
                "acme-health",
                "M1",
                False,
                "inpatient_psych",
                "mental_health",
                '["F33.1"]',
                False,
                discharge,
                "America/Chicago",
                "either",
                False,
                False,
                now,
                now,
            )
            for rid, discharge in made
        ),
    )
    return made


def write_plans_bulk(app, referrals, batch=5000):
    """Write the plans of many referrals with services.followups.write_plans: one INSERT per `batch` referrals."""
    from transitions.core.db import db
    from transitions.followups.facts import Subject
    from transitions.followups.plan import write_plans

    subjects = [
        Subject(rid, "submitted", "mental_health", discharge, "America/Chicago") for rid, discharge in referrals
    ]
    started = time.perf_counter()
    written = 0
    with app.app_context():
        for start in range(0, len(subjects), batch):
            written += write_plans(subjects[start : start + batch])
            db.session.commit()
    return written, time.perf_counter() - started


def write_plans_production(app, referrals, commit_every):
    """The request path: plan_referral() and a flush per referral, as create_referral does, committing every n."""
    from transitions.core.db import db
    from transitions.followups.plan import plan_referral
    from transitions.referrals.models import Referral

    written = 0
    with app.app_context():
        loaded = db.session.scalars(db.select(Referral).where(Referral.id.in_([r for r, _ in referrals]))).all()
        started = time.perf_counter()
        for index, referral in enumerate(loaded, 1):
            written += len(plan_referral(referral))
            db.session.flush()
            if index % commit_every == 0:
                db.session.commit()
        db.session.commit()
        elapsed = time.perf_counter() - started
    return written, elapsed


def apscheduler_sample(url, followups):
    """One job per check in APScheduler's SQLAlchemyJobStore on the same PostgreSQL: add_job for each."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    store = SQLAlchemyJobStore(
        url=url.replace("postgresql://", "postgresql+psycopg://"), tablename="apscheduler_bench_jobs"
    )
    scheduler = BackgroundScheduler(jobstores={"default": store}, timezone=UTC)
    scheduler.start(paused=True)
    started = time.perf_counter()
    for followup_id, due_at in followups:
        scheduler.add_job(
            evaluate_one,
            "date",
            run_date=due_at,
            args=[followup_id],
            id=followup_id,
            misfire_grace_time=3600,
            coalesce=True,
        )
    elapsed = time.perf_counter() - started
    scheduler.shutdown(wait=False)
    return len(followups), elapsed


def add_facts(url, app, referrals, program_id, track_id):
    """Offers, placements, sessions and readmissions behind the due checks, so the sweep judges real facts."""
    now = dt.datetime.now(UTC)
    offers, placements, attendance, readmissions = [], [], [], []
    for index, (referral_id, discharge) in enumerate(referrals):
        if index % 4 == 3:
            continue  # a quarter never placed
        offer_id, placement_id = str(uuid.uuid4()), str(uuid.uuid4())
        decided = dt.datetime.combine(discharge, dt.time(12), tzinfo=UTC) - dt.timedelta(days=1)
        offers.append(
            (
                offer_id,
                referral_id,
                track_id,
                program_id,
                "accepted",
                now,
                decided,
                discharge + dt.timedelta(days=2),
                decided,
            )
        )
        placements.append(
            (placement_id, referral_id, offer_id, track_id, program_id, discharge + dt.timedelta(days=2), "active", now)
        )
        for day in (2, 5, 9, 16, 23, 40, 70)[: 3 + index % 5]:
            attendance.append((str(uuid.uuid4()), placement_id, discharge + dt.timedelta(days=day), "attended", now))
        if index % 10 == 0:
            readmissions.append(
                (str(uuid.uuid4()), referral_id, discharge + dt.timedelta(days=12), "readmission_30", now)
            )
    copy_rows(
        url,
        "offers",
        (
            "id",
            "referral_id",
            "track_id",
            "program_id",
            "status",
            "expires_at",
            "decided_at",
            "intake_date",
            "created_at",
        ),
        offers,
    )
    copy_rows(
        url,
        "placements",
        ("id", "referral_id", "offer_id", "track_id", "program_id", "intake_date", "status", "created_at"),
        placements,
    )
    copy_rows(url, "attendance", ("id", "placement_id", "session_date", "status", "created_at"), attendance)
    copy_rows(url, "readmissions", ("id", "referral_id", "admitted_on", "classification", "created_at"), readmissions)
    return {
        "offers": len(offers),
        "placements": len(placements),
        "sessions": len(attendance),
        "readmissions": len(readmissions),
    }


def machine_busy(seconds=2.0):
    """Share of the machine's CPU time that was busy over a short interval (other work disturbs timings)."""

    def ticks():
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        return sum(values), values[3] + values[4]

    total0, idle0 = ticks()
    time.sleep(seconds)
    total1, idle1 = ticks()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(limit, threshold=0.25):
    """Wait (up to `limit` seconds) until other work leaves the machine mostly idle; returns the busy share seen."""
    deadline = time.monotonic() + limit
    busy = machine_busy()
    while busy > threshold and time.monotonic() < deadline:
        log("machine %.0f %% busy with other work; waiting" % (busy * 100))
        time.sleep(10)
        busy = machine_busy()
    return busy


# ------------------------------------------------------------------ the scheduler process


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def scheduler_memory(url, wait_for):
    """Start `flask scheduler`, wait for its first sweep to report `wait_for`, return (RSS, peak RSS) in MB."""
    env = dict(
        os.environ,
        TRANSITIONS_DATABASE_URL=url,
        TRANSITIONS_SECRET_KEY="bench",
        TRANSITIONS_SCHEDULER_WEBHOOK_SECONDS="600",
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "transitions", "scheduler"],
        cwd=REPO_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "sweep-followups: evaluated" in line:
                assert wait_for in line, line
                time.sleep(2)  # let the other start-up jobs finish too
                return status_kb(process.pid, "VmRSS") / 1024, status_kb(process.pid, "VmHWM") / 1024, line.strip()
        raise RuntimeError("the scheduler did not sweep:\n" + "".join(lines))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


# ------------------------------------------------------------------ report


def machine_facts(url):
    model = cpu_model()
    with psycopg.connect(url) as connection:
        pg = {
            s: connection.execute("SHOW %s" % s).fetchone()[0]
            for s in ("server_version", "fsync", "synchronous_commit", "shared_buffers")
        }
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_DIR, capture_output=True, text=True
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg,
        "commit": commit,
        "apscheduler": metadata.version("apscheduler"),
        "sqlalchemy": metadata.version("sqlalchemy"),
    }


def render(r):
    m = r["machine"]
    pg = m["postgresql"]
    w = r["write"]
    per_check_bulk = w["bulk_seconds"] / w["bulk_checks"] * 1e6
    per_check_prod = w["production_seconds"] / w["production_checks"] * 1e6
    per_check_own = w["own_transaction_seconds"] / w["own_transaction_checks"] * 1e6
    per_check_aps = w["apscheduler_seconds"] / w["apscheduler_jobs"] * 1e6
    # Microseconds a check are seconds a million checks.
    aps_total, prod_total = per_check_aps, per_check_prod
    s = r["sweep"]
    mem = r["memory"]
    lines = [
        DOC_HEADING,
        "",
        "Measured %s by `bench/followups.py` (raw JSON: `bench/results/%s`)." % (r["when"], r["json"]),
        "",
        "- Code: commit %s plus the working tree. Machine: %d CPU (%s), Linux %s, Python %s, PostgreSQL %s "
        "(fsync=%s, synchronous_commit=%s, shared_buffers=%s), all on the same host; APScheduler %s."
        % (
            m["commit"],
            m["nproc"],
            m["cpu_model"],
            m["kernel"],
            m["python"],
            pg["server_version"].split()[0],
            pg["fsync"],
            pg["synchronous_commit"],
            pg["shared_buffers"],
            m["apscheduler"],
        ),
        "- Follow-up checks are rows in `followups` (one per referral and check, partial index on `due_at` where "
        "`outcome IS NULL`), not APScheduler jobs; the scheduler runs four periodic jobs whatever the number of "
        "checks.",
        "",
        "| measure | result | target | |",
        "| --- | ---: | --- | --- |",
        "| write %s checks with `write_plans()` (one INSERT per %d referrals) | %.1f s (%.1f µs a check) | | |"
        % (format(w["bulk_checks"], ","), w["batch"], w["bulk_seconds"], per_check_bulk),
        "| request path: `plan_referral()` + flush in the referral's transaction, %d checks sampled | %.0f µs a "
        "check (≈ %.0f s for 1 M) | | |" % (w["production_checks"], per_check_prod, prod_total),
        "| the same, committing once per referral, %d checks sampled | %.0f µs a check | | |"
        % (w["own_transaction_checks"], per_check_own),
        "| one APScheduler job per check (SQLAlchemyJobStore, `add_job`), %d jobs sampled | %.0f µs a check "
        "(≈ %.0f s = %.1f h for 1 M) | | |" % (w["apscheduler_jobs"], per_check_aps, aps_total, aps_total / 3600),
        "| speed-up, bulk rows vs one job per check | %.0f× | ≥ %.0f× | %s |"
        % (w["speedup_bulk"], TARGETS["write_speedup"], verdict(w["speedup_bulk"] >= TARGETS["write_speedup"])),
        "| speed-up, request path vs one job per check | %.1f× (committing per referral: %.1f×) | | |"
        % (w["speedup_production"], w["speedup_own_transaction"]),
        "| sweep of %d due checks among %s scheduled (production job, batches of %d) | %.2f s (%.0f checks/s) | "
        "≤ %.0f s | %s |"
        % (
            s["due"],
            format(s["scheduled"], ","),
            s["batch"],
            s["seconds"],
            s["due"] / s["seconds"],
            TARGETS["sweep_seconds"],
            verdict(s["seconds"] <= TARGETS["sweep_seconds"]),
        ),
        "| scheduler RSS, %s checks scheduled | %.0f MB | ≤ %.0f MB | %s |"
        % (
            format(mem["small_total"], ","),
            mem["small_rss"],
            TARGETS["rss_mb"],
            verdict(mem["small_rss"] <= TARGETS["rss_mb"]),
        ),
        "| scheduler RSS, %s checks scheduled | %.0f MB | ≤ %.0f MB, flat | %s |"
        % (
            format(mem["large_total"], ","),
            mem["large_rss"],
            TARGETS["rss_mb"],
            verdict(mem["large_rss"] <= TARGETS["rss_mb"] and mem["large_rss"] <= mem["small_rss"] * 1.1),
        ),
        "| scheduler peak RSS while sweeping %d due checks (%s scheduled) | %.0f MB | ≤ %.0f MB | %s |"
        % (
            s["due"],
            format(mem["large_total"], ","),
            mem["sweep_peak"],
            TARGETS["rss_mb"],
            verdict(mem["sweep_peak"] <= TARGETS["rss_mb"]),
        ),
        "",
        "Before each timed phase the benchmark waits (up to %d s) for other work to leave the 2 cores idle; the "
        "machine was %s busy just before the bulk write, production sample, APScheduler sample and sweep."
        % (
            r["quiet_wait"],
            ", ".join("%.0f %%" % (100 * r["busy_before"][k]) for k in ("write", "production", "apscheduler", "sweep")),
        ),
        "",
        "How it was measured:",
        "",
        "- Bulk write: `transitions.followups.plan.write_plans()` (the configured plan, due dates, the end of "
        "each due day in the patient's time zone; one `INSERT ... SELECT FROM unnest(...)` per call) for %s "
        "referrals of five checks each, committed every %d referrals. A submitted referral's plan is written by "
        "`plan_referral()` (ORM, five rows) inside the referral's own transaction, so its marginal cost is the "
        "sampled request path (committing every 100 referrals); committing once per referral adds the commit and "
        "fsync a request pays anyway." % (format(w["bulk_checks"] // 5, ","), w["batch"]),
        "- APScheduler: a paused `BackgroundScheduler` with a `SQLAlchemyJobStore` (psycopg 3) in the same database, "
        "one `date` job per check (id = check id, one plain argument); each `add_job` pickles the job and inserts "
        "it in its own transaction, which is why it cannot be batched.",
        "- Sweep: `transitions.followups.jobs.sweep_followups`, the job `flask scheduler` and `flask sweep` run, "
        "on %d referrals discharged 200 days earlier (five due checks each); three in four have an accepted offer, "
        "a placement and 3-7 attended sessions, one in ten a readmission (%s). Result: %s."
        % (s["due"] // 5, ", ".join("%d %s" % (v, k) for k, v in s["facts"].items()), s["result"]),
        "- Memory: a real `flask scheduler` process (all four jobs) started after %s and after %s checks were "
        "written, none of them due; RSS read from /proc two seconds after its first sweep. The peak is VmHWM of a "
        "scheduler started with the %d due checks pending, read after it swept them. The sweep holds one batch "
        "in memory, never the schedule." % (format(mem["small_total"], ","), format(mem["large_total"], ","), s["due"]),
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------ main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg-server", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--checks", type=int, default=1_000_000, help="checks to schedule (five per referral)")
    parser.add_argument("--due", type=int, default=10_000, help="due checks to sweep")
    parser.add_argument(
        "--sample", type=int, default=10_000, help="APScheduler jobs and production-path checks sampled"
    )
    parser.add_argument("--batch", type=int, default=5000, help="referrals per transaction in the bulk write")
    parser.add_argument(
        "--quiet-wait",
        type=int,
        default=300,
        help="seconds to wait before each timed phase for other work on the machine to stop",
    )
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite the section in docs/performance.md")
    args = parser.parse_args(argv)

    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = dt.datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    admin = database_url(args.pg_server, "postgres")
    name = "transitions_bench_fu_%s" % secrets.token_hex(5)
    url = database_url(args.pg_server, name)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute('CREATE DATABASE "%s"' % name)
    log("database %s" % name)
    # SIGTERM too runs the finally below, so the throw-away database is dropped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    os.environ["TRANSITIONS_DATABASE_URL"] = url
    os.environ.setdefault("TRANSITIONS_SECRET_KEY", "bench")
    try:
        results = run(url, args)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    results["quiet_wait"] = args.quiet_wait
    results["when"] = dt.datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["json"] = "followups-%s.json" % stamp
    with open(os.path.join(RESULTS_DIR, results["json"]), "w") as handle:
        json.dump(results, handle, indent=2, default=str)
    section = render(results)
    print("\n" + section)
    if not args.no_doc:
        write_doc_section(DOC_HEADING, section)
        log("rewrote %s in %s" % (DOC_HEADING, DOC_PATH))


def run(url, args):
    from flask_migrate import upgrade

    from transitions import MIGRATIONS_DIR, create_app, scheduler
    from transitions.core.db import db
    from transitions.directory.models import Program, Track
    from transitions.identity import service as organizations

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        hospital = organizations.create_organization("Bench hospital", "hospital")
        provider = organizations.create_organization("Bench provider", "iop_provider")
        user, _ = organizations.create_user("bench@example.org", hospital.id, "discharge_planner")
        program = Program(
            organization_id=provider.id,
            name="Bench IOP",
            zip="60601",
            state="IL",
            latitude=41.88,
            longitude=-87.62,
            services=["mental_health"],
            min_age=18,
            max_age=99,
            gender="any",
            languages=["en"],
            payers=["acme-health"],
            accepts_from=["inpatient_psych"],
            telehealth_states=[],
        )
        db.session.add(program)
        db.session.flush()
        track = Track(
            program_id=program.id,
            name="Evening",
            modality="in_person",
            timezone="America/Chicago",
            sessions=[],
            hours_per_week=9,
            intake_days=[],
            capacity=10000,
        )
        db.session.add(track)
        db.session.commit()
        ids = (hospital.id, user.id, program.id, track.id)
    machine = machine_facts(url)
    today = dt.date.today()
    per_referral = 5
    future = args.checks // per_referral
    # Discharges spread over the coming months: scheduled, none due.
    discharges = [today + dt.timedelta(days=1 + index % 300) for index in range(future)]
    log("seeding %d referrals" % future)
    referrals = make_referrals(url, ids[0], ids[1], discharges, "F")
    small = future // 10

    busy = {"write": wait_for_quiet(args.quiet_wait)}
    log("bulk write: %d checks (first 10 %%)" % (small * per_referral))
    written_small, seconds_small = write_plans_bulk(app, referrals[:small], args.batch)
    rss_small, _, _ = scheduler_memory(url, "evaluated 0 checks")
    log("scheduler RSS with %d scheduled: %.0f MB" % (written_small, rss_small))
    log("bulk write: the other %d checks" % ((future - small) * per_referral))
    written_rest, seconds_rest = write_plans_bulk(app, referrals[small:], args.batch)
    bulk_checks, bulk_seconds = written_small + written_rest, seconds_small + seconds_rest
    log("bulk: %d checks in %.1f s" % (bulk_checks, bulk_seconds))
    rss_large, _, _ = scheduler_memory(url, "evaluated 0 checks")
    log("scheduler RSS with %d scheduled: %.0f MB" % (bulk_checks, rss_large))

    half = args.sample // 10
    sample_referrals = make_referrals(url, ids[0], ids[1], [today + dt.timedelta(days=400)] * (2 * half), "P")
    busy["production"] = wait_for_quiet(args.quiet_wait)
    # In a request the plan shares the referral's transaction; alone, it pays a commit per referral.
    production_checks, production_seconds = write_plans_production(app, sample_referrals[:half], 100)
    own_checks, own_seconds = write_plans_production(app, sample_referrals[half:], 1)
    log(
        "production path: %d checks in %.1f s inside transactions, %d in %.1f s committing each"
        % (production_checks, production_seconds, own_checks, own_seconds)
    )
    with psycopg.connect(url) as connection:
        sample = connection.execute("SELECT id, due_at FROM followups ORDER BY id LIMIT %s", (args.sample,)).fetchall()
    busy["apscheduler"] = wait_for_quiet(args.quiet_wait)
    aps_jobs, aps_seconds = apscheduler_sample(url, [(fid, due.replace(tzinfo=UTC)) for fid, due in sample])
    log("APScheduler: %d jobs in %.1f s" % (aps_jobs, aps_seconds))

    due_referrals = make_referrals(url, ids[0], ids[1], [today - dt.timedelta(days=200)] * (args.due // 5), "D")
    facts = add_facts(url, app, due_referrals, ids[2], ids[3])
    write_plans_bulk(app, due_referrals, args.batch)
    with psycopg.connect(url) as connection:
        connection.execute("ANALYZE")
        scheduled = connection.execute("SELECT count(*) FROM followups").fetchone()[0]
    scheduler.bind_app(app)
    busy["sweep"] = wait_for_quiet(args.quiet_wait)
    started = time.perf_counter()
    result = scheduler.run_job("sweep-followups")
    sweep_seconds = time.perf_counter() - started
    log("sweep: %s in %.2f s" % (result, sweep_seconds))
    assert result.startswith("evaluated %d " % args.due), result
    # Again, by a real scheduler process this time, for its peak memory.
    with psycopg.connect(url) as connection:
        connection.execute("DELETE FROM events WHERE type = 'followup.missed'")
        connection.execute(
            "UPDATE followups SET outcome = NULL, evaluated_at = NULL, evidence = NULL WHERE outcome IS NOT NULL"
        )
    _, peak, line = scheduler_memory(url, "evaluated %d checks" % args.due)
    log("scheduler peak while sweeping: %.0f MB (%s)" % (peak, line))
    with app.app_context():
        db.engine.dispose()
    speedup_bulk = (aps_seconds / aps_jobs) / (bulk_seconds / bulk_checks)
    speedup_production = (aps_seconds / aps_jobs) / (production_seconds / production_checks)
    speedup_own = (aps_seconds / aps_jobs) / (own_seconds / own_checks)
    return {
        "machine": machine,
        "busy_before": busy,
        "write": {
            "bulk_checks": bulk_checks,
            "bulk_seconds": bulk_seconds,
            "batch": args.batch,
            "production_checks": production_checks,
            "production_seconds": production_seconds,
            "own_transaction_checks": own_checks,
            "own_transaction_seconds": own_seconds,
            "apscheduler_jobs": aps_jobs,
            "apscheduler_seconds": aps_seconds,
            "speedup_bulk": speedup_bulk,
            "speedup_production": speedup_production,
            "speedup_own_transaction": speedup_own,
        },
        "sweep": {
            "due": args.due,
            "scheduled": scheduled,
            "seconds": sweep_seconds,
            "result": result,
            "facts": facts,
            "batch": app.config["FOLLOWUP_SWEEP_BATCH"],
        },
        "memory": {
            "small_total": written_small,
            "small_rss": rss_small,
            "large_total": bulk_checks,
            "large_rss": rss_large,
            "sweep_peak": peak,
        },
    }


if __name__ == "__main__":
    main()
