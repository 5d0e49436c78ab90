"""What the check rules judge: the facts recorded about referrals (offers, placements, sessions, readmissions) and
about discharges without referral (visits and readmissions)."""

from collections import namedtuple
from dataclasses import dataclass, field

from sqlalchemy import String, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY

from transitions.core.db import db, dialect_name
from transitions.discharges.models import Discharge, DischargeReadmission, DischargeVisit
from transitions.offers.models import Attendance, Offer, Placement, Readmission
from transitions.referrals.models import Referral

# Some IN () lists go to SQLite, whose default bound-parameter limit was 999 before 3.32.
CHUNK = 900

AcceptedOffer = namedtuple("AcceptedOffer", "id intake_date accepted_at")
PlacementFact = namedtuple("PlacementFact", "id intake_date status outcome discharged_at")
# kind: "attendance" (an IOP session) or "visit" (a case manager's recorded follow-up visit on a discharge).
Session = namedtuple("Session", "id date kind", defaults=("attendance",))
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
        # A discharge a referral adopted brings its recorded visits and readmissions to the referral's checks.
        for row in db.session.execute(
            select(Discharge.adopted_by_referral_id, DischargeVisit.id, DischargeVisit.visit_date)
            .join(Discharge, Discharge.id == DischargeVisit.discharge_id)
            .where(among(Discharge.adopted_by_referral_id, chunk))
        ):
            facts[row.adopted_by_referral_id].attended.append(Session(row.id, row.visit_date, "visit"))
        for row in db.session.execute(
            select(Discharge.adopted_by_referral_id, DischargeReadmission.id, DischargeReadmission.admitted_on)
            .join(Discharge, Discharge.id == DischargeReadmission.discharge_id)
            .where(among(Discharge.adopted_by_referral_id, chunk))
        ):
            facts[row.adopted_by_referral_id].readmissions.append(ReadmissionFact(row.id, row.admitted_on))
    _sort(facts)
    return facts


def _sort(facts):
    for item in facts.values():
        item.attended.sort(key=lambda s: (s.date, s.id))
        item.readmissions.sort(key=lambda r: (r.date, r.id))
        item.accepted_offers.sort(key=lambda o: (o.accepted_at, o.id))


# What the rules read of a discharge without referral: no need (only the checks for every need are planned), and a
# status of its own (an adopted one's checks were closed when it was adopted).
DISCHARGE_NEED = None


def load_discharge_subjects(discharge_ids):
    """discharge id -> Subject (the discharge's fields as the rules read a referral's), a query a chunk."""
    subjects = {}
    for chunk in chunks(discharge_ids):
        for d in db.session.execute(
            select(Discharge.id, Discharge.adopted_by_referral_id, Discharge.discharge_date, Discharge.timezone).where(
                among(Discharge.id, chunk)
            )
        ):
            status = "adopted" if d.adopted_by_referral_id else "no_step_down"
            subjects[d.id] = Subject(d.id, status, DISCHARGE_NEED, d.discharge_date, d.timezone)
    return subjects


def load_discharge_facts(discharge_ids):
    """Recorded visits (as attended sessions) and readmissions of these discharges: two queries a chunk."""
    facts = {did: Facts() for did in discharge_ids}
    for chunk in chunks(facts):
        for row in db.session.execute(
            select(DischargeVisit.discharge_id, DischargeVisit.id, DischargeVisit.visit_date).where(
                among(DischargeVisit.discharge_id, chunk)
            )
        ):
            facts[row.discharge_id].attended.append(Session(row.id, row.visit_date, "visit"))
        for row in db.session.execute(
            select(DischargeReadmission.discharge_id, DischargeReadmission.id, DischargeReadmission.admitted_on).where(
                among(DischargeReadmission.discharge_id, chunk)
            )
        ):
            facts[row.discharge_id].readmissions.append(ReadmissionFact(row.id, row.admitted_on))
    _sort(facts)
    return facts
