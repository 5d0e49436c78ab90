"""Referral reads: the audited list a user may see, a referral's timeline, a member's other referrals, counts by
status, the organizations referring, and one referral's follow-ups, offers and placement with display names."""

from sqlalchemy import func, select

from transitions import policy
from transitions.core import audit
from transitions.core.db import db
from transitions.core.pagination import keyset_page
from transitions.directory.models import Program, Track
from transitions.followups import queries as followup_queries
from transitions.followups.models import FollowUp
from transitions.identity.models import Organization, User
from transitions.notify.models import Event
from transitions.offers import queries as offer_queries
from transitions.offers.models import Offer, Placement
from transitions.referrals.models import Referral

# A member's journey shows at most this many of their other referrals.
OTHER_REFERRALS_LIMIT = 20


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


def list_referrals(user, filters):
    """One keyset page of the referrals this user may see, newest first (GET /referrals and the referrals page):
    (referrals, next cursor); each listed referral is audited (referral.list)."""
    rows, cursor = keyset_page(
        list_referrals_query(user, filters), [Referral.created_at, Referral.id], filters, descending=True
    )
    for referral in rows:
        audit.record("referral.list", "referral", referral.id, user=user)
    return rows, cursor


def timeline_query(referral):
    """The referral's events, as a query (the caller orders and pages it)."""
    return select(Event).where(Event.referral_id == referral.id)


def timeline(user, referral_id, filters):
    """One keyset page of the referral's events this user may see, oldest first: (referral, events, next cursor).
    Reading it is audited (referral.timeline); a referral the user may not see is an audited 404."""
    referral = policy.get_referral(user, referral_id, "referral.timeline")
    query = timeline_query(referral).where(policy.timeline_visibility(user, referral))
    events, cursor = keyset_page(query, [Event.seq], filters)
    return referral, events, cursor


def other_referrals_of_member(user, referral):
    """The same member's other referrals this user may see, latest discharge first (a readmission often brings a
    second one); each is audited (referral.list). None without a payer and member id to match on."""
    if not (referral.payer_id and referral.member_id):
        return []
    others = db.session.scalars(
        select(Referral)
        .where(
            policy.referral_visibility(user),
            Referral.id != referral.id,
            Referral.payer_id == referral.payer_id,
            Referral.member_id == referral.member_id,
        )
        .order_by(Referral.discharge_date.desc())
        .limit(OTHER_REFERRALS_LIMIT)
    ).all()
    for other in others:
        audit.record("referral.list", "referral", other.id, user=user)
    return others


def counts_by_status(user):
    """{status: how many} of the referrals this user may see."""
    return dict(
        db.session.execute(
            select(Referral.status, func.count()).where(policy.referral_visibility(user)).group_by(Referral.status)
        ).all()
    )


def referring_organizations(user):
    """(id, name) of the hospitals and residential programs whose referrals this user may see, by name."""
    return db.session.execute(
        select(Organization.id, Organization.name)
        .where(
            Organization.kind.in_(("hospital", "residential")),
            Organization.id.in_(select(Referral.organization_id).where(policy.referral_visibility(user))),
        )
        .order_by(Organization.name)
    ).all()


def referring_organization(referral):
    """The organization that made the referral."""
    return db.session.get(Organization, referral.organization_id)


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
