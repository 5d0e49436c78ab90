"""Group commit in the MLLP listener (transitions/adt/batch.py), over real MLLP connections to `flask adt listen`:
frames arriving together on many connections are stored in one commit and applied in one transaction, yet each
connection gets its own ACK, a bad message answers for itself only, a repeat in the same batch is applied once, and a
listener killed between a batch's store and its ACKs loses none of it and applies none of it twice.

The listener runs with a batch window (ADT_BATCH_WINDOW_MS), so frames sent at the same instant land in one batch."""

import signal
import threading

from hl7.client import MLLPClient
from sqlalchemy import func, select

from tests.slow.test_adt_kill import KILL_POINTS, start_doomed_listener
from tests.slow.test_adt_listener import (
    discharge_date,
    msa_of,
    raw_connection,
    read_frame,
    register_facility,
    start_listener,
    stop_listener,
)
from tests.support.followups import person, submit
from tests.support.hl7msgs import adt
from transitions.adt.models import AdtMessage
from transitions.core.db import db
from transitions.notify.models import Event

WINDOW_MS = 300


def send_together(address, frames):
    """Each frame on its own connection, all released at once; [ACK content, or b"" when the connection closed]."""
    barrier = threading.Barrier(len(frames))
    answers = [None] * len(frames)

    def send(index):
        with raw_connection(address) as connection:
            barrier.wait()
            connection.sendall(b"\x0b" + frames[index] + b"\x1c\r")
            answers[index] = read_frame(connection)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(frames))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def discharge(index, control_id, day="20261202"):
    return adt(control_id=control_id, given="Person%d" % index, family="Tester", discharged=day)


def test_many_connections_at_once_each_get_their_own_ack(app, api, world, db_url):
    register_facility(app, world)
    referrals = [submit(api, world, patient=person(index)) for index in range(12)]
    process, address, lines = start_listener(db_url, ADT_BATCH_WINDOW_MS=WINDOW_MS)
    try:
        answers = send_together(address, [discharge(index, "M%02d" % index) for index in range(12)])
        # Then each connection sends two more in turn, the listener batching whatever arrives together.
        follow_ups = [None] * 12

        def more(index):
            with MLLPClient(*address) as client:
                follow_ups[index] = [
                    msa_of(client.send_message(discharge(index, "M%02d-%d" % (index, n), "2026120%d" % (3 + n))))
                    for n in range(2)
                ]

        threads = [threading.Thread(target=more, args=(index,)) for index in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        stop_listener(process, lines)
    assert [msa_of(answer) for answer in answers] == [("AA", "M%02d" % index) for index in range(12)]
    assert follow_ups == [[("AA", "M%02d-0" % index), ("AA", "M%02d-1" % index)] for index in range(12)]
    for referral_id in referrals:
        assert discharge_date(api, world, referral_id) == "2026-12-04"
    with app.app_context():
        rows = db.session.scalars(select(AdtMessage)).all()
        assert len(rows) == 36 and {row.state for row in rows} == {"processed"}
        assert {row.attempts for row in rows} == {1}
        updates = select(func.count()).select_from(Event).where(Event.type == "referral.updated")
        assert db.session.scalar(updates) == 36


def test_a_bad_message_in_a_batch_answers_for_itself_only(app, api, world, db_url):
    register_facility(app, world)
    referrals = [submit(api, world, patient=person(index)) for index in range(3)]
    frames = [
        discharge(0, "GOOD0"),
        adt(control_id="BADDATE", given="Person1", family="Tester", discharged="2026-12-02"),  # AE: PV1-45
        discharge(1, "GOOD1"),
        adt(control_id="NOFAC", facility="NOWHERE", given="Person2", family="Tester"),  # AR: unknown facility
        b"this is no HL7 at all",  # AR, stored
        discharge(2, "GOOD2"),
        discharge(2, "GOOD2"),  # the same message twice in one batch: applied once, answered twice
        adt(control_id="A08", trigger="A08"),  # acknowledged, not acted on
    ]
    process, address, lines = start_listener(db_url, ADT_BATCH_WINDOW_MS=WINDOW_MS)
    try:
        answers = send_together(address, frames)
    finally:
        stop_listener(process, lines)
    codes = [msa_of(answer) for answer in answers]
    assert codes[0] == ("AA", "GOOD0") and codes[2] == ("AA", "GOOD1")
    assert codes[5] == codes[6] == ("AA", "GOOD2")
    assert codes[7] == ("AA", "A08")
    assert codes[1] == ("AE", "BADDATE") and codes[3] == ("AR", "NOFAC") and codes[4][0] == "AR"
    assert b"ERR|" in answers[1] and b"ERR|" in answers[3]
    for referral_id in referrals:
        assert discharge_date(api, world, referral_id) == "2026-12-02"
    with app.app_context():
        stored = {row.control_id: (row.state, row.attempts) for row in db.session.scalars(select(AdtMessage))}
        updates = select(func.count()).select_from(Event).where(Event.type == "referral.updated")
        assert db.session.scalar(updates) == 3
    assert stored == {
        "GOOD0": ("processed", 1),
        "GOOD1": ("processed", 1),
        "GOOD2": ("processed", 1),
        "BADDATE": ("error", 1),
        "NOFAC": ("rejected", 1),
        None: ("rejected", 0),
        "A08": ("ignored", 1),
    }


@KILL_POINTS
def test_a_batch_killed_before_its_acks_loses_nothing_and_the_retries_apply_once(
    app, api, world, db_url, monkeypatch, fault, state_after_kill
):
    register_facility(app, world)
    referrals = [submit(api, world, patient=person(index)) for index in range(4)]
    frames = [discharge(index, "K%d" % index) for index in range(4)]
    monkeypatch.setenv("TRANSITIONS_ADT_BATCH_WINDOW_MS", str(WINDOW_MS))
    doomed, address = start_doomed_listener(db_url, fault)
    try:
        answers = send_together(address, frames)
        assert doomed.wait(30) == -signal.SIGKILL
    finally:
        if doomed.poll() is None:
            doomed.kill()
        output = doomed.stdout.read()
        doomed.stdout.close()
    assert "Traceback" not in output, output
    assert answers == [b""] * 4, "a killed listener answered: %r" % answers
    with app.app_context():
        rows = db.session.scalars(select(AdtMessage)).all()
        assert sorted((row.control_id, row.state) for row in rows) == [("K%d" % i, state_after_kill) for i in range(4)]
    process, address, lines = start_listener(db_url, ADT_BATCH_WINDOW_MS=WINDOW_MS)
    try:
        answers = send_together(address, frames)
    finally:
        stop_listener(process, lines)
    assert [msa_of(answer) for answer in answers] == [("AA", "K%d" % index) for index in range(4)]
    for referral_id in referrals:
        assert discharge_date(api, world, referral_id) == "2026-12-02"
    with app.app_context():
        rows = db.session.scalars(select(AdtMessage)).all()
        assert sorted((row.control_id, row.state, row.attempts) for row in rows) == [
            ("K%d" % index, "processed", 1) for index in range(4)
        ]
        updates = select(func.count()).select_from(Event).where(Event.type == "referral.updated")
        assert db.session.scalar(updates) == 4
