"""The sweep: claim due follow-up checks in batches, judge each from the facts recorded by then, store the outcomes.

The scheduler's sweep claims due rows in batches (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's
BEGIN IMMEDIATE serializes writers), judges each from the facts recorded by then, stores the outcome
and evidence, and writes `followup.missed` for a miss, all in the batch's one transaction: a
crash rolls the batch back whole, and a second scheduler never sees a claimed row.
"""

import json
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, insert, select, text

from transitions.core.db import db, dialect_name
from transitions.core.types import UTCDateTime
from transitions.followups.checks import evaluate
from transitions.followups.facts import load_discharge_facts, load_discharge_subjects, load_facts, load_subjects
from transitions.followups.models import FollowUp
from transitions.notify.events import event_values
from transitions.notify.models import Event


def evaluation_cutoff(now):
    """Checks whose window closed at or before this instant are due for evaluation."""
    return now - timedelta(hours=current_app.config["FOLLOWUP_GRACE_HOURS"])


@dataclass
class SweepCounts:
    evaluated: int = 0
    met: int = 0
    missed: int = 0
    not_applicable: int = 0
    batches: int = 0

    def add(self, outcome):
        self.evaluated += 1
        setattr(self, outcome, getattr(self, outcome) + 1)

    def __str__(self):
        return "evaluated %d checks (met %d, missed %d, not_applicable %d) in %d batches" % (
            self.evaluated,
            self.met,
            self.missed,
            self.not_applicable,
            self.batches,
        )


def claim_due(now, limit):
    """Lock up to `limit` due, unevaluated checks; rows another sweep holds are skipped, not waited on."""
    query = (
        select(
            FollowUp.id, FollowUp.referral_id, FollowUp.discharge_id, FollowUp.check, FollowUp.due_date, FollowUp.due_at
        )
        .where(FollowUp.outcome.is_(None), FollowUp.due_at <= evaluation_cutoff(now))
        .order_by(FollowUp.due_at, FollowUp.id)
        .limit(limit)
    )
    if dialect_name() == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return db.session.execute(query).all()


def sweep_batch(now, limit, counts):
    """Claim and evaluate one batch in the caller's transaction; returns how many rows it claimed.

    Rows, not ORM objects, and one statement each for the outcomes and the events: a sweep judges
    thousands of checks, and per-object flushes would cost more than the judging.
    """
    rows = claim_due(now, limit)
    if not rows:
        return 0
    # A check follows a referral or a discharge without referral: both judged by the same rules, keyed by id.
    referral_ids = {row.referral_id for row in rows if row.referral_id}
    discharge_ids = {row.discharge_id for row in rows if row.discharge_id}
    subjects = {**load_subjects(referral_ids), **load_discharge_subjects(discharge_ids)}
    facts = {**load_facts(referral_ids), **load_discharge_facts(discharge_ids)}
    active_days = current_app.config["FOLLOWUP_ACTIVE_DAYS"]
    judged, events = [], []
    for row in rows:
        subject_id = row.referral_id or row.discharge_id
        outcome, evidence = evaluate(
            row.check, subjects[subject_id], row.due_date, row.due_at, facts[subject_id], active_days
        )
        judged.append((row.id, outcome, evidence))
        counts.add(outcome)
        if outcome == "missed":
            events.append(missed_event(row, now))
    _store_outcomes(judged, now)
    if events:
        db.session.execute(insert(Event), events)
    counts.batches += 1
    return len(rows)


def missed_event(row, now):
    """The `followup.missed` event, as record_event would write it (the sweep inserts them in bulk). A discharge
    without referral's event has no referral: its data names the discharge (ids only, no PHI)."""
    data = {"followup_id": row.id, "referral_id": row.referral_id, "check": row.check}
    if row.discharge_id:
        data["discharge_id"] = row.discharge_id
    return event_values(
        "followup.missed",
        referral_id=row.referral_id,
        subject_type="followup",
        subject_id=row.id,
        data=data,
        created_at=now,
    )


def _store_outcomes(judged, now):
    """Write the batch's outcomes; a row someone else judged meanwhile would make the count short, and fail it."""
    if dialect_name() == "postgresql":
        statement = text(
            "UPDATE followups AS f SET outcome = u.outcome, evidence = u.evidence, evaluated_at = :now "
            "FROM unnest(CAST(:ids AS varchar[]), CAST(:outcomes AS varchar[]), CAST(:evidence AS jsonb[])) "
            "AS u(id, outcome, evidence) WHERE f.id = u.id AND f.outcome IS NULL"
        ).bindparams(bindparam("now", type_=UTCDateTime()))
        result = db.session.execute(
            statement,
            {
                "now": now,
                "ids": [j[0] for j in judged],
                "outcomes": [j[1] for j in judged],
                "evidence": [json.dumps(j[2]) for j in judged],
            },
        )
    else:
        table = FollowUp.__table__
        statement = (
            table.update()
            .where(table.c.id == bindparam("f_id"), table.c.outcome.is_(None))
            .values(outcome=bindparam("f_outcome"), evidence=bindparam("f_evidence"), evaluated_at=now)
        )
        result = db.session.execute(statement, [{"f_id": j[0], "f_outcome": j[1], "f_evidence": j[2]} for j in judged])
    if result.rowcount != len(judged):
        raise RuntimeError(
            "%d of %d claimed checks were judged by someone else; the batch is rolled back"
            % (len(judged) - result.rowcount, len(judged))
        )
