"""A PostgreSQL server of the test's own (initdb in a temporary directory, a free port), to stop and start at will."""

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile

# Debian's layout; TRANSITIONS_PG_BIN points elsewhere.
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
# initdb and postgres refuse to run as root: as root, they run as this OS user.
PG_OS_USER = "postgres"


def pg_bin():
    configured = os.environ.get("TRANSITIONS_PG_BIN")
    if configured:
        return configured
    found = [path for path in glob.glob(PG_BIN_GLOB) if os.path.exists(os.path.join(path, "initdb"))]
    # The newest major version: /usr/lib/postgresql/15/bin before /usr/lib/postgresql/9/bin.
    return max(found, key=lambda path: int("0" + re.sub(r"\D", "", path.split("/")[-2])), default=None)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresInstance:
    """initdb into a fresh temporary directory; start() and stop() the server on its own port, remove() it all.

    Tuned for tests, not durability: no fsync. stop() is pg_ctl's fast shutdown, which ends every session as a
    restart does, and then refuses connections until start().
    """

    def __init__(self):
        self.bin = pg_bin()
        if self.bin is None:
            raise RuntimeError("no PostgreSQL binaries under %s (set TRANSITIONS_PG_BIN)" % PG_BIN_GLOB)
        self.run_as = []
        owner = None
        if os.geteuid() == 0:
            owner = pwd.getpwnam(PG_OS_USER)
            self.run_as = ["runuser", "-u", PG_OS_USER, "--"]
        self.root = tempfile.mkdtemp(prefix="transitions-pg-")
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "server.log")
        self.port = free_port()
        self.running = False
        self._pg("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")

    def _pg(self, program, *args, timeout=60):
        command = [*self.run_as, os.path.join(self.bin, program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s" % (program, result.returncode, result.stdout, result.stderr))
        return result

    def url(self, database="postgres"):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, database)

    def start(self):
        options = "-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c full_page_writes=off" % (
            self.port,
            self.root,
        )
        self._pg("pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60", "start")
        self.running = True

    def stop(self):
        self._pg("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")
        self.running = False

    def create_database(self, name):
        self._pg("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def remove(self):
        try:
            if self.running:
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
