"""A referral as one viewer may see it: in full for its own organization, its health plan and admins; the minimum
necessary for a provider. Every entry point (API, pages) shapes it here."""

from transitions import policy
from transitions.core.dumping import compile_dump
from transitions.notify.schemas import EventSchema
from transitions.referrals.schemas import ReferralForProviderSchema, ReferralSchema

# The schemas' dumps compiled once (transitions.core.dumping): the same bodies, a fraction of the work.
_FULL = compile_dump(ReferralSchema())
_PROVIDER = compile_dump(ReferralForProviderSchema())
_EVENT = EventSchema()


def referral(user, referral):
    """The referral's body for this viewer, with the 42 CFR Part 2 notice when the disclosure needs one."""
    dump = _PROVIDER if policy.referral_disclosure(user, referral) == "provider" else _FULL
    body = dump(referral)
    body["part2_notice"] = policy.part2_notice_for(user, referral)
    return body


def timeline(user, referral, events):
    """The referral's events as this viewer may see them (the data of a status change stays with the full view)."""
    bodies = []
    for event in events:
        body = _EVENT.dump(event)
        if not policy.discloses_event_data(user, referral, event):
            body["data"] = {}
        bodies.append(body)
    return bodies
