"""The referral state machine: one table of allowed transitions, and the function that applies them."""

from transitions.core.errors import Conflict
from transitions.notify.events import record_event

# A patient can be readmitted before ever starting the IOP, so the waiting states may become
# "readmitted" too (their pending offers are withdrawn and the seats freed). Once placed, a
# referral ends through its placement (IOP discharge or readmission), not by cancelling: a
# cancel would leave the placement holding its seat.
ALLOWED_TRANSITIONS = {
    "submitted": {"offered", "no_match", "cancelled", "readmitted"},
    "no_match": {"offered", "submitted", "cancelled", "readmitted"},
    "offered": {"placed", "submitted", "no_match", "cancelled", "readmitted"},
    "placed": {"attending", "completed", "dropped_out", "readmitted"},
    "attending": {"completed", "dropped_out", "readmitted"},
    "completed": set(),
    "dropped_out": set(),
    "readmitted": set(),
    "cancelled": set(),
}

TERMINAL = frozenset(state for state, targets in ALLOWED_TRANSITIONS.items() if not targets)

# Named subsets of the states, each defined once: a page, a rule and a query that mean the same thing use the same name.
WAITING = ("submitted", "no_match")  # no live offer and no seat: a referral still to be matched or allocated
OFFERABLE = ("submitted", "offered", "no_match")  # a new offer may be made
EDITABLE = OFFERABLE  # the planner may still change the referral (until it is placed)
IN_PROGRAM = ("placed", "attending")  # a seat is occupied


def ensure_transition(referral, to_status):
    if to_status not in ALLOWED_TRANSITIONS[referral.status]:
        raise Conflict(
            "A referral in status '%s' cannot become '%s'." % (referral.status, to_status),
            extra={"current_status": referral.status},
        )


def transition(referral, to_status, actor, event_type=None, data=None):
    """Move a referral to a new status and log the change; an illegal move is a 409."""
    ensure_transition(referral, to_status)
    from_status = referral.status
    referral.status = to_status
    return record_event(
        event_type or "referral.%s" % to_status,
        referral=referral,
        subject=referral,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        data=data,
    )
