"""The referral use cases, one command each: lookup with visibility, permission, the change, races and audit.

Every entry point (API views, pages, any later one) calls these with plain values it has already parsed.
Each command looks its referral up first (another organization's referral is an audited 404), then asks the policy
(an audited 403), then lets the service make the change (409 for a wrong state, 422 for incoherent fields), a lost
database race answering 409.
"""

from transitions import policy
from transitions.core import audit
from transitions.core.db import races_as_conflicts
from transitions.discharges import commands as discharges
from transitions.referrals import service


def submit_referral(actor, data, now):
    """A new referral from the actor's organization (discharge planners); a second open one for the patient is 409.
    It adopts the patient's discharges without referral from its organization (an ADT feed recorded them first)."""
    policy.SUBMIT_REFERRAL.require(actor)
    with races_as_conflicts():
        referral = service.create_referral(actor, data, now)
        discharges.adopt_for_referral(actor, referral, now)
    audit.record("referral.create", "referral", referral.id, user=actor)
    return referral


def update_referral(actor, referral_id, changes, now):
    """Change a referral until it is placed (the referring organization's planners)."""
    referral = policy.get_referral(actor, referral_id, "referral.update")
    policy.CHANGE_REFERRAL.require(actor, referral)
    with races_as_conflicts():
        return service.update_referral(actor, referral, changes, now)


def record_actual_discharge(actor, referral_id, discharge_date, now):
    """The actual discharge date (an ADT A03) of a referral in any open state, placed and attending too: only that
    date changes, and the follow-up checks move with it (the referring organization's planners, or its feed)."""
    referral = policy.get_referral(actor, referral_id, "referral.update")
    policy.CHANGE_REFERRAL.require(actor, referral)
    with races_as_conflicts():
        return service.set_discharge_date(actor, referral, discharge_date, now)


def cancel_referral(actor, referral_id, reason, now):
    """Cancel a referral: its pending offers are withdrawn and their seats freed (the referring org's planners)."""
    referral = policy.get_referral(actor, referral_id, "referral.cancel")
    policy.CANCEL_REFERRAL.require(actor, referral)
    with races_as_conflicts():
        return service.cancel_referral(actor, referral, reason, now)
