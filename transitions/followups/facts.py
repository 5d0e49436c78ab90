"""What the check rules judge: the facts recorded about referrals (offers, placements, sessions, readmissions)."""

from collections import namedtuple
from dataclasses import dataclass, field

from sqlalchemy import String, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY

from transitions.core.db import db, dialect_name
from transitions.offers.models import Attendance, Offer, Placement, Readmission
from transitions.referrals.models import Referral

# Some IN () lists go to SQLite, whose default bound-parameter limit was 999 before 3.32.
CHUNK = 900

AcceptedOffer = namedtuple("AcceptedOffer", "id intake_date accepted_at")
PlacementFact = namedtuple("PlacementFact", "id intake_date status outcome discharged_at")
Session = namedtuple("Session", "id date")
ReadmissionFact = namedtuple("ReadmissionFact", "id date")
Subject = namedtuple("Subject", "id status need discharge_date timezone")


@dataclass
class Facts:
    """What was recorded about one referral: the inputs of every rule, loaded in bulk."""

    accepted_offers: list = field(default_factory=list)
    placements: list = field(default_factory=list)
    attended: list = field(default_factory=list)
    readmissions: list = field(default_factory=list)


def chunks(values, size=CHUNK):
    """The values in lists of at most `size`, for IN () lists and per-chunk loading."""
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def among(column, values):
    """column IN values; on PostgreSQL one array parameter (= ANY), so the statement text stays short and cached."""
    if dialect_name() == "postgresql":
        return column == any_(literal(list(values), ARRAY(String)))
    return column.in_(list(values))


def load_subjects(referral_ids):
    """referral id -> Subject (the referral fields the rules read), a query a chunk."""
    subjects = {}
    for chunk in chunks(referral_ids):
        for r in db.session.execute(
            select(Referral.id, Referral.status, Referral.need, Referral.discharge_date, Referral.timezone).where(
                among(Referral.id, chunk)
            )
        ):
            subjects[r.id] = Subject(r.id, r.status, r.need, r.discharge_date, r.timezone)
    return subjects


def load_facts(referral_ids):
    """Accepted offers, placements, attended sessions and readmissions of these referrals: four queries a chunk."""
    facts = {rid: Facts() for rid in referral_ids}
    for chunk in chunks(facts):
        for row in db.session.execute(
            select(Offer.referral_id, Offer.id, Offer.intake_date, Offer.decided_at, Offer.created_at).where(
                among(Offer.referral_id, chunk), Offer.status == "accepted"
            )
        ):
            facts[row.referral_id].accepted_offers.append(
                AcceptedOffer(row.id, row.intake_date, row.decided_at or row.created_at)
            )
        for row in db.session.execute(
            select(
                Placement.referral_id,
                Placement.id,
                Placement.intake_date,
                Placement.status,
                Placement.outcome,
                Placement.discharged_at,
            ).where(among(Placement.referral_id, chunk))
        ):
            facts[row.referral_id].placements.append(
                PlacementFact(row.id, row.intake_date, row.status, row.outcome, row.discharged_at)
            )
        for row in db.session.execute(
            select(Placement.referral_id, Attendance.id, Attendance.session_date)
            .join(Placement, Placement.id == Attendance.placement_id)
            .where(among(Placement.referral_id, chunk), Attendance.status == "attended")
        ):
            facts[row.referral_id].attended.append(Session(row.id, row.session_date))
        for row in db.session.execute(
            select(Readmission.referral_id, Readmission.id, Readmission.admitted_on).where(
                among(Readmission.referral_id, chunk)
            )
        ):
            facts[row.referral_id].readmissions.append(ReadmissionFact(row.id, row.admitted_on))
    for item in facts.values():
        item.attended.sort(key=lambda s: (s.date, s.id))
        item.readmissions.sort(key=lambda r: (r.date, r.id))
        item.accepted_offers.sort(key=lambda o: (o.accepted_at, o.id))
    return facts
