"""Form fields to API payloads: pages build the same dict the JSON API takes and validate it with its schemas."""

import re

from marshmallow import ValidationError

from transitions.core.errors import ValidationFailed
from transitions.directory.models import WEEKDAYS

DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
# The availability grid: one checkbox per day and hour, 06:00 to midnight.
GRID_HOURS = tuple(range(6, 24))
QUICK_FILLS = {
    "mornings": ("Weekday mornings", WEEKDAYS[:5], range(8, 13)),
    "afternoons": ("Weekday afternoons", WEEKDAYS[:5], range(12, 17)),
    "evenings": ("Weekday evenings", WEEKDAYS[:5], range(17, 22)),
}


class FormErrors(Exception):
    """Field errors keyed by dotted form field names, plus a message for the top of the form."""

    def __init__(self, errors, message="Please correct the marked fields."):
        super().__init__(message)
        self.errors = errors
        self.message = message


def flatten(messages, prefix=""):
    """marshmallow's nested messages as {"patient.zip": [...], "availability": [...]}; list items fold into the list."""
    flat = {}
    if isinstance(messages, (list, tuple)):
        if messages and all(isinstance(m, str) for m in messages):
            flat.setdefault(prefix or "_form", []).extend(messages)
        else:
            for item in messages:
                for key, value in flatten(item, prefix).items():
                    flat.setdefault(key, []).extend(value)
        return flat
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                name = prefix  # a list item's errors belong to the list's field
            elif key == "_schema":
                name = prefix or "_form"
            else:
                name = "%s.%s" % (prefix, key) if prefix else str(key)
            for sub_key, sub_value in flatten(value, name).items():
                flat.setdefault(sub_key, []).extend(sub_value)
        return flat
    flat.setdefault(prefix or "_form", []).append(str(messages))
    return flat


def load(schema, payload):
    """Validate with an API schema; a failure becomes FormErrors keyed like the form's fields."""
    try:
        return schema.load(payload)
    except ValidationError as error:
        raise FormErrors(flatten(error.messages)) from None


def load_for(schema, payload, find):
    """load() the form of an action on one object, for pages that answer an unknown object's 404 before its form's
    422: a bad form first calls find() (which raises that 404 or 403, audited), and only then is a ValidationFailed."""
    try:
        return load(schema, payload)
    except FormErrors as failure:
        find()
        raise ValidationFailed(failure.errors, failure.message) from None


def domain_form_errors(error):
    """A service's DomainError as FormErrors: field errors when it has them, else a message for the form."""
    if isinstance(error, ValidationFailed) and error.errors:
        return FormErrors(flatten(error.errors), error.detail)
    return FormErrors({}, error.detail)


def failed_form(error):
    """(FormErrors, page status) for a bad form (422) or a service's DomainError (its own status)."""
    if isinstance(error, FormErrors):
        return error, 422
    return domain_form_errors(error), error.status


def text(form, name):
    """A trimmed field, or None when blank (blank means 'not given', as an absent JSON field)."""
    value = form.get(name, "")
    value = value.strip() if isinstance(value, str) else value
    return value or None


def put(target, key, value):
    if value is not None:
        target[key] = value


def checkbox(form, name):
    return form.get(name) in ("on", "true", "1", "yes")


# ---------------------------------------------------------------- the availability grid


def windows_from_grid(cells):
    """Checked 'day-hour' cells as weekly windows, consecutive hours joined; 23 ends at 24:00."""
    chosen = {}
    for cell in cells:
        match = re.fullmatch(r"(mon|tue|wed|thu|fri|sat|sun)-(\d{1,2})", cell or "")
        if match and int(match.group(2)) in GRID_HOURS:
            chosen.setdefault(match.group(1), set()).add(int(match.group(2)))
    windows = []
    for day in WEEKDAYS:
        hours = sorted(chosen.get(day, ()))
        start = previous = None
        for hour in hours + [None]:
            if start is not None and hour == previous + 1:
                previous = hour
                continue
            if start is not None:
                windows.append({"day": day, "start": "%02d:00" % start, "end": "%02d:00" % (previous + 1)})
            start = previous = hour
    return windows


# ---------------------------------------------------------------- referrals


def split_codes(raw):
    return [code for code in re.split(r"[\s,;]+", raw or "") if code]


# The coverage select's self-pay choice: not a payer id (those never start with "*"), so it names no real payer.
SELF_PAY = "*self-pay"
NOTES_MAX_CHARS = 5000


def coverage_payload(form):
    """The coverage as the API takes it: the select's self-pay choice (or the old checkbox) is {self_pay: true}."""
    if checkbox(form, "coverage.self_pay") or form.get("coverage.payer_id") == SELF_PAY:
        return {"self_pay": True}
    coverage = {}
    put(coverage, "payer_id", text(form, "coverage.payer_id"))
    put(coverage, "member_id", text(form, "coverage.member_id"))
    return coverage


def referral_payload(form, zip_timezone):
    """The ReferralInSchema dict for the new-referral form; raises FormErrors for what only the form can get wrong."""
    ui_errors = {}
    patient = {}
    for key in ("given_name", "family_name", "birth_date", "gender", "language", "zip", "phone"):
        put(patient, key, text(form, "patient." + key))
    payload = {"patient": patient, "coverage": coverage_payload(form)}
    for key in ("origin", "need", "discharge_date", "modality", "notes"):
        put(payload, key, text(form, key))
    payload["diagnoses"] = split_codes(form.get("diagnoses"))
    payload["needs_mat"] = checkbox(form, "needs_mat")
    payload["share_notes"] = checkbox(form, "share_notes")
    payload["auto_cascade"] = checkbox(form, "auto_cascade")
    timezone = text(form, "timezone")
    if timezone is None and patient.get("zip"):
        timezone = zip_timezone(patient["zip"])
    put(payload, "timezone", timezone)
    if timezone is None:
        ui_errors["timezone"] = ["Choose the patient's time zone: the ZIP code gives none."]
    if payload.get("modality") != "telehealth":
        put(payload, "max_travel_miles", text(form, "max_travel_miles"))
    if form.get("availability_mode", "times") == "times":
        windows = windows_from_grid(form.getlist("availability"))
        if not windows:
            ui_errors["availability"] = ["Mark the hours the patient can attend, or choose “Any time”."]
        payload["availability"] = windows
    if checkbox(form, "consent.signed"):
        consent = {}
        put(consent, "signed_on", text(form, "consent.signed_on"))
        put(consent, "expires_on", text(form, "consent.expires_on"))
        payload["part2_consent"] = consent
    return payload, ui_errors


def referral_changes(form):
    """The REFERRAL_CHANGES dict of the edit form: discharge date, time zone, hours, modality and travel."""
    changes = {}
    for key in ("discharge_date", "modality", "timezone"):
        put(changes, key, text(form, key))
    if changes.get("modality") != "telehealth":
        # Blank is "not given": the referral then travels the default distance, as on the new-referral form.
        changes["max_travel_miles"] = text(form, "max_travel_miles")
    ui_errors = {}
    if form.get("availability_mode", "times") == "any":
        changes["availability"] = None
    else:
        changes["availability"] = windows_from_grid(form.getlist("availability"))
        if not changes["availability"]:
            ui_errors["availability"] = ["Mark the hours the patient can attend, or choose “Any time”."]
    return changes, ui_errors


def cells_from_windows(windows):
    """The grid cells ('day-hour') of weekly windows: every whole hour inside a window (the grid has no half hours)."""
    cells = []
    for window in windows or ():
        start, end = _minutes(window["start"]), _minutes(window["end"])
        for hour in GRID_HOURS:
            if start <= hour * 60 and (hour + 1) * 60 <= end:
                cells.append("%s-%d" % (window["day"], hour))
    return cells


def _minutes(hhmm):
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def referral_edit_values(referral, overrides=None):
    """The edit form's values: the referral's, then `overrides` (referral fields as the API names them, e.g. a
    widening's changes) on top."""
    fields = {
        "discharge_date": referral.discharge_date,
        "timezone": referral.timezone,
        "modality": referral.modality,
        "max_travel_miles": referral.max_travel_miles,
        "availability": referral.availability,
    }
    fields.update(overrides or {})
    travel = fields["max_travel_miles"]
    return Values(
        discharge_date=fields["discharge_date"].isoformat()
        if hasattr(fields["discharge_date"], "isoformat")
        else str(fields["discharge_date"]),
        timezone=fields["timezone"],
        modality=fields["modality"],
        max_travel_miles="" if travel is None else "%g" % float(travel),
        availability_mode="any" if fields["availability"] is None else "times",
        availability=cells_from_windows(fields["availability"]),
    )


def change_query(changes):
    """A widening's changes as the edit form's query string arguments (GET prefills the form with them)."""
    args = []
    for key, value in changes.items():
        if key == "availability":
            if value is None:
                args.append(("availability_mode", "any"))
            else:
                args.extend(("availability", cell) for cell in cells_from_windows(value))
        elif hasattr(value, "isoformat"):
            args.append((key, value.isoformat()))
        elif isinstance(value, float):
            args.append((key, "%g" % value))
        else:
            args.append((key, value))
    return args


# ---------------------------------------------------------------- errors in plain words

# The label of each field the planner's forms can report on, as the form shows it (the summary links to it).
FIELD_LABELS = {
    "patient.given_name": "Given name",
    "patient.family_name": "Family name",
    "patient.birth_date": "Birth date",
    "patient.gender": "Gender",
    "patient.language": "Preferred language",
    "patient.zip": "Home ZIP code",
    "patient.phone": "Phone",
    "coverage": "Coverage",
    "coverage.payer_id": "Health plan",
    "coverage.member_id": "Member id",
    "coverage.self_pay": "Health plan",
    "origin": "Discharged from",
    "need": "Care needed",
    "needs_mat": "Medication",
    "diagnoses": "Diagnosis codes",
    "discharge_date": "Discharge date",
    "timezone": "Patient's time zone",
    "availability": "When the patient can attend",
    "modality": "How",
    "max_travel_miles": "Farthest travel",
    "part2_consent": "Part 2 consent",
    "part2_consent.signed_on": "Consent signed on",
    "part2_consent.expires_on": "Consent expires on",
    "notes": "Notes",
    "share_notes": "Share the notes",
    "auto_cascade": "Offer the next best match",
}
# Where the summary's link for an error goes, when not to the field of the same name.
FIELD_ANCHORS = {
    "coverage": "coverage-payer_id",
    "coverage.self_pay": "coverage-payer_id",
    "part2_consent": "consent-signed",
    "part2_consent.signed_on": "consent-signed_on",
    "part2_consent.expires_on": "consent-expires_on",
    "availability": "availability-grid",
}
# The API's messages (said to programmers) as the planner reads them: by (field, message), then by message.
PLAIN_BY_FIELD = {
    ("diagnoses", "Length must be between 1 and 25."): "Enter at least one diagnosis code (25 at most).",
    ("diagnoses", "Duplicate values are not allowed."): "A diagnosis code is entered twice.",
    ("notes", "Longer than maximum length 5000."): "Notes can be at most 5,000 characters.",
    ("max_travel_miles", "Not a valid number."): "Enter the miles as a number, e.g. 20.",
    ("max_travel_miles", "Must be greater than 0 and less than or equal to 500."): "Enter between 1 and 500 miles.",
}
PLAIN = {
    "Missing data for required field.": "{label} is required.",
    "payer_id is required unless self_pay is true.": "Choose the patient's health plan, or Self-pay.",
    "member_id is required with a payer_id.": "Enter the member id from the patient's insurance card.",
    "Give either {payer_id, member_id} or {self_pay: true}.": "A self-pay patient has no health plan or member id.",
    "expires_on is before signed_on.": "The consent expires before the day it was signed: check both dates.",
    "Not a valid date.": "Enter a date as year-month-day.",
    "Field may not be null.": "{label} is required.",
    "Unknown field.": "This is not a field of the form.",
}
PLAIN_PATTERNS = (
    (
        re.compile(r"^(.+): not billable: use a more specific code$"),
        "{0} is a category, not a billable code: choose a more specific code (look it up below).",
    ),
    (re.compile(r"^(.+): (unknown ICD-10-CM code|not an ICD-10-CM code)$"), "{0} is not an ICD-10-CM code."),
    (re.compile(r"^Must be one of: .*$"), "Choose one of the options."),
)


def plain_message(name, message):
    """One API message in the words of the form: what to do, about the field as the form labels it."""
    label = FIELD_LABELS.get(name, name.rsplit(".", 1)[-1].replace("_", " ").capitalize())
    if (name, message) in PLAIN_BY_FIELD:
        return PLAIN_BY_FIELD[(name, message)]
    if message in PLAIN:
        return PLAIN[message].format(label=label)
    for pattern, plain in PLAIN_PATTERNS:
        match = pattern.match(message)
        if match:
            return plain.format(*match.groups())
    return message


def plain_errors(errors):
    """Field errors with each message in plain words (keys unchanged)."""
    return {name: [plain_message(name, m) for m in messages] for name, messages in errors.items()}


def error_items(errors):
    """(anchor id, label, messages) for the form's error summary, in the form's order."""
    order = {name: index for index, name in enumerate(FIELD_LABELS)}
    items = []
    for name in sorted(errors, key=lambda n: order.get(n, len(order))):
        if name == "_form":
            items.append((None, None, errors[name]))
            continue
        anchor = FIELD_ANCHORS.get(name, name.replace(".", "-"))
        items.append((anchor, FIELD_LABELS.get(name, name.replace("_", " ")), errors[name]))
    return items


def consent_payload(form):
    consent = {}
    put(consent, "signed_on", text(form, "consent.signed_on"))
    put(consent, "expires_on", text(form, "consent.expires_on"))
    return {"part2_consent": consent}


# ---------------------------------------------------------------- programs and tracks


# The schema allows 21 sessions a week; the form never offers more rows than that.
MAX_SESSION_ROWS = 21


def split_list(raw, upper=False, lower=False):
    items = [item for item in re.split(r"[\s,;]+", raw or "") if item]
    if upper:
        items = [item.upper() for item in items]
    if lower:
        items = [item.lower() for item in items]
    return items


def program_changes(form):
    """The PROGRAM_CHANGES dict for the program form (every field, as a PATCH that sets them all)."""
    changes = {}
    for key in ("name", "zip", "state", "phone"):
        changes[key] = text(form, key)
    if changes["state"]:
        changes["state"] = changes["state"].upper()
    if changes["phone"] is None:
        changes["phone"] = None
    for key in ("name", "zip", "state"):
        if changes[key] is None:
            changes.pop(key)
    changes["services"] = form.getlist("services")
    changes["accepts_from"] = form.getlist("accepts_from")
    changes["languages"] = split_list(form.get("languages"), lower=True)
    changes["payers"] = split_list(form.get("payers"))
    changes["telehealth_states"] = split_list(form.get("telehealth_states"), upper=True)
    for key in ("min_age", "max_age"):
        put(changes, key, text(form, key))
    put(changes, "gender", text(form, "gender"))
    for key in ("interpreter_services", "self_pay", "mat", "active"):
        changes[key] = checkbox(form, key)
    return changes


def sessions_from_form(form):
    """Session rows session-N-day/start/end; a row left blank is no session."""
    sessions = []
    try:
        rows = min(int(form.get("session_rows") or 0), MAX_SESSION_ROWS)
    except ValueError:
        rows = 0
    for index in range(rows):
        day = text(form, "session-%d-day" % index)
        start = text(form, "session-%d-start" % index)
        end = text(form, "session-%d-end" % index)
        if not (day or start or end):
            continue
        row = {}
        put(row, "day", day)
        put(row, "start", start)
        put(row, "end", end)
        sessions.append(row)
    return sessions


def track_payload(form):
    """The TRACK_CHANGES/TrackInSchema dict for the track form."""
    payload = {}
    for key in ("name", "modality", "timezone", "capacity"):
        put(payload, key, text(form, key))
    payload["sessions"] = sessions_from_form(form)
    intake_days = form.getlist("intake_days")
    if intake_days:
        payload["intake_days"] = intake_days
    payload["active"] = checkbox(form, "active")
    return payload


class Values(dict):
    """Saved values shaped like a submitted form (get and getlist), so one template serves both."""

    def getlist(self, key):
        value = self.get(key)
        if value is None:
            return []
        return list(value) if isinstance(value, (list, tuple, set)) else [value]


def program_values(program):
    return Values(
        name=program.name,
        zip=program.zip,
        state=program.state,
        phone=program.phone or "",
        services=program.services,
        accepts_from=program.accepts_from,
        languages=", ".join(program.languages),
        payers=", ".join(program.payers),
        telehealth_states=", ".join(program.telehealth_states),
        min_age=str(program.min_age),
        max_age=str(program.max_age),
        gender=program.gender,
        interpreter_services="on" if program.interpreter_services else "",
        self_pay="on" if program.self_pay else "",
        mat="on" if program.mat else "",
        active="on" if program.active else "",
    )


def track_values(track):
    if track is None:
        return Values(active="on", modality="in_person", capacity="10")
    return Values(
        name=track.name,
        modality=track.modality,
        timezone=track.timezone,
        capacity=str(track.capacity),
        intake_days=track.intake_days,
        active="on" if track.active else "",
    )
