"""The offers domain's periodic job: making offer expiry durable."""

from transitions.core.db import db
from transitions.core.jobs import Job
from transitions.offers.service import expire_due_offers


def expire_offers(run):
    """Expire pending offers past their time: their seats are freed, their referrals cascade or requeue."""
    summary = expire_due_offers(run.now())
    db.session.commit()
    return str(summary)


JOBS = (Job("expire-offers", "SCHEDULER_OFFER_EXPIRY_SECONDS", expire_offers),)
