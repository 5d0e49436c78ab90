"""What the webhook contract fixes: the event types one may subscribe to, delivery statuses, the secret format.

Plain values and pure functions, importing nothing of the service, so the schemas can validate against them.
"""

import base64
import binascii
import secrets

EVENTS = (
    "referral.submitted",
    "offer.created",
    "offer.accepted",
    "offer.declined",
    "offer.expired",
    "referral.placed",
    "attendance.lapsed",
    "followup.missed",
    "referral.readmitted",
)
DELIVERY_STATUSES = ("pending", "delivered", "failed")
# Why a webhook is switched off: its organization did it, the receiver answered 410 Gone, the SSRF guard refused
# its URL at send time (a PATCH with an acceptable URL switches it on again), or it was deleted.
DISABLED_CAUSES = ("user", "gone", "url_refused", "deleted")
SECRET_PREFIX = "whsec_"


def generate_secret():
    """A Standard Webhooks secret: whsec_ and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_problem(secret):
    """Why a caller's secret is unusable, or None: whsec_ + base64 of 24-64 bytes, like Standard Webhooks."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        return "A secret starts with whsec_ followed by base64."
    try:
        raw = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return "The part after whsec_ is not base64."
    if not 24 <= len(raw) <= 64:
        return "A secret is 24 to 64 random bytes (base64 after whsec_)."
    return None
