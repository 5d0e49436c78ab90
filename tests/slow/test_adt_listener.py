"""The MLLP listener as its own process (`flask adt listen`), driven by real MLLP clients over TCP: ACKs, repeats,
bad frames and silent or half-framed connections that never take it down; and `flask adt reprocess`."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import hl7
import pytest
from hl7.client import MLLPClient
from sqlalchemy import func, select, update

from tests.support.followups import person, submit
from tests.support.hl7msgs import adt
from transitions.adt.models import AdtMessage
from transitions.core.db import db
from transitions.identity.models import Organization
from transitions.notify.models import Event

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IDLE_TIMEOUT = 1.0


def flask_env(database_url):
    return dict(
        os.environ, TRANSITIONS_DATABASE_URL=database_url, TRANSITIONS_SECRET_KEY="adt-test", PYTHONUNBUFFERED="1"
    )


def start_listener(db_url, **settings):
    """`flask adt listen` on a free port: (process, (host, port), the lines it printed)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "transitions", "adt", "listen", "--port", "0"]
        + ["--idle-timeout", str(IDLE_TIMEOUT)],
        cwd=ROOT,
        env=dict(flask_env(db_url), **{"TRANSITIONS_%s" % key: str(value) for key, value in settings.items()}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("ADT MLLP listener on "):
            host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
            return process, (host, int(port)), lines
    process.kill()
    raise AssertionError("the listener did not start:\n" + "".join(lines))


def stop_listener(process, lines):
    assert process.poll() is None, "the listener died:\n" + "".join(lines) + process.stdout.read()
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, "".join(lines) + rest
    assert "Traceback" not in rest, rest


@pytest.fixture
def listener(db_url):
    """One listener for the test; stopped with SIGTERM at the end, which it must survive to (exit status 0)."""
    process, address, lines = start_listener(db_url)
    yield address
    stop_listener(process, lines)


def register_facility(app, world, facility_id="GENHOSP"):
    """Register facility_id (MSH-4) to the world's hospital."""
    with app.app_context():
        db.session.execute(
            update(Organization).where(Organization.id == world.orgs["hospital"]).values(hl7_facility_ids=[facility_id])
        )
        db.session.commit()


@pytest.fixture
def registered(app, api, world):
    register_facility(app, world)
    return submit(api, world)


def msa_of(ack_bytes):
    ack = hl7.parse(ack_bytes.decode("utf-8"))
    return str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2])


def raw_connection(address):
    connection = socket.create_connection(address, timeout=10)
    return connection


def read_frame(connection):
    """One MLLP frame's content; b"" when the listener closed the connection."""
    data = b""
    while not data.endswith(b"\x1c\r"):
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    assert data.startswith(b"\x0b")
    return data[1:-2]


def discharge_date(api, world, referral_id):
    return api.get("/api/v1/referrals/%s" % referral_id, token=world.tokens["planner"]).json["discharge_date"]


def test_a03_over_mllp_is_acknowledged_and_applied_once(app, api, world, registered, listener):
    with MLLPClient(*listener) as client:
        first = client.send_message(adt(discharged="20261202").decode())
        again = client.send_message(adt(discharged="20261201").decode())
    assert msa_of(first) == ("AA", "MSG0001") and msa_of(again) == ("AA", "MSG0001")
    assert discharge_date(api, world, registered) == "2026-12-02"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AdtMessage)) == 1
        updates = select(func.count()).select_from(Event).where(Event.type == "referral.updated")
        assert db.session.scalar(updates) == 1
        row = db.session.scalar(select(AdtMessage))
        assert (row.channel, row.state) == ("mllp", "processed")


def test_bad_frames_and_connections_never_take_the_listener_down(app, api, world, registered, listener):
    # Bytes outside a frame, then a frame: the stray bytes are skipped, the frame answered.
    with raw_connection(listener) as connection:
        connection.sendall(b"garbage\r\n" + b"\x0b" + adt(trigger="A08", control_id="C1") + b"\x1c\r")
        assert msa_of(read_frame(connection)) == ("AA", "C1")
        # Not HL7 in a frame: AR, and the connection stays usable.
        connection.sendall(b"\x0bhello there\x1c\r")
        assert msa_of(read_frame(connection))[0] == "AR"
        # Mixed line endings and a Unicode name in 2.3 and 2.8.
        for n, version in enumerate(("2.3", "2.8")):
            message = adt(
                trigger="A08", control_id="U%d" % n, version=version, family="N\u00fa\u00f1ez", separator="\n"
            )
            connection.sendall(b"\x0b" + message + b"\x1c\r")
            assert msa_of(read_frame(connection)) == ("AA", "U%d" % n)
    # A frame over 1 MB: refused, the connection closed.
    with raw_connection(listener) as connection:
        try:
            connection.sendall(b"\x0b" + adt(control_id="BIG") + b"Z" * (1024 * 1024 + 10) + b"\x1c\r")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_frame(connection)
        assert answer and msa_of(answer)[0] == "AR"
        assert read_frame(connection) == b""
    # A connection that sends nothing, and one that sends half a frame and waits: both closed after the timeout.
    for opening in (b"", b"\x0b" + adt()[:40]):
        with raw_connection(listener) as connection:
            connection.sendall(opening)
            started = time.monotonic()
            assert connection.recv(100) == b""
            assert time.monotonic() - started < IDLE_TIMEOUT + 10
    # A truncated frame, the peer gone: nothing stored from it.
    with raw_connection(listener) as connection:
        connection.sendall(b"\x0b" + adt(control_id="TRUNC")[:60])
    # And the listener still answers.
    with MLLPClient(*listener) as client:
        assert msa_of(client.send_message(adt(discharged="20261202").decode())) == ("AA", "MSG0001")
    assert discharge_date(api, world, registered) == "2026-12-02"
    with app.app_context():
        stored = {row.control_id: row.state for row in db.session.scalars(select(AdtMessage))}
    assert stored == {"C1": "ignored", None: "rejected", "U0": "ignored", "U1": "ignored", "MSG0001": "processed"}


def test_reprocess_applies_a_message_refused_before_its_facility_was_registered(app, api, world, db_url):
    referral_id = submit(api, world)
    response = api.client.post(
        "/api/v1/adt",
        data=adt(discharged="20261202"),
        headers={"Authorization": "Bearer %s" % world.tokens["admin"], "Content-Type": "application/hl7-v2"},
    )
    assert response.status_code == 422
    with app.app_context():
        db.session.execute(
            update(Organization).where(Organization.id == world.orgs["hospital"]).values(hl7_facility_ids=["GENHOSP"])
        )
        db.session.commit()
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "transitions", "adt", "reprocess", "--since", "2026-01-01T00:00:00Z"],
        cwd=ROOT,
        env=flask_env(db_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "processed: 1"
    assert discharge_date(api, world, referral_id) == "2026-12-02"
    again = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "transitions", "adt", "reprocess"],
        cwd=ROOT,
        env=flask_env(db_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.stdout.strip() == "nothing to reprocess"


def test_the_same_message_to_two_listeners_is_applied_once(app, api, world, registered, db_url):
    listeners = [start_listener(db_url) for _ in range(2)]
    try:
        barrier = threading.Barrier(2)
        answers = [None, None]

        def send(index):
            with MLLPClient(*listeners[index][1]) as client:
                barrier.wait()
                answers[index] = client.send_message(adt(discharged="20261202").decode())

        threads = [threading.Thread(target=send, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert [msa_of(answer) for answer in answers] == [("AA", "MSG0001")] * 2
    finally:
        for process, _, lines in listeners:
            stop_listener(process, lines)
    assert discharge_date(api, world, registered) == "2026-12-02"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AdtMessage)) == 1
        updates = select(func.count()).select_from(Event).where(Event.type == "referral.updated")
        assert db.session.scalar(updates) == 1


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError):
                continue
    return found


def accepted_connections(pids, port):
    """pid -> how many established TCP connections on the listening port it holds (from /proc)."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    established.add(fields[9])
    held = {}
    for pid in pids:
        inodes = set()
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        held[pid] = len(inodes & established)
    return held


def test_connections_are_spread_over_the_listener_processes(app, api, world, db_url):
    register_facility(app, world)
    process, address, lines = start_listener(db_url, ADT_LISTENER_PROCESSES=2)
    clients = []
    try:
        # A burst of sixteen senders, all connected before any sends: each process has its own socket on the port
        # (SO_REUSEPORT), so the kernel spreads them; sharing one socket, one process accepted the whole burst.
        clients = [socket.create_connection(address) for _ in range(16)]
        time.sleep(0.5)
        held = accepted_connections([process.pid, *children_of(process.pid)], address[1])
        assert sum(held.values()) == 16 and min(held.values()) >= 1, held
    finally:
        for client in clients:
            client.close()
        stop_listener(process, lines)


def test_several_listener_processes_share_one_port_and_stop_together(app, api, world, db_url):
    register_facility(app, world)
    referrals = [submit(api, world, patient=person(index)) for index in range(4)]
    process, address, lines = start_listener(db_url, ADT_LISTENER_PROCESSES=3)
    workers = children_of(process.pid)
    try:
        assert "ADT MLLP listener: 3 processes\n" in lines
        assert len(workers) == 2
        answers = [None] * len(referrals)

        def send(index):
            with MLLPClient(*address) as client:
                message = adt(
                    control_id="P%d" % index, given="Person%d" % index, family="Tester", discharged="20261202"
                )
                answers[index] = client.send_message(message.decode())

        threads = [threading.Thread(target=send, args=(index,)) for index in range(len(referrals))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert [msa_of(answer) for answer in answers] == [("AA", "P%d" % index) for index in range(len(referrals))]
    finally:
        stop_listener(process, lines)
    # SIGTERM to the first process stopped the others too: none is left behind.
    assert not [pid for pid in workers if os.path.exists("/proc/%d" % pid)]
    for referral_id in referrals:
        assert discharge_date(api, world, referral_id) == "2026-12-02"
