"""The notifications page (each user's own choice of mail: email on or off, which events, a daily digest), and
whether an offer's coordinators were emailed, for the pages that list offers."""

from flask import g, redirect, request, url_for

from transitions.core.clock import utcnow
from transitions.core.errors import ValidationFailed
from transitions.notify import commands, queries
from transitions.web.blueprint import bp, notice, render

EVENT_LABELS = {
    "track.seats_unconfirmed": "A track's seat count has gone unconfirmed",
    "offer.created": "A new offer to one of your programs",
    "offer.expiring": "An offer to your program is about to expire unanswered",
    "offer.accepted": "A program accepted your referral's offer",
    "offer.declined": "A program declined your referral's offer",
    "offer.expired": "An offer expired and no other offer is pending",
    "followup.missed": "A follow-up was missed",
    "attendance.lapsed": "A member stopped attending their program",
    "referral.readmitted": "A member was readmitted",
}


@bp.app_template_global()
def coordinators_told(offer_ids):
    """offer id -> when its program's coordinators were first emailed about it (None: not yet), for offer lists."""
    return queries.coordinators_told(offer_ids)


@bp.get("/notifications")
def notifications():
    return render("notifications.html", preferences=queries.notification_preferences(g.user), event_labels=EVENT_LABELS)


@bp.post("/notifications")
def save_notifications():
    preferences = queries.notification_preferences(g.user)
    chosen = [event for event in preferences["available_events"] if event in request.form.getlist("events")]
    try:
        commands.change_notification_preferences(
            g.user,
            utcnow(),
            email=request.form.get("email") == "on",
            events=chosen,
            digest=request.form.get("digest") == "on",
        )
    except ValidationFailed as error:
        return render(
            "notifications.html", status=422, preferences=preferences, event_labels=EVENT_LABELS, error=error.detail
        )
    notice("Your notification settings were saved.", "success")
    return redirect(url_for("web.notifications"))
