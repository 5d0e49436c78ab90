"""The follow-up checks, one registry entry each: its name, default due day, needs, label, rate, and its rule.

A rule is a pure function of one referral's recorded facts and one check window: it returns
(outcome, evidence), so the sweep, the metrics and the tests judge alike. Adding a check is one
decorated function here (and its test): the plan's default, the API's check names, the pages'
labels and, with `rate=`, a metric on the dashboards all come from this registry.

Day 0 is the discharge day; like HEDIS FUH, it never counts as follow-up. The window of a check
runs from day 1 to its due date; facts dated after the window are ignored, and an offer counts
only if it was accepted before the window closed.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta

from transitions.offers.queries import TRANSFER_DAYS

SUD_NEEDS = ("substance_use", "co_occurring")
# HEDIS IET: engagement needs initiation within 14 days, whatever the plan's day for initiation_14.
INITIATION_DAYS = 14


class PlanError(ValueError):
    """FOLLOWUP_PLAN (or a stored check) names something this code has no rule for, or is malformed."""


@dataclass(frozen=True)
class Check:
    """One follow-up check: when it falls by default, whom its rule concerns, how pages call it, what it measures."""

    name: str
    due_days: int
    label: str
    # The needs the rule concerns (None = every need): other referrals' checks are not_applicable, and the
    # default plan does not write them.
    needs: tuple | None
    evaluator: Callable
    # The dashboards' rate this check's rule defines (over a fixed window of due_days), and its tile label.
    rate: str | None = None
    rate_label: str | None = None

    def applies_to(self, need):
        return self.needs is None or need in self.needs


@dataclass(frozen=True)
class RateMeasure:
    """A dashboard rate: the share of a cohort whose `check` was met over a fixed window of `days`."""

    name: str
    check: str
    days: int
    needs: tuple | None
    label: str

    def applies_to(self, need):
        return self.needs is None or need in self.needs


REGISTRY = {}


def check(name, due_days, label, needs=None, rate=None, rate_label=None):
    """Register the decorated rule as the check `name`; the registry's order is the checks' order everywhere."""

    def register(evaluator):
        if name in REGISTRY:
            raise ValueError("check %r is registered twice" % name)
        REGISTRY[name] = Check(
            name,
            due_days,
            label,
            tuple(needs) if needs is not None else None,
            evaluator,
            rate,
            (rate_label or label) if rate else None,
        )
        return evaluator

    return register


def label(name):
    """How pages call a check (its name when no check has it any more)."""
    entry = REGISTRY.get(name)
    return entry.label if entry is not None else name


@dataclass(frozen=True)
class Window:
    """One check's window for one referral, with the facts recorded about the referral."""

    subject: object
    facts: object
    due_date: object
    due_at: object
    active_days: int

    @property
    def last_day(self):
        return (self.due_date - self.subject.discharge_date).days

    @property
    def span(self):
        return {"from": _iso(self.subject.discharge_date + timedelta(days=1)), "to": _iso(self.due_date)}

    def sessions(self, first_day, last_day):
        """Attended sessions on days first_day..last_day after discharge."""
        return [s for s in self.facts.attended if first_day <= self._day(s.date) <= last_day]

    def readmissions(self, first_day, last_day):
        return [r for r in self.facts.readmissions if first_day <= self._day(r.date) <= last_day]

    def session(self, session):
        """A session as evidence: ids, date and day only (a recorded visit names itself as one)."""
        key = "visit_id" if getattr(session, "kind", "attendance") == "visit" else "attendance_id"
        return {key: session.id, "date": session.date.isoformat(), "day": self._day(session.date)}

    def readmission(self, readmission):
        return {
            "readmission_id": readmission.id,
            "date": readmission.date.isoformat(),
            "day": self._day(readmission.date),
        }

    def _day(self, value):
        return (value - self.subject.discharge_date).days


def _iso(value):
    return value.isoformat() if value is not None else None


def evaluate(check, subject, due_date, due_at, facts, active_days=30):
    """Judge one check from the facts: (outcome, evidence). Pure, so metrics reuse it unchanged."""
    if subject.status == "cancelled":
        return "not_applicable", {"reason": "referral_cancelled"}
    if subject.status == "adopted":  # a discharge a referral took over: the referral's checks judge it
        return "not_applicable", {"reason": "adopted_by_referral"}
    entry = REGISTRY.get(check)
    if entry is None:
        raise PlanError("No rule for check %r." % check)
    if not entry.applies_to(subject.need):
        return "not_applicable", {"reason": "not_applicable_to_need"}
    return entry.evaluator(Window(subject, facts, due_date, due_at, active_days))


# ---------------------------------------------------------------- the checks, in due order


@check("intake_scheduled", due_days=1, label="Intake scheduled (day 1)")
def intake_scheduled(window):
    """An offer accepted with an intake date before the window closed."""
    for offer in window.facts.accepted_offers:
        if offer.intake_date is not None and offer.accepted_at < window.due_at:
            return "met", {
                "reason": "intake_scheduled",
                "offer_id": offer.id,
                "intake_date": _iso(offer.intake_date),
                "accepted_at": offer.accepted_at.astimezone(UTC).isoformat(),
            }
    return "missed", {"reason": "no_accepted_offer_with_intake_date", "window": window.span}


@check("followup_7", due_days=7, label="7-day follow-up", rate="followup_7")
def followup_7(window):
    """HEDIS FUH: a session on days 1-7."""
    return _attended(window)


@check(
    "initiation_14",
    due_days=INITIATION_DAYS,
    label="Initiation (14 days)",
    needs=SUD_NEEDS,
    rate="initiation",
    rate_label="Initiation (SUD, 14 days)",
)
def initiation_14(window):
    """HEDIS IET initiation: a session within 14 days."""
    return _attended(window)


@check("followup_30", due_days=30, label="30-day follow-up", rate="followup_30")
def followup_30(window):
    """HEDIS FUH 30-day, and no readmission (a return on days 0-2 is a transfer) before the session counts."""
    return _readmitted(window) or _attended(window)


@check(
    "engagement_34",
    due_days=34,
    label="Engagement (34 days)",
    needs=SUD_NEEDS,
    rate="engagement",
    rate_label="Engagement (SUD, 34 days)",
)
def engagement_34(window):
    """HEDIS IET engagement: initiation within 14 days, then two more sessions by day 34."""
    initiation = window.sessions(1, min(INITIATION_DAYS, window.last_day))
    if not initiation:
        return "missed", {"reason": "not_initiated", "window": window.span}
    first = initiation[0]
    more = [s for s in window.sessions(1, window.last_day) if s.date > first.date]
    if len(more) >= 2:
        return "met", {
            "reason": "engaged",
            "window": window.span,
            "sessions": [window.session(s) for s in (first, *more[:2])],
        }
    return "missed", {
        "reason": "fewer_than_two_more_sessions",
        "window": window.span,
        "sessions": [window.session(s) for s in (first, *more)],
    }


@check("outcome_90", due_days=90, label="90-day outcome")
def outcome_90(window):
    return _still_in_care(window)


@check("outcome_180", due_days=180, label="180-day outcome")
def outcome_180(window):
    return _still_in_care(window)


def _attended(window):
    sessions = window.sessions(1, window.last_day)
    if sessions:
        return "met", {"reason": "attended", "window": window.span, "session": window.session(sessions[0])}
    return "missed", {"reason": "no_attended_session", "window": window.span}


def _readmitted(window):
    """The verdict of a readmission in the window (a return on days 0-2 is a transfer, not one), or None."""
    readmitted = window.readmissions(TRANSFER_DAYS + 1, window.last_day)
    if readmitted:
        return "missed", {
            "reason": "readmitted",
            "window": window.span,
            "readmission": window.readmission(readmitted[0]),
        }
    return None


def _still_in_care(window):
    """Not readmitted, and some placement completed, transferred or still attended recently."""
    verdict = _readmitted(window)
    if verdict:
        return verdict
    if not window.facts.placements:
        return "missed", {"reason": "never_placed", "window": window.span}
    evidence = None
    for placement in sorted(window.facts.placements, key=lambda p: (p.intake_date, p.id)):
        outcome, found = _placement_state(window, placement)
        if outcome == "met":
            return "met", dict(found, window=window.span)
        evidence = found
    return "missed", dict(evidence, window=window.span)


def _placement_state(window, placement):
    base = {"placement_id": placement.id}
    if placement.discharged_at is not None and placement.discharged_at < window.due_at:
        # Transferred from the IOP to another level of care is still care.
        if placement.outcome in ("completed", "transferred"):
            return "met", dict(base, reason="discharged_" + placement.outcome)
        return "missed", dict(base, reason="discharged_" + (placement.outcome or "unknown"))
    recent_from = window.last_day - (window.active_days - 1)
    recent = window.sessions(max(0, recent_from), window.last_day)
    if recent:
        return "met", dict(base, reason="attending", session=window.session(recent[-1]))
    return "missed", dict(base, reason="no_recent_attendance", active_days=window.active_days)


# ---------------------------------------------------------------- what the registry feeds

CHECKS = tuple(REGISTRY)
# The rates over every member first, then the needs-specific ones; each by its window.
RATE_MEASURES = tuple(
    sorted(
        (
            RateMeasure(entry.rate, entry.name, entry.due_days, entry.needs, entry.rate_label)
            for entry in REGISTRY.values()
            if entry.rate
        ),
        key=lambda measure: (measure.needs is not None, measure.days),
    )
)
