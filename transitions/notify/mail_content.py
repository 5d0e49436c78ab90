"""What a mail says: the facts of one event a mail may carry (ids, codes, the program's name, times), and the
subject, text and HTML rendered from the templates in templates/mail/.

Only what `item_for` gathers reaches a template, and it never reads the patient's fields: the minimum necessary
(SPEC "Notifications to people"), whatever a template is later changed to print.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from transitions.core.db import db
from transitions.directory.models import Program, Track
from transitions.offers.models import Offer

# The page each role acts on: coordinators answer offers in their inbox; planners and case managers open the referral.
PAGES = {
    "iop_coordinator": "/offers",
    "discharge_planner": "/referrals/{referral_id}",
    "case_manager": "/members/{referral_id}",
}


# Event data a mail may print: codes only (a check name, a decline reason), never free text.
CODE = re.compile(r"^[a-z0-9_]{1,40}$")


def _code(value):
    return value if isinstance(value, str) and CODE.match(value) else None


@dataclass(frozen=True)
class Item:
    """One event as a mail tells it."""

    type: str
    reference: str
    link: str
    offer_reference: str | None = None
    program_name: str | None = None
    expires_at: str | None = None
    check: str | None = None
    reason: str | None = None
    track_name: str | None = None
    days_unconfirmed: int | None = None


def short_reference(prefix, object_id):
    """A short reference people can read out on the phone: R-1A2B3C4D (the first 8 hex digits of the id)."""
    return "%s-%s" % (prefix, object_id.replace("-", "")[:8].upper()) if object_id else None


def item_for(event, user, base_url):
    """The facts of one event for one reader: references, the offer's program and expiry, the check, a link."""
    if event.type == "track.seats_unconfirmed":
        return track_item_for(event, base_url)
    data = event.data or {}
    if event.referral_id is None and data.get("discharge_id"):
        # A discharge without referral (ADT): its page, by id; the check's name; nothing of the patient.
        return Item(
            type=event.type,
            reference=short_reference("D", data["discharge_id"]),
            link=base_url + "/discharges/%s" % data["discharge_id"],
            check=_code(data.get("check")),
        )
    offer = None
    offer_id = event.subject_id if event.subject_type == "offer" else (event.data or {}).get("offer_id")
    if offer_id:
        offer = db.session.get(Offer, offer_id)
    program = db.session.get(Program, offer.program_id) if offer is not None else None
    path = PAGES.get(user.role, "/").format(referral_id=event.referral_id)
    data = event.data or {}
    return Item(
        type=event.type,
        reference=short_reference("R", event.referral_id),
        link=base_url + path,
        offer_reference=short_reference("O", offer_id),
        program_name=program.name if program is not None else None,
        expires_at=offer.expires_at.strftime("%Y-%m-%d %H:%M UTC") if offer is not None else None,
        check=_code(data.get("check")),
        reason=_code(data.get("reason")),
    )


def track_item_for(event, base_url):
    """A reminder about a track's seat count: the track and program names, the days since it was confirmed, and
    the coordinator's programs page, where confirming it is one click."""
    data = event.data or {}
    track = db.session.get(Track, data.get("track_id") or event.subject_id)
    program = db.session.get(Program, track.program_id) if track is not None else None
    confirmed_at = datetime.fromisoformat(data["seats_confirmed_at"]) if data.get("seats_confirmed_at") else None
    return Item(
        type=event.type,
        reference=short_reference("T", event.subject_id),
        link=base_url + "/programs",
        program_name=program.name if program is not None else None,
        track_name=track.name if track is not None else None,
        days_unconfirmed=(event.created_at - confirmed_at).days if confirmed_at is not None else None,
    )


def _render(name, **context):
    # The app's Jinja environment (autoescaping .html), without request context processors: there is no request.
    return current_app.jinja_env.get_template(name).render(**context)


def render_event(item):
    """(subject, text, html) of a mail about one event."""
    subject = " ".join(_render("mail/subject.txt", item=item).split())
    return subject, _render("mail/event.txt", item=item), _render("mail/event.html", item=item, subject=subject)


def render_digest(items, base_url):
    """(subject, text, html) of a digest: every item, each with its reference and link."""
    subject = "Transitions: %d update%s for you" % (len(items), "" if len(items) == 1 else "s")
    context = {"items": items, "subject": subject, "base_url": base_url}
    return subject, _render("mail/digest.txt", **context), _render("mail/digest.html", **context)


def render_test(base_url):
    """(subject, text, html) of the operator's test message."""
    subject = "Transitions: test message"
    return (
        subject,
        _render("mail/test.txt", base_url=base_url),
        _render("mail/test.html", base_url=base_url, subject=subject),
    )
