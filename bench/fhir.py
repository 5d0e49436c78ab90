"""FHIR benchmark: a referral as a transaction Bundle against POST /api/v1/referrals, and Location?near= latency."""

import argparse
import cProfile
import datetime
import http.client
import io
import json
import os
import pstats
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time

import psycopg
from common import (  # noqa: E402  (bench/ is on sys.path: it is the running script's folder)
    BENCH_DIR,
    REPO_DIR,
    RESULTS_DIR,
    create_database,
    database_url,
    drop_database,
    git_facts,
    log,
    verdict,
    write_doc_section,
)

sys.path[:0] = [BENCH_DIR, REPO_DIR]

import matching  # noqa: E402  (the national directory, seeded as the matching benchmark seeds it)
import throughput  # noqa: E402  (gunicorn, wrk, the CPU accounting and the JSON API's referral body)
from paced_load import run_paced  # noqa: E402

from tests.fhir import bundles  # noqa: E402  (the same valid Bundle the FHIR tests post)

DOC_HEADING = "## FHIR"
FHIR_JSON = "application/fhir+json"
WRK_FHIR_SCRIPT = os.path.join(BENCH_DIR, "wrk_fhir.lua")
TARGET_BUNDLE_COST = 2.0
TARGET_NEAR_P95_MS = 50.0


def bundle_body(base, unique):
    """bundles.referral_bundle() for this server's FHIR base, discharged a week from today, one patient per unique."""
    discharge = datetime.date.today() + datetime.timedelta(days=7)
    bundle = bundles.referral_bundle(given="Maria", discharge=discharge.isoformat())
    text = json.dumps(bundle).replace(bundles.EXT, base + "/StructureDefinition/")
    bundle = json.loads(text)
    encounter = bundles.resource(bundle, "Encounter")
    encounter["period"]["start"] = (discharge - datetime.timedelta(days=10)).isoformat()
    # As throughput.REFERRAL_BODY: the family name carries the per-request unique string (a repeat patient is a 409).
    bundles.resource(bundle, "Patient")["name"][0]["family"] = "Bench %s" % unique
    return bundle


def post_bundle(port, body, token):
    """POST /fhir/r4 as application/fhir+json (throughput.request sends application/json)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST", "/fhir/r4", body=body, headers={"Content-Type": FHIR_JSON, "Authorization": "Bearer %s" % token}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def run_wrk(port, endpoint, duration, connections, tag):
    """throughput.run_wrk through bench/wrk_fhir.lua, which sends the endpoint's Content-Type."""
    os.environ["BENCH_BASE_SCRIPT"] = throughput.WRK_SCRIPT
    os.environ["BENCH_CONTENT_TYPE"] = endpoint.get("content_type", "application/json")
    saved, throughput.WRK_SCRIPT = throughput.WRK_SCRIPT, WRK_FHIR_SCRIPT
    try:
        # A new connection per request, as in bench/throughput.py (keep-alive can pin a run to one worker).
        return throughput.run_wrk(port, endpoint, duration, connections, tag, close=True)
    finally:
        throughput.WRK_SCRIPT = saved


def cpu_ms(run):
    cost = throughput.cpu_cost_ms(run)
    return {"server": round(cost["server"], 2), "postgres": round(cost["postgres"], 2)}


def submit_phase(args, product, servers, name, endpoints):
    """Interleaved rounds of max throughput: api, bundle, then bundle, api, ... so drift hits both alike."""
    for key in ("api", "bundle"):
        log("%s: warm-up %ds" % (key, args.warmup))
        run_wrk(product.port, endpoints[key], args.warmup, args.connections, "warm%s" % key)
    rounds = []
    for number in range(args.rounds):
        order = ("api", "bundle") if number % 2 == 0 else ("bundle", "api")
        this_round = {}
        for key in order:

            def max_run(attempt, key=key, number=number):
                tag = "r%d%s%d" % (number, key, attempt)
                return run_wrk(product.port, endpoints[key], args.duration, args.connections, tag)

            run = throughput.measure(key, max_run, servers, name, args)
            run["cpu_ms"] = cpu_ms(run)
            this_round[key] = run
            log(
                "round %d %s: %.1f req/s %s, p50 %.1f ms, CPU %s ms/request, other %.2f cores"
                % (
                    number + 1,
                    key,
                    run["rps"],
                    run["statuses"],
                    run["latency_ms"]["p50"],
                    run["cpu_ms"],
                    run["cpu"]["other_cores"],
                )
            )
        rounds.append(this_round)
    return rounds


def summarize_submit(rounds):
    def median(key, pick):
        return round(statistics.median(pick(r[key]) for r in rounds), 2)

    summary = {}
    for key in ("api", "bundle"):
        summary[key] = {
            "rps": median(key, lambda run: run["rps"]),
            "cpu_ms_server": median(key, lambda run: run["cpu_ms"]["server"]),
            "cpu_ms_postgres": median(key, lambda run: run["cpu_ms"]["postgres"]),
            "cpu_ms_total": median(key, lambda run: run["cpu_ms"]["server"] + run["cpu_ms"]["postgres"]),
            "p50_ms": median(key, lambda run: run["latency_ms"]["p50"]),
            "ok": all(r[key]["ok"] for r in rounds),
        }
    # Cost of a Bundle in units of one JSON API create: by throughput and by CPU per request, per round then median.
    summary["cost_by_rps"] = round(
        statistics.median(r["api"]["rps"] / max(r["bundle"]["rps"], 1e-9) for r in rounds), 2
    )
    summary["cost_by_cpu"] = round(
        statistics.median(
            (r["bundle"]["cpu_ms"]["server"] + r["bundle"]["cpu_ms"]["postgres"])
            / max(r["api"]["cpu_ms"]["server"] + r["api"]["cpu_ms"]["postgres"], 1e-9)
            for r in rounds
        ),
        2,
    )
    summary["met"] = max(summary["cost_by_rps"], summary["cost_by_cpu"]) <= TARGET_BUNDLE_COST
    return summary


def seed_directory(args, url, provider_id):
    """The national directory of bench/matching.py (SAMHSA OIT sites, --tracks tracks), COPYed in, then ANALYZEd."""
    from transitions import create_app
    from transitions.core.db import db

    rng = random.Random(args.seed)
    sites, source = matching.load_sites(rng)
    programs = matching.build_directory(rng, sites, args.tracks, provider_id, datetime.datetime.now(datetime.UTC))
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        seconds = matching.load_directory(programs, url)
        db.session.remove()
        db.engine.dispose()
    facts = matching.directory_facts(programs)
    log(
        "directory: %d tracks / %d programs from %s, loaded in %.1f s"
        % (facts["tracks"], facts["programs"], source, seconds)
    )
    return programs, facts, source


def near_paths(args, programs):
    """Search points at program sites (where referrals come from: people live near programs), in random order."""
    rng = random.Random(args.seed + 1)
    chosen = rng.sample([program for program, _ in programs], min(args.near_points, len(programs)))
    return [
        "/fhir/r4/Location?near=%.4f|%.4f|%g|mi" % (program["latitude"], program["longitude"], args.near_miles)
        for program in chosen
    ]


def near_phase(args, product, servers, name, token, paths):
    headers = {"Authorization": "Bearer %s" % token, "Accept": FHIR_JSON}
    totals = []
    for path in paths:
        status, payload = throughput.request(product.port, "GET", path, token=token)
        if status != 200:
            raise RuntimeError("GET %s answered %s: %s" % (path, status, payload))
        totals.append(payload["total"])
    log("near: %d points, matches per search median %d, max %d" % (len(paths), statistics.median(totals), max(totals)))

    def paced_run(attempt):
        return run_paced(
            product.port,
            lambda index: ("GET", paths[index % len(paths)], None, headers),
            args.near_rate,
            args.near_duration,
            connections=args.paced_connections,
        )

    run = throughput.measure("near", paced_run, servers, name, args)
    completed = max(run["completed"], 1)
    run["cpu_ms"] = {
        "server": round(1000 * run["cpu"]["server_cores"] * args.near_duration / completed, 2),
        "postgres": round(1000 * run["cpu"]["postgres_cores"] * args.near_duration / completed, 2),
    }
    run["matches"] = {
        "median": statistics.median(totals),
        "max": max(totals),
        "mean": round(statistics.mean(totals), 1),
    }
    run["met"] = (
        run["latency_ms"]["p95"] <= TARGET_NEAR_P95_MS
        and set(run["statuses"]) == {"200"}
        and not run["errors"]
        and not run["missed_deadline"]
    )
    log(
        "near: %.1f req/s asked, %.1f got, %s; p50 %s p95 %s p99 %s ms; CPU %s ms/request; other %.2f cores"
        % (
            args.near_rate,
            run["achieved_rate"],
            run["statuses"],
            run["latency_ms"]["p50"],
            run["latency_ms"]["p95"],
            run["latency_ms"]["p99"],
            run["cpu_ms"],
            run["cpu"]["other_cores"],
        )
    )
    return run


def profile_requests(url, token, near_path, stem):
    """cProfile of one Bundle submit and one near search in-process (Flask test client): where the time goes."""
    from transitions import create_app
    from transitions.core.db import db

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    client = app.test_client()
    auth = {"Authorization": "Bearer %s" % token}
    profiles = {}
    cases = {
        "bundle": lambda unique: client.post(
            "/fhir/r4",
            data=json.dumps(bundle_body("http://localhost/fhir/r4", unique)),
            headers={**auth, "Content-Type": FHIR_JSON},
        ),
        "near": lambda unique: client.get(near_path, headers=auth),
    }
    for key, call in cases.items():
        for warm in range(3):
            response = call("profwarm%s%d" % (key, warm))
            assert response.status_code in (200, 201), (key, response.status_code, response.get_data(as_text=True))
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        response = call("prof%s" % key)
        profiler.disable()
        wall_ms = round((time.perf_counter() - started) * 1000, 1)
        assert response.status_code in (200, 201), (key, response.status_code)
        output = io.StringIO()
        stats = pstats.Stats(profiler, stream=output).sort_stats("cumulative")
        stats.print_stats(40)
        path = "%s-%s.txt" % (stem, key)
        with open(path, "w") as handle:
            handle.write(output.getvalue())
        profiles[key] = {"wall_ms_under_profiler": wall_ms, "file": path}
        log("profiled one %s request: %.1f ms under cProfile, %s" % (key, wall_ms, path))
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return profiles


def render_section(results):
    machine, settings = results["machine"], results["settings"]
    submit, near = results["submit"], results["near"]
    api, bundle = submit["api"], submit["bundle"]
    pg = machine["postgresql"]
    lines = [
        DOC_HEADING,
        "",
        "Measured %s by `bench/fhir.py` (raw JSON in the git-ignored `bench/results/%s`)."
        % (results["date"], os.path.basename(results["results_file"])),
        "",
        "- Code: commit %s%s."
        % (results["git"]["commit"], " plus uncommitted changes" if results["git"]["uncommitted_files"] else ""),
        "- Machine: %d CPU (%s, shared with other work), Linux %s, Python %s, PostgreSQL %s (fsync=%s, "
        "synchronous_commit=%s), all on the same host."
        % (
            machine["nproc"],
            machine["cpu_model"] or "?",
            machine["kernel"],
            machine["python"],
            pg["server_version"].split(" ")[0],
            pg["fsync"],
            pg["synchronous_commit"],
        ),
        "- Server: gunicorn %s as in the throughput benchmark above, `--worker-class gthread --workers %d "
        "--threads %d`, a fresh database, a new connection per request."
        % (machine["gunicorn"], settings["workers"], settings["threads"]),
        "",
        "**Submitting a referral.** `POST /fhir/r4` (a transaction Bundle: Patient, Encounter, Coverage, "
        "ServiceRequest, Task, as in `tests/fhir/bundles.py`, `application/fhir+json`) against "
        "`POST /api/v1/referrals` (the same referral as JSON), a new patient per request, as a discharge planner. "
        "wrk, closed loop, %d connections, "
        "%d s per run after a %d s warm-up, %d interleaved rounds (api, bundle, then bundle, api, ...); medians of "
        "the rounds. CPU per request is gunicorn plus the bench database's PostgreSQL backends."
        % (settings["connections"], settings["duration"], settings["warmup"], settings["rounds"]),
        "",
        "| endpoint | req/s | p50 at max | CPU ms per request: gunicorn | PostgreSQL | total | non-2xx / errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for label, run in (("POST /api/v1/referrals", api), ("POST /fhir/r4 (Bundle)", bundle)):
        lines.append(
            "| %s | %.0f | %.1f ms | %.2f | %.2f | %.2f | %s |"
            % (
                label,
                run["rps"],
                run["p50_ms"],
                run["cpu_ms_server"],
                run["cpu_ms_postgres"],
                run["cpu_ms_total"],
                "none" if run["ok"] else "some (see the JSON)",
            )
        )
    lines += [
        "",
        "A Bundle costs **%.2f×** a JSON create by throughput and **%.2f×** by CPU per request (target ≤ %.0f×: %s)."
        % (submit["cost_by_rps"], submit["cost_by_cpu"], TARGET_BUNDLE_COST, verdict(submit["met"])),
        "Per round (api / bundle req/s): %s; CPU ms per request (api / bundle): %s. Each column above is the median "
        "of the rounds on its own. Whenever other work took a core or so (below), req/s says more about that work "
        "than about the endpoint; CPU per request moves less with it, so read the cost by CPU first."
        % (
            ", ".join("%.0f / %.0f" % (r["api"]["rps"], r["bundle"]["rps"]) for r in results["submit_rounds"]),
            ", ".join(
                "%.1f / %.1f"
                % tuple(r[key]["cpu_ms"]["server"] + r[key]["cpu_ms"]["postgres"] for key in ("api", "bundle"))
                for r in results["submit_rounds"]
            ),
        ),
        "",
        "**Location?near=.** `GET /fhir/r4/Location?near=LAT|LON|%g|mi` as the planner over the national directory "
        "of `bench/matching.py` (%s tracks in %s programs, %s; COPYed in, then VACUUM ANALYZE), %d search points at "
        "program sites in turn (median %g matches, max %d; the page is the first %s). Open loop "
        "(`bench/paced_load.py`), %.0f req/s for %d s, latency from each request's scheduled time."
        % (
            settings["near_miles"],
            "{:,}".format(results["directory"]["tracks"]),
            "{:,}".format(results["directory"]["programs"]),
            results["directory_source"],
            settings["near_points"],
            near["matches"]["median"],
            near["matches"]["max"],
            50,
            settings["near_rate"],
            settings["near_duration"],
        ),
        "",
        "| rate asked | rate got | p50 | p95 | p99 | max | target p95 | "
        "| CPU ms per request (±0.5): gunicorn + PostgreSQL |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
        "| %.0f/s | %.1f/s | %s ms | %s ms | %s ms | %s ms | ≤ %.0f ms | %s | %.2f + %.2f |"
        % (
            settings["near_rate"],
            near["achieved_rate"],
            near["latency_ms"]["p50"],
            near["latency_ms"]["p95"],
            near["latency_ms"]["p99"],
            near["latency_ms"]["max"],
            TARGET_NEAR_P95_MS,
            verdict(near["met"]),
            near["cpu_ms"]["server"],
            near["cpu_ms"]["postgres"],
        ),
        "",
        "Other work on the machine during the runs (cores of 2): submit rounds %s; near %.2f."
        % (
            ", ".join(
                "%.2f/%.2f" % (r["api"]["cpu"]["other_cores"], r["bundle"]["cpu"]["other_cores"])
                for r in results["submit_rounds"]
            ),
            near["cpu"]["other_cores"],
        ),
    ]
    if results.get("notes"):
        for note in results["notes"]:
            lines += ["", note]
    return "\n".join(lines) + "\n"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--pg-server",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL; a fresh database is created on it and dropped at the end",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (as bench/throughput.py)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (as bench/throughput.py)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections for the submit runs")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each submit run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per endpoint before the rounds")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of api and bundle submits")
    parser.add_argument("--tracks", type=int, default=30000, help="tracks in the national directory")
    parser.add_argument("--seed", type=int, default=20261126, help="random seed of the directory (as matching.py)")
    parser.add_argument("--near-points", type=int, default=200, help="distinct search points, used in turn")
    parser.add_argument("--near-miles", type=float, default=25.0, help="search radius in miles")
    parser.add_argument("--near-rate", type=float, default=20.0, help="requests per second of the near run")
    parser.add_argument("--near-duration", type=int, default=30, help="seconds of the near run")
    parser.add_argument("--paced-connections", type=int, default=8, help="connections of the near generator")
    parser.add_argument("--quiet-wait", type=int, default=60, help="seconds to wait for other work before a run")
    parser.add_argument("--max-other", type=float, default=0.3, help="cores others may take before a run is redone")
    parser.add_argument("--attempts", type=int, default=2, help="runs of a phase at most, while others disturb it")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile of one request of each kind")
    parser.add_argument("--schema-patch", metavar="SQL", help="SQL run after migrating (a migration not yet written)")
    parser.add_argument("--render", metavar="JSON", help="only rewrite the doc section from a saved result file")
    parser.add_argument("--no-doc", action="store_true", help="do not write the section in docs/performance.md")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.render:
        with open(args.render) as handle:
            write_doc_section(DOC_HEADING, render_section(json.load(handle)))
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu)")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    admin_url = database_url(args.pg_server, "postgres")
    name = "transitions_bench_fhir_%s" % secrets.token_hex(6)
    url = database_url(args.pg_server, name)
    results = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": throughput.machine_facts(admin_url),
        "git": git_facts(),
        "settings": vars(args),
        "database": name,
        "results_file": os.path.join(RESULTS_DIR, "fhir-%s.json" % stamp),
    }
    servers = []
    body_dir = tempfile.mkdtemp(prefix="bench-fhir-")
    create_database(admin_url, name)
    log("created database %s" % name)
    try:
        env = throughput.product_env(url, "bench-" + secrets.token_hex(16))
        throughput.flask_cli(env, "db", "upgrade")
        if args.schema_patch:
            # A working tree whose models are ahead of its migrations (another change under way) cannot create an
            # admin; the patch stands in for the migration not written yet, and the doc section names it.
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute(args.schema_patch)
            results["notes"] = [
                "Measured with the schema patch `%s` (a migration not yet written)." % args.schema_patch
            ]
        admin_token = throughput.flask_cli(env, "create-admin", "bench-admin@example.org").strip().splitlines()[-1]
        log("migrated")
        product = throughput.Gunicorn(
            "product",
            "wsgi:app",
            REPO_DIR,
            env,
            args.workers,
            args.threads,
            os.path.join(RESULTS_DIR, "fhir-gunicorn-%s.log" % stamp),
        )
        servers.append(product)
        product.wait_ready("/healthz")
        results["settings"]["product_command"] = " ".join(product.command)
        api = throughput.api
        token = throughput.bench_planner_token(product.port, admin_token)
        provider = api(
            product.port,
            "POST",
            "/api/v1/organizations",
            {"name": "Bench IOP network", "kind": "iop_provider"},
            admin_token,
            201,
        )

        base = "http://127.0.0.1:%d/fhir/r4" % product.port
        api_file, bundle_file = os.path.join(body_dir, "referral.json"), os.path.join(body_dir, "bundle.json")
        with open(api_file, "w") as handle:
            json.dump(throughput.REFERRAL_BODY, handle)
        with open(bundle_file, "w") as handle:
            json.dump(bundle_body(base, "__UNIQUE__"), handle)
        # One of each first, so a shape the server refuses stops the bench before any load.
        status, payload = throughput.request(
            product.port, "POST", "/api/v1/referrals", throughput.referral_body("checkapi"), token
        )
        assert status == 201, (status, payload)
        status, payload = post_bundle(product.port, json.dumps(bundle_body(base, "checkfhir")).encode(), token)
        # A transaction answers 200 with a transaction-response Bundle (one 201 Created entry per resource).
        if status != 200 or b"transaction-response" not in payload:
            raise RuntimeError("POST /fhir/r4 answered %s: %s" % (status, payload[:2000]))
        log("one referral of each kind accepted")

        endpoints = {
            "api": {
                "name": "api",
                "method": "POST",
                "paths": ["/api/v1/referrals"],
                "token": token,
                "body_file": api_file,
                "expect": 201,
            },
            "bundle": {
                "name": "bundle",
                "method": "POST",
                "paths": ["/fhir/r4"],
                "token": token,
                "body_file": bundle_file,
                "content_type": FHIR_JSON,
                "expect": 200,
            },
        }
        rounds = submit_phase(args, product, servers, name, endpoints)
        results["submit_rounds"] = rounds
        results["submit"] = summarize_submit(rounds)
        log("submit: %s" % json.dumps(results["submit"]))

        programs, results["directory"], results["directory_source"] = seed_directory(args, url, provider["id"])
        paths = near_paths(args, programs)
        results["near"] = near_phase(args, product, servers, name, token, paths)

        if not args.no_profile:
            results["profiles"] = profile_requests(
                url, token, paths[0], os.path.join(RESULTS_DIR, "fhir-profile-%s" % stamp)
            )
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(body_dir, ignore_errors=True)
        drop_database(admin_url, name)
        log("dropped database %s" % name)

    with open(results["results_file"], "w") as handle:
        json.dump(results, handle, indent=2, default=str)
    section = render_section(results)
    if not args.no_doc:
        write_doc_section(DOC_HEADING, section)
    print()
    print(section)
    log("raw results: %s" % results["results_file"])


if __name__ == "__main__":
    main()
