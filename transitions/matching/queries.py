"""Matching reads for the pages: a referral's matches with what the planner's page adds (widening.py)."""

import json

from sqlalchemy import Text, cast, select

from transitions import policy
from transitions.core.db import db
from transitions.directory.models import Program
from transitions.identity.models import Organization
from transitions.matching import widening


def planner_matches(actor, referral_id, limit, now):
    """The best `limit` tracks for a referral the actor may see, each with why it ranks above the next and the reasons
    it does not share; with few matches, the single changes that would add programs and the near misses."""
    referral = policy.get_referral(actor, referral_id, "referral.match")
    policy.FIND_MATCHES.require(actor, referral)
    return widening.explain(referral, limit, now)


def payer_choices():
    """(payer id, label) of every payer the service knows, by label: the health plans' payer ids (named after their
    plan) and those the directory's programs accept; the coverage a referral can name and a program match on."""
    labels = {}
    # Programs repeat a few payer lists: each distinct list (as text, JSON has no equality) is read once.
    for payers in db.session.scalars(select(cast(Program.payers, Text)).distinct()):
        for payer in json.loads(payers or "[]"):
            labels.setdefault(payer, payer)
    plans = select(Organization.name, Organization.payer_ids).where(Organization.kind == "health_plan")
    for name, payer_ids in db.session.execute(plans):
        for payer in payer_ids or ():
            labels[payer] = "%s (%s)" % (name, payer)
    return sorted(labels.items(), key=lambda item: item[1].lower())
