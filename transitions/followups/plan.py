"""Each referral's follow-up plan: the configured plan (the registry's checks by default), written, moved and closed.

A check is a row in `followups`, due at the end of its due day in the patient's time zone.
FOLLOWUP_PLAN None means every registered check on its own due day, for the needs its rule
concerns; a mapping of check name -> {due_days, needs?} (or a number of days) replaces that
plan: checks left out are not planned, and `needs` left out means every need.
"""

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm.util import identity_key

from transitions.core.clock import end_of_day, utcnow
from transitions.core.db import db, dialect_name
from transitions.core.types import UTCDateTime, new_id
from transitions.directory.models import SERVICES
from transitions.discharges.models import DISCHARGE_CHECKS
from transitions.followups.checks import CHECKS, REGISTRY, PlanError
from transitions.followups.models import FollowUp


@dataclass(frozen=True)
class PlannedCheck:
    check: str
    due_days: int
    needs: tuple | None

    def applies_to(self, need):
        return self.needs is None or need in self.needs


def default_plan():
    """The plan when FOLLOWUP_PLAN is None: every registered check, on its default day, for its needs."""
    return {
        entry.name: {"due_days": entry.due_days, **({"needs": list(entry.needs)} if entry.needs else {})}
        for entry in REGISTRY.values()
    }


def plan_config(config=None):
    """The configured plan, validated, in due order."""
    configured = (config or current_app.config).get("FOLLOWUP_PLAN")
    return parse_plan(default_plan() if configured is None else configured)


def parse_plan(plan):
    """A FOLLOWUP_PLAN mapping, validated, as PlannedChecks in due order; PlanError says what is wrong."""
    return _parse_frozen(_freeze(plan))


def _freeze(value):
    # Hashable, so the parsed plan is cached: the sweep asks for it every batch.
    if isinstance(value, dict):
        return tuple(sorted(((str(key), _freeze(item)) for key, item in value.items()), key=lambda kv: kv[0]))
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


@lru_cache(maxsize=16)
def _parse_frozen(frozen):
    if not isinstance(frozen, tuple) or not frozen:
        raise PlanError("FOLLOWUP_PLAN must be a non-empty mapping of check name to {due_days, needs?}.")
    planned = []
    for name, spec in frozen:
        if name not in CHECKS:
            raise PlanError("FOLLOWUP_PLAN: unknown check %r (known: %s)." % (name, ", ".join(CHECKS)))
        try:
            spec = dict(spec) if isinstance(spec, tuple) else {"due_days": spec}
        except (TypeError, ValueError):
            raise PlanError("FOLLOWUP_PLAN: %s must be {due_days, needs?} or a number of days." % name) from None
        due_days, needs = spec.get("due_days"), spec.get("needs")
        if isinstance(due_days, bool) or not isinstance(due_days, int) or not 0 <= due_days <= 730:
            raise PlanError("FOLLOWUP_PLAN: %s needs due_days, a whole number of days from 0 to 730." % name)
        if needs is not None and (not needs or any(need not in SERVICES for need in needs)):
            raise PlanError("FOLLOWUP_PLAN: %s has needs outside %s." % (name, ", ".join(SERVICES)))
        unknown = set(spec) - {"due_days", "needs"}
        if unknown:
            raise PlanError("FOLLOWUP_PLAN: %s has unknown keys %s." % (name, ", ".join(sorted(unknown))))
        planned.append(PlannedCheck(name, due_days, tuple(needs) if needs is not None else None))
    return tuple(sorted(planned, key=lambda p: (p.due_days, CHECKS.index(p.check))))


def target_plan(referral):
    """check -> due date for this referral under the configured plan."""
    return {
        p.check: referral.discharge_date + timedelta(days=p.due_days)
        for p in plan_config()
        if p.applies_to(referral.need)
    }


# ---------------------------------------------------------------- writing and moving plans


def plan_referral(referral):
    """Write the plan of a newly submitted referral, in the submitting transaction."""
    now = utcnow()
    rows = [
        FollowUp(
            referral_id=referral.id,
            check=check,
            due_date=due_date,
            due_at=end_of_day(due_date, referral.timezone),
            created_at=now,
        )
        for check, due_date in target_plan(referral).items()
    ]
    db.session.add_all(rows)
    return rows


# write_plans' statement on PostgreSQL, built once (its cache key with it: a referral's create writes its plan here).
_UNNEST_INSERT = text(
    'INSERT INTO followups (id, referral_id, "check", due_date, due_at, created_at) '
    'SELECT gen_random_uuid()::text, u.referral_id, u."check", u.due_date, u.due_at, :now FROM unnest('
    "string_to_array(:referrals, ','), string_to_array(:checks, ','), "
    "CAST(string_to_array(:dates, ',') AS date[]), CAST(string_to_array(:dues, ',') AS timestamp[])) "
    'AS u(referral_id, "check", due_date, due_at)'
).bindparams(bindparam("now", type_=UTCDateTime()))


def write_plans(referrals):
    """Write the plans of many referrals at once (imports, backfills, the benchmark), by plan_referral's rules.

    One INSERT per call. On PostgreSQL the columns travel as four delimited strings unnested by the
    server, and the ids come from gen_random_uuid(): per-row Python and parameter adaptation would
    cost more than the insert itself. The referrals need only id, need, discharge_date and
    timezone. Does not commit.
    """
    plan, now = plan_config(), utcnow()
    planned = [
        (referral, p.check, referral.discharge_date + timedelta(days=p.due_days))
        for referral in referrals
        for p in plan
        if p.applies_to(referral.need)
    ]
    if not planned:
        return 0
    if dialect_name() != "postgresql":
        db.session.execute(
            insert(FollowUp),
            [
                {
                    "id": new_id(),
                    "referral_id": referral.id,
                    "check": check,
                    "due_date": due_date,
                    "due_at": end_of_day(due_date, referral.timezone),
                    "created_at": now,
                }
                for referral, check, due_date in planned
            ],
        )
        return len(planned)
    db.session.execute(
        _UNNEST_INSERT,
        {
            "referrals": ",".join(referral.id for referral, _, _ in planned),
            "checks": ",".join(check for _, check, _ in planned),
            "dates": ",".join(due_date.isoformat() for _, _, due_date in planned),
            # UTCDateTime columns hold naive UTC.
            "dues": ",".join(
                end_of_day(due_date, referral.timezone).replace(tzinfo=None).isoformat(" ")
                for referral, _, due_date in planned
            ),
            "now": now,
        },
    )
    return len(planned)


# The plan as replan_referral reads it, locked: the few columns it decides by, as rows, not objects; unit-of-work
# bookkeeping for three or four checks cost more than their statements (every discharge date an ADT feed sends).
_PLAN_OF_REFERRAL = (
    select(FollowUp.id, FollowUp.check, FollowUp.due_date, FollowUp.due_at, FollowUp.outcome, FollowUp.evidence)
    .where(FollowUp.referral_id == bindparam("referral_id"))
    .with_for_update()
)
# One check moved or closed: every changed column named, so one executemany carries both kinds of change.
_CHANGE_CHECK = update(FollowUp.__table__).where(FollowUp.__table__.c.id == bindparam("row_id"))


def replan_referral(referral):
    """Move the plan after an edit (discharge date, time zone or need); a moved check is judged afresh."""
    if referral.status == "cancelled":
        return 0
    target = target_plan(referral)
    # Locked so a sweep evaluating one of these rows right now finishes first.
    existing = {row.check: row for row in db.session.execute(_PLAN_OF_REFERRAL, {"referral_id": referral.id})}
    now, changes = utcnow(), []
    for check, row in existing.items():
        if check not in target and row.outcome is None:
            # Kept, not deleted: outreach notes may hang off it.
            changes.append(
                _check_change(row, row.due_date, row.due_at, "not_applicable", now, {"reason": "not_in_plan"})
            )
    for check, due_date in target.items():
        due_at = end_of_day(due_date, referral.timezone)
        row = existing.get(check)
        if row is None:
            db.session.add(
                FollowUp(referral_id=referral.id, check=check, due_date=due_date, due_at=due_at, created_at=now)
            )
            changes.append(None)
        elif (
            row.due_date != due_date
            or row.due_at != due_at
            or (row.outcome == "not_applicable" and (row.evidence or {}).get("reason") == "not_in_plan")
        ):
            changes.append(_check_change(row, due_date, due_at, None, None, None))
    moved = [change for change in changes if change is not None]
    if moved:
        db.session.execute(_CHANGE_CHECK, moved)
        # A check of this plan the session holds as an object would now show the old row: it is read afresh.
        for change in moved:
            loaded = db.session.identity_map.get(identity_key(FollowUp, change["row_id"]))
            if loaded is not None:
                db.session.expire(loaded)
    return len(changes)


def _check_change(row, due_date, due_at, outcome, evaluated_at, evidence):
    return {
        "row_id": row.id,
        "due_date": due_date,
        "due_at": due_at,
        "outcome": outcome,
        "evaluated_at": evaluated_at,
        "evidence": evidence,
    }


def close_pending(referral, reason="referral_cancelled"):
    """A cancelled referral's pending checks become not_applicable (the evaluated ones keep their outcome)."""
    result = db.session.execute(
        update(FollowUp)
        .where(FollowUp.referral_id == referral.id, FollowUp.outcome.is_(None))
        .values(outcome="not_applicable", evaluated_at=utcnow(), evidence={"reason": reason})
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


# ---------------------------------------------------------------- discharges without referral


def discharge_plan(discharge):
    """check -> due date of a discharge without referral: the plan's followup_7 and followup_30 only (what HEDIS FUH
    measures; the others need a referral's need or placement)."""
    return {
        p.check: discharge.discharge_date + timedelta(days=p.due_days)
        for p in plan_config()
        if p.check in DISCHARGE_CHECKS
    }


def plan_discharge(discharge):
    """Write the checks of a newly recorded discharge without referral, in the recording transaction."""
    now = utcnow()
    rows = [
        FollowUp(
            discharge_id=discharge.id,
            check=check,
            due_date=due_date,
            due_at=end_of_day(due_date, discharge.timezone),
            created_at=now,
        )
        for check, due_date in discharge_plan(discharge).items()
    ]
    db.session.add_all(rows)
    return rows


def replan_discharge(discharge):
    """A discharge's date was corrected: each check's window moves with it, and a check already judged (but not
    closed by adoption) is reopened for the next sweep to judge from the facts again, as a referral's moved check is.
    Returns how many were reopened."""
    plan = discharge_plan(discharge)
    reopened = 0
    for row in db.session.scalars(
        select(FollowUp).where(FollowUp.discharge_id == discharge.id).order_by(FollowUp.id).with_for_update()
    ):
        if row.check in plan:
            row.due_date = plan[row.check]
            row.due_at = end_of_day(row.due_date, discharge.timezone)
        if row.outcome is not None and row.outcome != "not_applicable":
            row.outcome = row.evaluated_at = row.evidence = None
            reopened += 1
    return reopened


def close_discharge_pending(discharge, evidence):
    """A discharge's pending checks become not_applicable (adopted by a referral, whose checks take over)."""
    result = db.session.execute(
        update(FollowUp)
        .where(FollowUp.discharge_id == discharge.id, FollowUp.outcome.is_(None))
        .values(outcome="not_applicable", evaluated_at=utcnow(), evidence=evidence)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def reopen_discharge_checks(discharge, visit_date):
    """A visit learned late (claims lag weeks) reopens a missed check whose window holds it: the next sweep judges it
    again from the facts, now met. Returns how many checks were reopened."""
    day = (visit_date - discharge.discharge_date).days
    reopened = 0
    for row in db.session.scalars(
        select(FollowUp).where(FollowUp.discharge_id == discharge.id, FollowUp.outcome == "missed").with_for_update()
    ):
        reason = (row.evidence or {}).get("reason")
        if reason == "no_attended_session" and 1 <= day <= (row.due_date - discharge.discharge_date).days:
            row.outcome = row.evaluated_at = row.evidence = None
            reopened += 1
    return reopened
