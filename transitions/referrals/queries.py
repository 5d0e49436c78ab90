"""Referral reads: the list a user may see, a referral's timeline, counts by status, and one referral's
follow-ups, offers and placement with display names."""

from sqlalchemy import func, select

from transitions import policy
from transitions.core.db import db
from transitions.directory.models import Program, Track
from transitions.followups import queries as followup_queries
from transitions.followups.models import FollowUp
from transitions.identity.models import Organization, User
from transitions.notify.models import Event
from transitions.offers import queries as offer_queries
from transitions.offers.models import Offer, Placement
from transitions.referrals.models import Referral


def list_referrals_query(user, filters):
    """The referrals this user may see, filtered on status, need, payer and discharge dates, as a query."""
    query = policy.visible_referrals(user)
    if "status" in filters:
        query = query.where(Referral.status == filters["status"])
    if "need" in filters:
        query = query.where(Referral.need == filters["need"])
    if "payer_id" in filters:
        query = query.where(Referral.payer_id == filters["payer_id"])
    if "discharge_from" in filters:
        query = query.where(Referral.discharge_date >= filters["discharge_from"])
    if "discharge_to" in filters:
        query = query.where(Referral.discharge_date <= filters["discharge_to"])
    return query


def timeline_query(referral):
    """The referral's events, as a query (the caller orders and pages it)."""
    return select(Event).where(Event.referral_id == referral.id)


def counts_by_status(user):
    """{status: how many} of the referrals this user may see."""
    return dict(
        db.session.execute(
            select(Referral.status, func.count()).where(policy.referral_visibility(user)).group_by(Referral.status)
        ).all()
    )


def names_for(track_ids=(), user_ids=(), org_ids=()):
    """Display names for ids an event or offer mentions, in three queries."""
    names = {"tracks": {}, "users": {}, "orgs": {}}
    if track_ids:
        for track_id, track_name, program_name in db.session.execute(
            select(Track.id, Track.name, Program.name)
            .join(Program, Program.id == Track.program_id)
            .where(Track.id.in_(set(track_ids)))
        ):
            names["tracks"][track_id] = "%s, %s" % (program_name, track_name)
    if user_ids:
        names["users"] = dict(db.session.execute(select(User.id, User.email).where(User.id.in_(set(user_ids)))).all())
    if org_ids:
        names["orgs"] = dict(
            db.session.execute(
                select(Organization.id, Organization.name).where(Organization.id.in_(set(org_ids)))
            ).all()
        )
    return names


def timeline_of(referral):
    """The referral's events in order, with the names of the tracks, users and organizations they mention."""
    events = db.session.scalars(timeline_query(referral).order_by(Event.seq)).all()
    names = names_for(
        [e.data.get("track_id") for e in events if e.data and e.data.get("track_id")],
        [e.actor_user_id for e in events if e.actor_user_id],
        [e.actor_org_id for e in events if e.actor_org_id],
    )
    return events, names


def followups_of(referral):
    """The referral's follow-ups by due date, and their contacts."""
    rows = db.session.scalars(followup_queries.referral_query(referral).order_by(FollowUp.due_date, FollowUp.id)).all()
    contacts = followup_queries.contacts_for([row.id for row in rows])
    return rows, contacts


def offers_of(referral, now):
    """The referral's offers, oldest first, each with its effective status at `now` and its track's name."""
    rows = db.session.scalars(
        select(Offer).where(Offer.referral_id == referral.id).order_by(Offer.created_at, Offer.id)
    ).all()
    names = names_for([o.track_id for o in rows])
    return [
        {
            "offer": o,
            "status": offer_queries.effective_status(o, now),
            "name": names["tracks"].get(o.track_id, o.track_id),
        }
        for o in rows
    ]


def placement_of(referral):
    """The referral's latest placement with its attendance and counts, or None."""
    placement = db.session.scalar(
        select(Placement).where(Placement.referral_id == referral.id).order_by(Placement.created_at.desc())
    )
    if placement is None:
        return None
    rows = offer_queries.attendance_of(placement)
    return {
        "placement": placement,
        "attendance": rows,
        "track_name": names_for([placement.track_id])["tracks"].get(placement.track_id),
        "attended": offer_queries.sessions_attended(rows),
        "missed_in_a_row": offer_queries.current_missed_run(rows),
    }
