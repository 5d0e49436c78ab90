"""How things read on a page: labels for codes, dates and times, event descriptions; Jinja filters."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import g, has_request_context

from transitions.core import codes
from transitions.followups import checks
from transitions.web.forms import DAY_NAMES

STATUS_LABELS = {
    "submitted": "Waiting for a seat",
    "offered": "Offered",
    "placed": "Placed",
    "attending": "Attending",
    "completed": "Completed",
    "dropped_out": "Dropped out",
    "readmitted": "Readmitted",
    "cancelled": "Cancelled",
    "no_match": "No match",
}
NEED_LABELS = {"mental_health": "Mental health", "substance_use": "Substance use", "co_occurring": "Co-occurring"}
ORIGIN_LABELS = {"inpatient_psych": "Inpatient psychiatry", "residential": "Residential treatment"}
MODALITY_LABELS = {"in_person": "In person", "telehealth": "Telehealth", "either": "In person or telehealth"}
GENDER_LABELS = {"female": "Female", "male": "Male", "nonbinary": "Nonbinary", "unknown": "Unknown", "any": "Any"}
DECLINE_LABELS = {
    "at_capacity": "At capacity",
    "clinical_fit": "Clinical fit",
    "payer": "Payer not accepted",
    "schedule": "Schedule does not fit",
    "patient_declined": "Patient declined",
    "other": "Other",
}
OUTCOME_LABELS = {None: "Pending", "met": "Met", "missed": "Missed", "not_applicable": "Not applicable"}
OFFER_STATUS_LABELS = {
    "pending": "Pending",
    "accepted": "Accepted",
    "declined": "Declined",
    "withdrawn": "Withdrawn",
    "expired": "Expired",
}
ATTENDANCE_LABELS = {"attended": "Attended", "missed": "Missed", "excused": "Excused"}
EVENT_LABELS = {
    "referral.submitted": "Referral submitted",
    "referral.updated": "Referral updated",
    "referral.offered": "Status: offered",
    "referral.placed": "Status: placed",
    "referral.attending": "Status: attending",
    "referral.completed": "Status: completed",
    "referral.dropped_out": "Status: dropped out",
    "referral.readmitted": "Readmitted",
    "referral.cancelled": "Referral cancelled",
    "referral.no_match": "Status: no match",
    "referral.requeued": "Back to waiting for a seat",
    "referral.submitted_again": "Back to waiting for a seat",
    "referral.consent_revoked": "Part 2 consent revoked",
    "offer.created": "Offer sent",
    "offer.accepted": "Offer accepted",
    "offer.declined": "Offer declined",
    "offer.withdrawn": "Offer withdrawn",
    "offer.expired": "Offer expired",
    "attendance.recorded": "Attendance recorded",
    "attendance.lapsed": "Attendance lapsed (missed sessions in a row)",
    "placement.discharged": "Discharged from the IOP",
    "followup.missed": "Follow-up missed",
    "followup.contacted": "Outreach recorded",
    "followup.evaluated": "Follow-up evaluated",
}
# The US zones a referral form offers; the API takes any IANA zone.
US_TIMEZONES = (
    ("America/New_York", "Eastern"),
    ("America/Chicago", "Central"),
    ("America/Denver", "Mountain"),
    ("America/Phoenix", "Arizona"),
    ("America/Los_Angeles", "Pacific"),
    ("America/Anchorage", "Alaska"),
    ("Pacific/Honolulu", "Hawaii"),
    ("America/Puerto_Rico", "Puerto Rico"),
)
COMMON_LANGUAGES = (
    "en",
    "es",
    "zh",
    "vi",
    "tl",
    "ar",
    "fr",
    "ht",
    "ko",
    "ru",
    "pt",
    "pl",
    "de",
    "it",
    "ja",
    "fa",
    "hi",
    "ur",
    "bn",
    "pa",
    "so",
    "am",
    "uk",
    "el",
    "he",
    "hy",
    "km",
    "lo",
    "th",
    "yi",
)


def language_name(code):
    import pycountry

    language = pycountry.languages.get(alpha_2=code) if code else None
    return language.name if language else code


def language_choices():
    """Common languages first, by code; every name resolved once."""
    return [(code, language_name(code)) for code in COMMON_LANGUAGES]


def day_name(code):
    return DAY_NAMES.get(code, code)


def fmt_date(value):
    if value is None:
        return "—"
    if isinstance(value, str):  # an ISO date from a schema dump
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.date()
    return "%s %d, %d" % (value.strftime("%a %b"), value.day, value.year)


def viewer_timezone():
    """The signed-in user's organization's zone (UTC outside a signed-in page, as in mail and the API)."""
    user = g.get("user") if has_request_context() else None
    return user.organization.timezone if user is not None else "UTC"


def fmt_datetime(value, zone=None):
    """A stored UTC instant in the viewer's organization's zone (or a given one), the zone named:
    'Dec 1, 2026 09:00 CST'. One zone per page, so planners, coordinators and case managers never see two."""
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(zone or viewer_timezone()))
    return "%s %d, %d %s %s" % (local.strftime("%b"), local.day, local.year, local.strftime("%H:%M"), local.tzname())


def diagnosis_label(code):
    description = codes.icd10_description(code)
    return "%s — %s" % (code, description) if description else code


def windows_text(windows):
    """'Mon 17:00–22:00, Wed 17:00–22:00' or 'Any time'."""
    if windows is None:
        return "Any time"
    if not windows:
        return "No times given"
    return ", ".join("%s %s–%s" % (w["day"].capitalize(), w["start"], w["end"]) for w in windows)


WITHDRAWAL_LABELS = {"accepted_elsewhere": "automatic: another offer was accepted"}


def describe_event(event, names):
    """One timeline line: what happened, with the program, track, reason or check it concerns."""
    label = EVENT_LABELS.get(event.type, event.type.replace(".", ": ").replace("_", " ").capitalize())
    data = event.data or {}
    details = []
    if data.get("track_id") and data["track_id"] in names.get("tracks", {}):
        details.append(names["tracks"][data["track_id"]])
    if event.type == "offer.declined" and data.get("reason"):
        details.append(DECLINE_LABELS.get(data["reason"], data["reason"]))
    if event.type in ("offer.withdrawn",) and data.get("reason"):
        details.append(WITHDRAWAL_LABELS.get(data["reason"], data["reason"].replace("_", " ")))
    if event.type == "attendance.recorded" and data.get("status"):
        details.append(ATTENDANCE_LABELS.get(data["status"], data["status"]))
    if data.get("check"):
        details.append(checks.label(data["check"]))
    if event.type == "referral.cancelled" and data.get("reason"):
        details.append(data["reason"])
    if data.get("cascade"):
        details.append("automatic next-best offer")
    return label + (" — " + "; ".join(details) if details else "")


def register(app):
    filters = {
        "date": fmt_date,
        "datetime": fmt_datetime,
        "status_label": lambda s: STATUS_LABELS.get(s, s),
        "need_label": lambda s: NEED_LABELS.get(s, s),
        "origin_label": lambda s: ORIGIN_LABELS.get(s, s),
        "modality_label": lambda s: MODALITY_LABELS.get(s, s),
        "gender_label": lambda s: GENDER_LABELS.get(s, s),
        "check_label": checks.label,
        "outcome_label": lambda s: OUTCOME_LABELS.get(s, s),
        "offer_status_label": lambda s: OFFER_STATUS_LABELS.get(s, s),
        "decline_label": lambda s: DECLINE_LABELS.get(s, s),
        "language_name": language_name,
        "diagnosis": diagnosis_label,
        "windows": windows_text,
        "day_name": day_name,
        "percent": lambda r: "—" if r is None else "%d%%" % round(r * 100),
        "describe_event": describe_event,
    }
    app.jinja_env.filters.update(filters)
    app.jinja_env.globals.update(
        STATUS_LABELS=STATUS_LABELS,
        NEED_LABELS=NEED_LABELS,
        ORIGIN_LABELS=ORIGIN_LABELS,
        MODALITY_LABELS=MODALITY_LABELS,
        DECLINE_LABELS=DECLINE_LABELS,
        DAY_NAMES=DAY_NAMES,
    )
