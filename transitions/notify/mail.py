"""Mail to people: who is queued a mail for each event, the lease on a due mail, the send, the record.

Flow: the dispatcher claims events not yet mailed (SKIP LOCKED on PostgreSQL), asks the policy who hears each one
(policy.mail_recipients, then referral_visibility for each person), keeps those whose preferences want it, and
queues one `mail_deliveries` row per (event, user): a unique pair, so nobody is ever queued twice for one event.
The sender (notify/jobs.py) leases a batch of due mails (a digest reader's due rows as one) and commits, renders
them, and sends them one at a time over one SMTP connection per run, all within one hard deadline from the claim
(notify/deadline.py; the lease outlasts it), recording and committing each right after its send. A send that
cannot reach the server is retried with backoff and ends the run: the server is down for every mail, not this one.
Between the server's "250 OK" and our record, a crash leaves the mail to be sent again after its lease: mail is
at least once at that one instant (docs/decisions.md says why), with the same Message-ID both times.
"""

import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import Connection, bindparam, select, update

from transitions import policy
from transitions.core.db import db, dialect_name
from transitions.directory import queries as directory_queries
from transitions.directory.models import Program
from transitions.discharges.models import Discharge
from transitions.identity.models import User
from transitions.notify import mail_content
from transitions.notify.delivery import backoff_seconds
from transitions.notify.events import record_event
from transitions.notify.models import Event, MailDelivery, NotificationPreference
from transitions.notify.smtp import build_message
from transitions.offers.models import Offer
from transitions.referrals.models import Referral

RESULTS = ("sent", "retrying", "failed", "skipped")

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- preferences


@dataclass(frozen=True)
class Choice:
    """What mail a user wants: email at all, which events, and whether as a daily digest."""

    email: bool
    events: tuple
    digest: bool


# Callers that loaded a user's preference row pass it, or None when they found none; without one, it is looked up.
# (A missing row is not in the identity map, so looking it up again would be a query per mail.)
LOOK_UP = object()


def choice_for(user, preference=LOOK_UP):
    """The user's effective choice: their stored preference, or the default (email on, every event of their role)."""
    concerning = policy.MAIL_EVENTS_BY_ROLE.get(user.role, ())
    if preference is LOOK_UP:
        preference = db.session.get(NotificationPreference, user.id)
    if preference is None:
        return Choice(True, concerning, False)
    events = concerning if preference.events is None else tuple(e for e in policy.MAIL_EVENTS if e in preference.events)
    return Choice(bool(preference.email), events, bool(preference.digest))


def wants(user, event_type, preference=LOOK_UP):
    """The user is active, has email on, and wants mail about this kind of event."""
    if not user.active:
        return False
    choice = choice_for(user, preference)
    return choice.email and event_type in choice.events


def next_digest_at(now, hour):
    """The next digest time (hour:00 UTC) after now."""
    at = datetime.combine(now.date(), time(hour), tzinfo=now.tzinfo)
    return at if at > now else at + timedelta(days=1)


# ---------------------------------------------------------------- offer.expiring: the sweep's own event

EXPIRING_NAMESPACE = uuid.UUID("6f1c3d8e-5a43-4c51-9a3e-0d7f1c2b9e11")
EXPIRING_BATCH = 500


def expiring_event_id(offer_id):
    """The one offer.expiring event an offer can ever have: its id follows from the offer's, so a second scheduler
    emitting it at the same moment breaks the unique key instead of writing a second event."""
    return str(uuid.uuid5(EXPIRING_NAMESPACE, "offer.expiring:%s" % offer_id))


def emit_expiring(now, hours, limit=EXPIRING_BATCH):
    """Write offer.expiring for pending offers with at most `hours` left and none yet; in the caller's transaction.
    Returns how many were written."""
    already = select(Event.id).where(Event.type == "offer.expiring", Event.subject_id == Offer.id)
    offers = db.session.scalars(
        select(Offer)
        .where(
            Offer.status == "pending",
            Offer.expires_at > now,
            Offer.expires_at <= now + timedelta(hours=hours),
            ~already.exists(),
        )
        .order_by(Offer.expires_at, Offer.id)
        .limit(limit)
    ).all()
    for offer in offers:
        referral = db.session.get(Referral, offer.referral_id)
        event = record_event(
            "offer.expiring",
            referral=referral,
            subject=offer,
            data={
                "offer_id": offer.id,
                "referral_id": offer.referral_id,
                "track_id": offer.track_id,
                "program_id": offer.program_id,
            },
        )
        event.id = expiring_event_id(offer.id)
    return len(offers)


# ---------------------------------------------------------------- track.seats_unconfirmed: the sweep's reminder

SEATS_UNCONFIRMED_NAMESPACE = uuid.UUID("0b6f2e57-3c1d-4a8e-9f24-7d5a1e6c8b30")


def seats_unconfirmed_event_id(track_id, seats_confirmed_at):
    """The one reminder per staleness period of a track: its id follows from the track's and the confirmation it
    is stale since, so a second scheduler breaks the unique key, and a track confirmed again then stale again gets
    a new one."""
    key = "track.seats_unconfirmed:%s:%s" % (track_id, seats_confirmed_at.isoformat())
    return str(uuid.uuid5(SEATS_UNCONFIRMED_NAMESPACE, key))


def emit_seats_unconfirmed(now, max_age_days):
    """Write track.seats_unconfirmed for each stale track not yet reminded since its last confirmation; in the
    caller's transaction. Returns how many were written."""
    stale = {
        seats_unconfirmed_event_id(track.id, track.seats_confirmed_at): (track, program)
        for track, program in directory_queries.tracks_with_unconfirmed_seats(now, max_age_days)
    }
    already = set()
    ids = list(stale)
    for start in range(0, len(ids), EXPIRING_BATCH):
        chunk = ids[start : start + EXPIRING_BATCH]
        already.update(db.session.scalars(select(Event.id).where(Event.id.in_(chunk))))
    written = 0
    for event_id, (track, program) in stale.items():
        if event_id in already:
            continue
        event = record_event(
            "track.seats_unconfirmed",
            subject=track,
            data={
                "track_id": track.id,
                "program_id": program.id,
                "seats_confirmed_at": track.seats_confirmed_at.isoformat(),
            },
        )
        event.id = event_id
        written += 1
    return written


# ---------------------------------------------------------------- dispatch: events -> mail deliveries


@dataclass
class DispatchCounts:
    events: int = 0
    mails: int = 0

    def __str__(self):
        return "%d events, %d mails queued" % (self.events, self.mails)


def dispatch_batch(now, limit, settings, counts):
    """Claim events not yet mailed, queue their mail (none while mail is off) and mark them; in the caller's
    transaction."""
    query = select(Event).where(Event.mailed_at.is_(None)).order_by(Event.seq).limit(limit)
    if dialect_name() == "postgresql":
        query = query.with_for_update(skip_locked=True)
    events = db.session.scalars(query).all()
    if not events:
        return 0
    if settings.server is not None:
        queue_mail(events, now, settings, counts)
    for event in events:
        event.mailed_at = now
    counts.events += len(events)
    return len(events)


def queue_mail(events, now, settings, counts):
    """One pending mail per event and person the policy lets hear it and who wants it."""
    queue_referral_mail(events, now, settings, counts)
    queue_track_mail(events, now, settings, counts)
    queue_discharge_mail(events, now, settings, counts)


def discharge_of(event):
    """The discharge without referral an event is about (its id in the data, never its patient), or None."""
    return None if event.referral_id else (event.data or {}).get("discharge_id")


def queue_discharge_mail(events, now, settings, counts):
    """A discharge without referral's missed check: to the case managers of the plans following its payer (there is
    no submitting planner), who want it and may read the discharge."""
    mailed = [event for event in events if event.type == "followup.missed" and discharge_of(event)]
    if not mailed:
        return
    discharges = {
        d.id: d
        for d in db.session.scalars(select(Discharge).where(Discharge.id.in_({discharge_of(e) for e in mailed})))
    }
    for event in mailed:
        discharge = discharges.get(discharge_of(event))
        if discharge is None:
            continue
        for user in db.session.scalars(policy.discharge_mail_recipients(discharge)):
            preference = db.session.get(NotificationPreference, user.id)
            if not wants(user, event.type, preference) or not policy.discharge_mailable_to(user, discharge.id):
                continue
            add_delivery(event, user, choice_for(user, preference).digest, now, settings, counts)


def queue_track_mail(events, now, settings, counts):
    """Reminders about a track's seats: to its program's coordinators (no referral, so no patient, in them)."""
    for event in events:
        if event.type != "track.seats_unconfirmed":
            continue
        program = db.session.get(Program, (event.data or {}).get("program_id"))
        if program is None:
            continue
        for user in db.session.scalars(policy.track_mail_recipients(program)):
            preference = db.session.get(NotificationPreference, user.id)
            if wants(user, event.type, preference):
                add_delivery(event, user, choice_for(user, preference).digest, now, settings, counts)


def add_delivery(event, user, digest, now, settings, counts):
    db.session.add(
        MailDelivery(
            event_id=event.id,
            user_id=user.id,
            status="pending",
            digest=digest,
            attempts=0,
            next_attempt_at=next_digest_at(now, settings.digest_hour) if digest else now,
            created_at=now,
        )
    )
    counts.mails += 1


def queue_referral_mail(events, now, settings, counts):
    """Mail about a referral's events: to whom the policy lets hear it and may open the referral."""
    mailed = [event for event in events if event.type in policy.MAIL_AUDIENCES and event.referral_id]
    if not mailed:
        return
    referral_ids = {event.referral_id for event in mailed}
    referrals = {r.id: r for r in db.session.scalars(select(Referral).where(Referral.id.in_(referral_ids)))}
    offer_providers, _ = policy.provider_reach(referral_ids)
    for event in mailed:
        referral = referrals.get(event.referral_id)
        if referral is None or (event.type == "offer.expired" and another_offer_pending(event)):
            continue
        recipients = policy.mail_recipients(event, referral, offer_providers.get(policy.event_offer_id(event)))
        if recipients is None:
            continue
        for user in db.session.scalars(recipients):
            preference = db.session.get(NotificationPreference, user.id)
            if not wants(user, event.type, preference) or not policy.mailable_to(user, referral.id):
                continue
            add_delivery(event, user, choice_for(user, preference).digest, now, settings, counts)


def another_offer_pending(event):
    """When the offer expired, another offer of the referral was still pending (the planner need not act yet)."""
    offer_id = policy.event_offer_id(event)
    others = db.session.scalars(
        select(Offer).where(
            Offer.referral_id == event.referral_id, Offer.id != offer_id, Offer.created_at <= event.created_at
        )
    )
    return any(
        offer.status == "pending" or (offer.decided_at is not None and offer.decided_at > event.created_at)
        for offer in others
    )


# ---------------------------------------------------------------- claim, render, send, record


def claim_batch(now, lease, limit):
    """Lease up to `limit` due mails for `lease` seconds, as units to send: one mail each, or a digest reader's due
    digest mail together. The caller commits before sending, and sends them all within one deadline."""
    query = (
        select(MailDelivery)
        .where(MailDelivery.status == "pending", MailDelivery.next_attempt_at <= now)
        .order_by(MailDelivery.next_attempt_at, MailDelivery.id)
        .limit(limit)
    )
    if dialect_name() == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = db.session.scalars(query).all()
    units, digests = [], {}
    for row in rows:
        if row.digest:
            digests.setdefault(row.user_id, []).append(row)
        else:
            units.append([row])
    for user_id, claimed in digests.items():
        more = select(MailDelivery).where(
            MailDelivery.status == "pending",
            MailDelivery.next_attempt_at <= now,
            MailDelivery.digest.is_(True),
            MailDelivery.user_id == user_id,
            MailDelivery.id.notin_([row.id for row in claimed]),
        )
        if dialect_name() == "postgresql":
            more = more.with_for_update(skip_locked=True)
        claimed += db.session.scalars(more).all()
        units.append(sorted(claimed, key=lambda row: (row.created_at, row.id)))
    until = now + timedelta(seconds=lease)
    for unit in units:
        for row in unit:
            # The lease: a sender that dies mid-send leaves the mail to be sent after it.
            row.next_attempt_at = until
    return [[row.id for row in unit] for unit in units]


def release(delivery_ids, now):
    """Give back leased mails not sent in this run (the server went down, or the batch ran out of time): due again
    now, no attempt counted."""
    for delivery_id in delivery_ids:
        row = db.session.get(MailDelivery, delivery_id)
        if row.status == "pending":
            row.next_attempt_at = now


def messages_for(units, settings):
    """[(message or None, the ids it sends)] for claimed units, loaded in a few queries for the whole batch. Rows
    whose reader no longer wants them (inactive, email off, the event switched off) are marked skipped in the
    caller's transaction; a unit left with nothing to send gets None."""
    ids = [delivery_id for unit in units for delivery_id in unit]
    rows = {row.id: row for row in db.session.scalars(select(MailDelivery).where(MailDelivery.id.in_(ids)))}
    user_ids = {row.user_id for row in rows.values()}
    users = {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
    preferences = {
        preference.user_id: preference
        for preference in db.session.scalars(
            select(NotificationPreference).where(NotificationPreference.user_id.in_(user_ids))
        )
    }
    events = {
        event.id: event
        for event in db.session.scalars(select(Event).where(Event.id.in_({row.event_id for row in rows.values()})))
    }
    # Into the session's identity map, where item_for finds them without a query each.
    offer_ids = {policy.event_offer_id(event) for event in events.values()} - {None}
    program_ids = set(db.session.scalars(select(Offer.program_id).where(Offer.id.in_(offer_ids))).all())
    db.session.scalars(select(Offer).where(Offer.id.in_(offer_ids))).all()
    db.session.scalars(select(Program).where(Program.id.in_(program_ids))).all()
    prepared = []
    for unit in units:
        unit_rows = [rows[delivery_id] for delivery_id in unit]
        user = users[unit_rows[0].user_id]
        preference = preferences.get(user.id)
        kept = [row for row in unit_rows if wants(user, events[row.event_id].type, preference)]
        for row in unit_rows:
            if row not in kept:
                row.status, row.last_error = "skipped", "Not sent: the recipient no longer wants this mail."
        if not kept:
            prepared.append((None, []))
            continue
        items = [mail_content.item_for(events[row.event_id], user, settings.base_url) for row in kept]
        if len(kept) == 1 and not kept[0].digest:
            subject, text, html = mail_content.render_event(items[0])
        else:
            subject, text, html = mail_content.render_digest(items, settings.base_url)
        message = build_message(settings, user.email, subject, text, html, kept[0].id)
        prepared.append((message, [row.id for row in kept]))
    return prepared


# One statement, built once (it runs after every send): whatever state a row is in, the server took it (a row whose
# lease ran out and that another sender settled first included). On the table, not the mapped class: no session
# objects to synchronise, and the ORM's bulk-update path would cost more than the round trip.
_deliveries = MailDelivery.__table__
MARK_SENT = (
    update(_deliveries)
    .where(_deliveries.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="sent", sent_at=bindparam("now"), last_error=None, attempts=_deliveries.c.attempts + 1)
)


@contextmanager
def record_connection():
    """The connection a pass records its sends on, each one statement committed at once: held for the whole pass,
    so a record costs one round trip, not a pool checkout (and its ping), BEGIN, UPDATE and COMMIT. When the session
    is already bound to one connection (a caller's own transaction), records go there, inside it."""
    bind = db.session.get_bind()
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")


def record_send(delivery_ids, outcome, now, settings, connection=None):
    """Apply what the send got to its rows: sent (on `connection` when given, committed there), retry after the
    backoff, or failed for good (in the session, for the caller to commit); the result."""
    if outcome.ok:
        (connection or db.session).execute(MARK_SENT, {"ids": list(delivery_ids), "now": now})
        return "sent"
    rows = [
        db.session.get(MailDelivery, delivery_id, with_for_update=dialect_name() == "postgresql")
        for delivery_id in delivery_ids
    ]
    result = "retrying"
    for row in rows:
        row.attempts += 1
        row.last_error = outcome.error
        if row.status != "pending":
            continue
        if outcome.permanent or row.attempts >= settings.max_attempts:
            row.status, result = "failed", "failed"
        else:
            row.next_attempt_at = now + timedelta(
                seconds=backoff_seconds(row.attempts, settings.retry_base, settings.retry_max)
            )
    return result


@dataclass
class SendCounts:
    results: dict = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))

    def __str__(self):
        r = self.results
        return "%d mails sent, %d to retry, %d failed, %d skipped" % (
            r["sent"],
            r["retrying"],
            r["failed"],
            r["skipped"],
        )


def sent_mail_times(offer_ids, event_type="offer.created"):
    """offer id -> when the first mail about its `event_type` event reached someone (None: not yet), for pages."""
    if not offer_ids:
        return {}
    rows = db.session.execute(
        select(Event.subject_id, MailDelivery.sent_at)
        .join(MailDelivery, MailDelivery.event_id == Event.id)
        .where(Event.type == event_type, Event.subject_id.in_(list(offer_ids)), MailDelivery.status == "sent")
    )
    times = dict.fromkeys(offer_ids)
    for offer_id, sent_at in rows:
        if times[offer_id] is None or sent_at < times[offer_id]:
            times[offer_id] = sent_at
    return times
