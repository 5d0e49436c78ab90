"""The directory import on PostgreSQL: the whole substance use file into a fresh database, then again unchanged.

Targets (issue 14): first import (with ANALYZE after) <= 60 s, unchanged re-import <= 20 s, peak RSS <= 300 MB.
Each import runs as `flask --app transitions directory import FILE`, a child process measured with wait4 (its own
ru_maxrss, not this script's). The database is created for the run and dropped after.

    .venv/bin/python bench/directory_import.py [--server postgresql://postgres@127.0.0.1:5432/postgres]
        [--file ../shared/data/samhsa-2022-substance-use-facilities.csv.gz]
"""

import argparse
import os
import subprocess
import sys
import time
import uuid

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO_DIR, create_database, database_url, drop_database, log, verdict  # noqa: E402

DEFAULT_FILE = os.path.normpath(
    os.path.join(REPO_DIR, "..", "shared", "data", "samhsa-2022-substance-use-facilities.csv.gz")
)
FLASK = os.path.join(REPO_DIR, ".venv", "bin", "flask")


def run_measured(args, env):
    """Run one setup step (the migration); its figures are not the benchmark's."""
    process = subprocess.run(args, cwd=REPO_DIR, env=env, capture_output=True)
    if process.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (" ".join(args), process.returncode, process.stderr.decode()[-2000:]))


def run_with_rusage(args, env):
    """(seconds, peak RSS MB, stdout): the child waited for with os.wait4, so the RSS is that process's own."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=REPO_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit("%s exited %d" % (" ".join(args), process.returncode))
    return elapsed, usage.ru_maxrss / 1024, out.decode()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--file", default=DEFAULT_FILE)
    options = parser.parse_args()
    if not os.path.isfile(options.file):
        raise SystemExit("No file %s (the SAMHSA reference data lives in ../shared/data)." % options.file)
    name = "bench_directory_%s" % uuid.uuid4().hex[:8]
    url = database_url(options.server, name)
    env = dict(os.environ, TRANSITIONS_DATABASE_URL=url)
    create_database(options.server, name)
    try:
        log("database %s: migrating" % name)
        run_measured([FLASK, "--app", "transitions", "db", "upgrade"], env)
        command = [FLASK, "--app", "transitions", "directory", "import", options.file]
        first, first_rss, first_out = run_with_rusage(command, env)
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("ANALYZE")
        analyze = time.perf_counter() - started
        log("first import %.1f s (+ ANALYZE %.1f s), peak RSS %.0f MB" % (first, analyze, first_rss))
        print(first_out)
        again, again_rss, again_out = run_with_rusage(command, env)
        log("unchanged re-import %.1f s, peak RSS %.0f MB" % (again, again_rss))
        print(again_out)
        with psycopg.connect(url) as connection:
            programs = connection.execute("SELECT count(*) FROM programs").fetchone()[0]
    finally:
        drop_database(options.server, name)
    peak = max(first_rss, again_rss)
    print("programs: %d" % programs)
    print("first import + ANALYZE: %.1f s (target 60 s: %s)" % (first + analyze, verdict(first + analyze <= 60)))
    print("unchanged re-import: %.1f s (target 20 s: %s)" % (again, verdict(again <= 20)))
    print("peak RSS (ru_maxrss): %.0f MB (target 300 MB: %s)" % (peak, verdict(peak <= 300)))


if __name__ == "__main__":
    main()
