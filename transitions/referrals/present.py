"""A referral as one viewer may see it: in full for its own organization, its health plan and admins; the minimum
necessary for a provider. Every entry point (API, pages) shapes it here."""

from transitions import policy
from transitions.referrals.schemas import ReferralForProviderSchema, ReferralSchema

_FULL = ReferralSchema()
_PROVIDER = ReferralForProviderSchema()


def referral(user, referral):
    """The referral's body for this viewer, with the 42 CFR Part 2 notice when the disclosure needs one."""
    schema = _PROVIDER if policy.referral_disclosure(user, referral) == "provider" else _FULL
    body = schema.dump(referral)
    body["part2_notice"] = policy.part2_notice_for(user, referral)
    return body
