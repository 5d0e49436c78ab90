"""What the benchmarks share: logging, throw-away PostgreSQL databases, the code's git state, doc sections."""

import os
import re
import subprocess
import time

import psycopg

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
DOC_PATH = os.path.join(REPO_DIR, "docs", "performance.md")


def log(message):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def database_url(server_url, name):
    """The server URL with its database part replaced."""
    base = re.sub(r"(//[^/]*)/.*$", r"\1", server_url.rstrip("/"))
    return "%s/%s" % (base, name)


def create_database(admin_url, name):
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute('CREATE DATABASE "%s"' % name)


def drop_database(admin_url, name):
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def git_facts():
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO_DIR, capture_output=True, text=True).stdout.strip()

    # The benchmarks' own files (and the doc they rewrite) are not the code under test.
    changed = [
        line[3:]
        for line in git("status", "--porcelain").splitlines()
        if not line[3:].startswith(("bench/", "docs/performance.md"))
    ]
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_files": changed}


def cpu_model():
    """The processor's model name, or "" where /proc/cpuinfo does not say."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    except OSError:
        return ""


def verdict(met):
    return "met" if met else "NOT met"


def write_doc_section(heading, section, intro="# Performance\n"):
    """Replace the section under `heading` in docs/performance.md (up to the next `## `), or append it."""
    # Read right before writing: the other benchmarks rewrite the other sections of the same file.
    text = open(DOC_PATH).read() if os.path.exists(DOC_PATH) else intro
    start = text.find("\n" + heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        start += 1
        following = text.find("\n## ", start + len(heading))
        text = text[:start] + section + ("\n" + text[following + 1 :] if following >= 0 else "")
    with open(DOC_PATH, "w") as handle:
        handle.write(text)
