"""A bearer token that is rotated or whose user is deactivated stops working on every gunicorn worker: at once in the
worker that made the change, within TOKEN_CACHE_SECONDS in the others (each process caches resolved tokens)."""

import http.client
import json
import os
import subprocess
import sys
import time

import pytest

from tests.slow.test_scheduler import ROOT, flask_env
from tests.support.postgres_instance import free_port

CACHE_SECONDS = 2
WORKERS = 2
# Time for a request to reach a worker and come back on a loaded machine, on top of the bound.
MARGIN_S = 1.5


@pytest.fixture
def server(db_url, world, tmp_path):
    """gunicorn with the repo's settings and two worker processes, each caching tokens CACHE_SECONDS."""
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    args = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:%d" % port]
    # Long keep-alive: each test connection stays with the worker that accepted it.
    args += ["--workers", str(WORKERS), "--threads", "2", "--keep-alive", "60", "--no-control-socket", "wsgi:app"]
    env = flask_env(db_url, TOKEN_CACHE_SECONDS=CACHE_SECONDS)
    with open(log_path, "w") as log:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if len(worker_pids(process.pid)) == WORKERS and call(Pinned(port), "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not come up: %s" % log_path.read_text()
            time.sleep(0.2)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Pinned(http.client.HTTPConnection):
    """A keep-alive connection, and so one worker process for all its requests."""

    def __init__(self, port):
        super().__init__("127.0.0.1", port, timeout=10)
        self.port_number = port


def call(connection, method, path, token=None):
    headers = {"Authorization": "Bearer %s" % token} if token else {}
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    return response.status, (json.loads(body) if body else None)


def worker_pids(master_pid):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == master_pid:
                        pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return pids


def _server_socket_inode(server_port, client_port):
    """The inode of the server side of the loopback connection from client_port, from /proc/net/tcp."""
    wanted = ("0100007F:%04X" % server_port, "0100007F:%04X" % client_port)
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if (fields[1], fields[2]) == wanted:
                return fields[9]
    return None


def owner(connection, master_pid):
    """The worker process that accepted this connection."""
    inode = _server_socket_inode(connection.port_number, connection.sock.getsockname()[1])
    for pid in worker_pids(master_pid):
        try:
            descriptors = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in descriptors:
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "socket:[%s]" % inode:
                    return pid
            except OSError:
                continue
    return None


def one_connection_per_worker(port, master_pid, token):
    """Keep-alive connections until every worker holds one, each of whose first requests cached `token`."""
    pinned, spare = {}, []
    for _ in range(60):
        connection = Pinned(port)
        assert call(connection, "GET", "/api/v1/users/me", token)[0] == 200
        pid = owner(connection, master_pid)
        if pid is not None and pid not in pinned:
            pinned[pid] = connection
        else:
            spare.append(connection)
        if len(pinned) == WORKERS:
            break
    for connection in spare:
        connection.close()
    assert len(pinned) == WORKERS, "could not reach every worker: %s" % list(pinned)
    return pinned


def test_a_revoked_token_stops_working_on_every_worker_within_the_bound(server, world):
    """A rotated token (the planner's) and a deactivated user's token (the case manager's), one after the other on
    the same two workers (gunicorn starts once: it is most of this test's time)."""
    port, master_pid = server
    for victim_key, revoke in (("planner", "token"), ("manager", "deactivate")):
        revoke_and_watch(port, master_pid, world, victim_key, revoke)


def revoke_and_watch(port, master_pid, world, victim_key, revoke):
    victim, admin = world.tokens[victim_key], world.tokens["admin"]
    pinned = one_connection_per_worker(port, master_pid, victim)
    changer = next(iter(pinned.values()))
    # Every worker has served the token, so every worker holds it in its cache.
    for connection in pinned.values():
        assert call(connection, "GET", "/api/v1/users/me", victim)[0] == 200

    status, body = call(changer, "POST", "/api/v1/users/%s/%s" % (world.users[victim_key], revoke), admin)
    revoked_at = time.monotonic()
    assert status == 200, body
    # The worker that made the change forgot the token at once.
    assert call(changer, "GET", "/api/v1/users/me", victim)[0] == 401

    for pid, connection in pinned.items():
        while True:
            status, _ = call(connection, "GET", "/api/v1/users/me", victim)
            elapsed = time.monotonic() - revoked_at
            if status == 401:
                break
            assert status == 200
            assert elapsed <= CACHE_SECONDS + MARGIN_S, "worker %d still took the revoked token after %.1fs" % (
                pid,
                elapsed,
            )
            time.sleep(0.1)

    if revoke == "token":
        # A new token is never held back by a cache: it works on every worker at once.
        for connection in pinned.values():
            assert call(connection, "GET", "/api/v1/users/me", body["token"])[0] == 200
    for connection in pinned.values():
        connection.close()
