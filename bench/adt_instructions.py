"""Instructions per ADT^A03 (valgrind callgrind) in the listener's own code path, for batches of 1 and of 32.

A timing on a shared 2-core machine moves with everyone else's work (and this machine's speed itself moved by three
times within a day); an instruction count does not. Seeds a throw-away PostgreSQL database as bench/adt.py does (a
hospital with facility id BENCHHOSP, a plan, N open referrals), then runs `listener.handle_batch` (store, commit,
apply through the referral command, commit, ACKs: everything the listener does per batch but the socket) in one
process under callgrind with instrumentation off; for each counted batch this script zeroes the counters, switches
instrumentation on, has the process handle one batch of new A03s, switches it off and dumps. Every A03 changes its
referral's discharge date (bench/adt.py's messages, numbered on across batches and processes), so each does the full
work. Reported: the median of --repeat batches, divided by the batch size. PostgreSQL's own work is not counted.

    .venv/bin/python bench/adt_instructions.py              # the product at this checkout
    .venv/bin/python bench/adt_instructions.py --repo DIR   # the product code of another tree (a baseline copy)
"""

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile

from common import REPO_DIR, RESULTS_DIR, create_database, database_url, drop_database, log

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


def serve(url, referrals, start):
    """The measured side: one batch of new A03s per line read from stdin (numbered on from start), "done" after
    each."""
    import adt as bench_adt

    sys.path.insert(0, os.getcwd())  # the measured tree (the process runs in it), before the one adt.py put first
    from transitions import create_app
    from transitions.adt import listener
    from transitions.core.clock import utcnow

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    numbers = bench_adt.Numbers(start)
    print("ready", flush=True)
    for line in sys.stdin:
        frames = [(bench_adt.a03(numbers.take(), referrals)[0], utcnow()) for _ in range(int(line))]
        listener.handle_batch(app, frames)
        print("done", flush=True)


def count_batches(url, referrals, repo, batch, warmup, repeat, start):
    """Median instructions per message over `repeat` counted batches of `batch` messages, after `warmup` batches; the
    messages numbered from start (each process goes on from the last one's numbers: a number sent before would be a
    repeat, acknowledged without any work)."""
    from instructions import total_instructions

    out_dir = tempfile.mkdtemp(prefix="callgrind-adt-")
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    command += ["--callgrind-out-file=%s" % os.path.join(out_dir, "callgrind.%p")]
    command += [sys.executable, os.path.abspath(__file__), "--serve", url, "--referrals", str(referrals)]
    command += ["--start", str(start)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([repo, BENCH_DIR]))
    process = subprocess.Popen(
        command, cwd=repo, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the measured process did not start")

        def handle(size):
            process.stdin.write("%d\n" % size)
            process.stdin.flush()
            if process.stdout.readline().strip() != "done":
                raise RuntimeError("the measured process failed")

        def control(*args):
            subprocess.run(["callgrind_control", *args, str(process.pid)], check=True, capture_output=True)

        for _ in range(warmup):
            handle(batch)
        per_message = []
        for _ in range(repeat):
            control("--zero")
            control("--instr=on")
            handle(batch)
            control("--instr=off")
            before = set(os.listdir(out_dir))
            control("--dump")
            [dump] = [name for name in set(os.listdir(out_dir)) - before if name.startswith("callgrind.")]
            per_message.append(total_instructions(os.path.join(out_dir, dump)) / batch)
            os.remove(os.path.join(out_dir, dump))
        return {"median": statistics.median(per_message), "counts": per_message}
    finally:
        process.stdin.close()
        process.wait(120)
        shutil.rmtree(out_dir, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--repo", default=REPO_DIR, help="the tree whose transitions package to run")
    parser.add_argument("--referrals", type=int, default=400)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32], help="batch sizes to count")
    parser.add_argument("--warmup", type=int, default=3, help="batches of each size before counting")
    parser.add_argument("--repeat", type=int, default=3, help="batches counted; the median is reported")
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve, args.referrals, args.start)
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise SystemExit("valgrind (Debian package valgrind) is needed for instruction counts")
    import adt as bench_adt

    sys.path.insert(0, os.path.abspath(args.repo))  # seeded by the measured tree's code and migrations

    name = "transitions_bench_adti_%s" % secrets.token_hex(4)
    admin_url, url = database_url(args.pg_server, "postgres"), database_url(args.pg_server, name)
    create_database(admin_url, name)
    try:
        bench_adt.seed(url, args.referrals)
        results = {"repo": os.path.abspath(args.repo), "referrals": args.referrals, "batches": {}}
        start = 0
        for batch in args.batches:
            counted = count_batches(url, args.referrals, args.repo, batch, args.warmup, args.repeat, start)
            start += batch * (args.warmup + args.repeat)
            results["batches"][batch] = counted
            log("batch of %d: %.2f M instructions a message" % (batch, counted["median"] / 1e6))
    finally:
        drop_database(admin_url, name)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, "adt-instructions-%s.json" % secrets.token_hex(3))
    with open(path, "w") as handle:
        json.dump(results, handle, indent=2)
    log("raw results in %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
