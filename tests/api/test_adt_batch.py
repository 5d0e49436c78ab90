"""The listener's group commit in process (transitions/adt/batch.py): what a failure inside a batch does to the other
messages of it. A message failing unexpectedly is rolled back to its savepoint and left unanswered (its sender
retries); a batch whose transaction fails is run again one message at a time, applying nothing twice."""

from sqlalchemy import func, select

from tests.support.followups import person, submit
from tests.support.hl7msgs import adt, register
from transitions.adt import batch, service
from transitions.adt.models import AdtMessage
from transitions.core.clock import utcnow
from transitions.core.db import db
from transitions.notify.models import Event


def frames(count):
    return [
        (adt(control_id="B%d" % index, given="Person%d" % index, family="Tester", discharged="20261202"), utcnow())
        for index in range(count)
    ]


def receive(app, frames):
    with app.app_context():
        items = batch.store_batch(frames)
        batch.apply_batch(items)
        answers = [item.ack for item in items]
        db.session.remove()
    return answers


def msa(ack):
    return next(line for line in ack.split("\r") if line.startswith("MSA")).split("|")[1:3]


def state(app):
    with app.app_context():
        stored = {row.control_id: (row.state, row.attempts) for row in db.session.scalars(select(AdtMessage))}
        updates = db.session.scalar(select(func.count()).select_from(Event).where(Event.type == "referral.updated"))
    return stored, updates


def test_an_unexpected_failure_leaves_that_message_received_and_unanswered_only(app, api, world, monkeypatch):
    register(api, world)
    for index in range(3):
        submit(api, world, patient=person(index))
    apply = service._apply

    def failing(message, header, *args):
        if header.control_id == "B1":
            db.session.execute(select(AdtMessage.id).limit(1))
            raise RuntimeError("a bug")
        return apply(message, header, *args)

    monkeypatch.setattr(service, "_apply", failing)
    answers = receive(app, frames(3))
    assert answers[1] is None
    assert [msa(answers[0]), msa(answers[2])] == [["AA", "B0"], ["AA", "B2"]]
    stored, updates = state(app)
    assert stored == {"B0": ("processed", 1), "B1": ("received", 0), "B2": ("processed", 1)}
    assert updates == 2
    # The retry applies it.
    monkeypatch.setattr(service, "_apply", apply)
    assert msa(receive(app, frames(2)[1:])[0]) == ["AA", "B1"]
    assert state(app) == ({"B0": ("processed", 1), "B1": ("processed", 1), "B2": ("processed", 1)}, 3)


def test_a_failed_batch_transaction_runs_each_message_alone_once(app, api, world, monkeypatch):
    register(api, world)
    for index in range(3):
        submit(api, world, patient=person(index))
    apply_all = batch._apply_all
    applied_then_failed = []

    def then_fail(items, savepoints=True):
        apply_all(items, savepoints=savepoints)
        # The batch was applied in this transaction (every row processed, not committed) before it failed.
        applied_then_failed.append([db.session.get(AdtMessage, item.row_id).state for item in items])
        raise RuntimeError("the commit failed")

    monkeypatch.setattr(batch, "_apply_all", then_fail)
    answers = receive(app, frames(3))
    assert applied_then_failed == [["processed"] * 3]
    assert [msa(answer) for answer in answers] == [["AA", "B0"], ["AA", "B1"], ["AA", "B2"]]
    stored, updates = state(app)
    assert stored == {"B%d" % index: ("processed", 1) for index in range(3)}
    assert updates == 3


def test_a_batch_that_cannot_be_stored_stores_each_message_alone(app, api, world, monkeypatch):
    register(api, world)
    for index in range(2):
        submit(api, world, patient=person(index))

    def broken(items):
        raise RuntimeError("the insert failed")

    monkeypatch.setattr(batch, "_store", broken)
    answers = receive(app, frames(2) + [(b"no HL7", utcnow())])
    assert [msa(answer) for answer in answers[:2]] == [["AA", "B0"], ["AA", "B1"]]
    assert msa(answers[2])[0] == "AR"
    stored, updates = state(app)
    assert stored == {"B0": ("processed", 1), "B1": ("processed", 1), None: ("rejected", 0)}
    assert updates == 2


def test_a_header_the_parser_cannot_read_is_answered_ar_and_leaves_the_batch_alone(app, api, world):
    register(api, world)
    submit(api, world, patient=person(0))
    malformed = b"MSH|^^\\&|EPIC|GENHOSP|T|P|20261202||ADT^A03|X1|P|2.5\rPID|1\r"
    good, bad = frames(1)[0], (malformed, utcnow())
    answers = receive(app, [good, bad])
    assert msa(answers[0]) == ["AA", "B0"]
    assert msa(answers[1])[0] == "AR"
    stored, updates = state(app)
    assert stored == {"B0": ("processed", 1), None: ("rejected", 0)}
    assert updates == 1
