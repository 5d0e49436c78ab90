"""Matching: which IOP tracks can take a referral, in what order, and why (stub; being implemented)."""
from dataclasses import dataclass, field
from datetime import date


@dataclass
class Evaluation:
    """The verdict of the hard rules on one (referral, track) pair."""

    ok: bool
    failed: list = field(default_factory=list)       # rule codes, e.g. ["payer", "schedule"]
    reasons: list = field(default_factory=list)      # human-readable, for inclusions and exclusions
    first_intake_date: date | None = None
    distance_miles: float | None = None


def evaluate(referral, track, as_of, ignore_capacity=False):
    """Run every hard rule for referral on track as of the date `as_of`.

    ignore_capacity=True skips the open-seat rule (offers decide seats under a row lock).
    """
    return Evaluation(ok=True, first_intake_date=max(as_of, referral.discharge_date))
