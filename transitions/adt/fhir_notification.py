"""The FHIR discharge notification, in the style of the Da Vinci Unsolicited Notifications IG (`notif-discharge`): a
FHIR R4 message Bundle posted to $process-message whose MessageHeader announces a discharge and whose focus is an
Encounter with `period.end`. It is stored in the same inbox as HL7 v2 (adt_messages, channel "fhir") before it is
applied, read into the facts an ADT^A03 carries, and applied through the same function (service.apply_discharge);
the same message id from the same sender is answered again and changes nothing."""

import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from fhirclient.models import fhirabstractbase, fhirelementfactory

from transitions.adt import feed, hl7v2, service
from transitions.adt.models import AdtMessage, message_key
from transitions.core.clock import zone
from transitions.core.db import db
from transitions.core.errors import DomainError
from transitions.core.fhirmodels import model_issues
from transitions.identity.models import HL7_FACILITY_KINDS, Organization

CHANNEL = "fhir"
KEY_PREFIX = "fhir:"
MESSAGE_TYPE = "FHIR"
VERSION = "4.0.1"
EVENT_SYSTEM = "http://hl7.org/fhir/us/davinci-alerts/CodeSystem/notification-event"
DISCHARGE_EVENT = "notification-discharge"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
# Encounter.class (v3-ActCode) as the PV1-2 patient class an A03 would carry: a hospital's inpatient stays (acute or
# not) are followed, its emergency and outpatient encounters are not (a residential program's are, whatever class).
PATIENT_CLASS = {
    "IMP": "I",
    "ACUTE": "I",
    "NONAC": "I",
    "EMER": "E",
    "AMB": "O",
    "OBSENC": "O",
    "SS": "O",
    "HH": "O",
    "VR": "O",
    "FLD": "O",
    "PRENC": "P",
}
# Where the shared discharge path names its fields when it refuses one.
FIELDS = {"date": "Encounter.period.end", "payer": "Coverage.payor"}
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
FHIR_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FHIR_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?$")
ORGANIZATION_REFERENCE = re.compile(r"^Organization/([A-Za-z0-9\-.]{1,64})$")
ENTRY_PATH = re.compile(r"^Bundle\.entry\[(\d+)\]\.resource(\..*)?$")
FIELD_WIDTH = 200
CLASS_NAME = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'>")


@dataclass
class Header:
    """What identifies a message, read leniently before it is stored: the sender (a registered facility id, or
    Organization/{id}), the MessageHeader's id and the event's code."""

    facility_id: str | None = None
    control_id: str | None = None
    trigger: str | None = None
    readable: bool = False


@dataclass
class Answer:
    """The stored message and the HTTP status its answer carries: 200 (a response message Bundle, code ok), 400
    (not JSON) or 422 (refused: an OperationOutcome naming the element)."""

    message: AdtMessage
    status: int


def receive(raw, now, sender_organization_id=None):
    """Store raw, apply it once, and answer. Commits twice, as the HL7 path does: the stored message before anything
    is applied, then the change together with the message's state."""
    document, problem = _json(raw)
    header = _header(document) if problem is None else Header()
    row = _store(raw, now, header, sender_organization_id)
    db.session.commit()
    if problem is not None:
        return refuse_unreadable(row, problem, now)
    return _apply_stored(row.id, document, now, sender_organization_id)


def receive_unreadable(raw, reason, now, sender_organization_id=None):
    """A body the FHIR interface refused before reading it (not JSON, a key twice, too deep, a lone surrogate):
    stored all the same, as rejected, so that nothing a sender submitted is lost."""
    row = _store(raw, now, Header(), sender_organization_id)
    return refuse_unreadable(row, reason, now)


def refuse_unreadable(row, reason, now):
    service._finish(row, feed.Outcome("rejected", "AR", reason, None, hl7v2.APPLICATION_ERROR), now)
    db.session.commit()
    return Answer(row, status_of(row))


def reprocess(message_id, now):
    """Run a stored FHIR message again (its sender registered since, say); returns its state after."""
    row = db.session.get(AdtMessage, message_id)
    if row.message_type is None:
        return row.state  # never read as FHIR (not JSON, or JSON the interface refuses): it stays refused
    document, problem = _json(row.raw)
    if problem is not None:
        return row.state
    return _apply_stored(row.id, document, now, row.sender_organization_id, service.REPROCESSABLE).message.state


def status_of(row):
    """The HTTP status a stored message is answered with, the first time and every repeat alike."""
    if row.state in ("processed", "ignored"):
        return 200
    return 400 if row.message_type is None else 422


# ---------------------------------------------------------------- storing


def _json(raw):
    """(document, None), or (None, why) for bytes that are not JSON."""
    try:
        return json.loads(bytes(raw).decode("utf-8")), None
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, "The body is not JSON: a FHIR message Bundle is sent as application/fhir+json."


def _header(document):
    """The message's identity as far as it can be read, for storing it (a refusal of anything is for later)."""
    header = Header(readable=True)
    message_header = _message_header(document)
    if message_header is None:
        return header
    if isinstance(message_header.get("id"), str):
        header.control_id = message_header["id"][:200] or None
    code = _at(message_header, "eventCoding", "code")
    if isinstance(code, str):
        header.trigger = code.removeprefix("notification-")[:10] or None
    candidates = _sender_ids(document, message_header)
    if candidates:
        registered = [value for value in candidates if _organization_of(value) is not None]
        header.facility_id = (registered or candidates)[0][:100]
    return header


def _store(raw, now, header, sender_organization_id):
    """The message as it arrived, committed by the caller; a repeat of (sender, message id) is the stored row."""
    row = AdtMessage(raw=bytes(raw), size=len(raw), channel=CHANNEL, received_at=now, state="received", attempts=0)
    row.sender_organization_id = sender_organization_id
    if header.readable:
        row.message_type, row.version = MESSAGE_TYPE, VERSION
        row.facility_id, row.control_id, row.trigger = header.facility_id, header.control_id, header.trigger
    if row.facility_id is None or row.control_id is None or not _may_speak_for(sender_organization_id, header):
        return service.store_row(row, None)
    return service.store_row(row, KEY_PREFIX + message_key(row.facility_id, row.control_id))


def _may_speak_for(sender_organization_id, header):
    """As for HL7: a planner's message claims its sender's key only when the sender is their organization."""
    if sender_organization_id is None:
        return True
    organization = _organization_of(header.facility_id)
    return organization is not None and organization.id == sender_organization_id


# ---------------------------------------------------------------- applying


def _apply_stored(message_id, document, now, sender_organization_id=None, runnable=("received",)):
    row = service._claim(message_id)
    if row.state in runnable:
        row.attempts = (row.attempts or 0) + 1
        try:
            with db.session.begin_nested():
                outcome = _apply(document, now, sender_organization_id, row)
        except hl7v2.Refusal as refusal:
            outcome = feed.Outcome("rejected", "AR", refusal.reason, _width(refusal.field), refusal.error)
        except DomainError as error:
            field = FIELDS["date"] if error.errors and "discharge_date" in error.errors else None
            # The domain's words name the A03's field; this message's is the Encounter's.
            reason = "Not applied: %s" % feed.why(error).replace("PV1-45", FIELDS["date"])
            outcome = feed.Outcome("rejected", "AR", reason, field, hl7v2.APPLICATION_ERROR)
        _finish(row, outcome, now)
    db.session.commit()
    return Answer(row, status_of(row))


def _finish(row, outcome, now):
    if row.organization_id is None and row.facility_id:
        organization = _organization_of(row.facility_id)
        row.organization_id = organization.id if organization is not None else None
    service._finish(row, outcome, now)


def _apply(document, now, sender_organization_id, row):
    """The message checked element by element (a Refusal naming the FHIRPath at fault), then applied as an A03."""
    message_header = _check_bundle(document)
    entries = _entries(document)
    _check_event(message_header)
    organization = _sender(document, message_header, sender_organization_id)
    encounter = _focus_encounter(message_header, entries)
    discharged_on = _date_of(
        _at(encounter, "period", "end"), "Encounter.period.end", with_time=True, zone_name=organization.timezone
    )
    patient_resource = _resolve(entries, _at(encounter, "subject", "reference"))
    if _kind(patient_resource) != "Patient":
        raise _refusal("Encounter.subject", "Encounter.subject must reference the Bundle's Patient.", "missing")
    patient = _patient(patient_resource, encounter, _coverages(entries, patient_resource))
    admitted_on = _admitted_on(_at(encounter, "period", "start"), organization)
    return service.apply_discharge(patient, organization, discharged_on, now, row.id, FIELDS, admitted_on)


def _admitted_on(value, organization):
    """Encounter.period.start's day when it reads as one (a correction of the same stay is matched by it; a start the
    service cannot read refuses nothing, as the discharge does not depend on it)."""
    try:
        return _date_of(value, "Encounter.period.start", with_time=True, zone_name=organization.timezone)
    except hl7v2.Refusal:
        return None


def _check_bundle(document):
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise _refusal("Bundle", "Not a FHIR resource: resourceType is missing.")
    if document["resourceType"] != "Bundle":
        raise _refusal("Bundle", "$process-message takes a message Bundle, not a %s." % document["resourceType"])
    if document.get("type") != "message":
        raise _refusal("Bundle.type", "The Bundle's type must be message (was %r)." % (document.get("type"),))
    try:
        fhirelementfactory.FHIRElementFactory.instantiate("Bundle", document)
    except fhirabstractbase.FHIRValidationError as error:
        issue = next(model_issues(error, "Bundle"), None)
        path, message = (issue[0], _readable(issue[1])) if issue else ("Bundle", str(error))
        raise _refusal(_resource_path(document, path), "Not valid FHIR R4: %s" % message) from None
    message_header = _message_header(document)
    if message_header is None:
        raise _refusal("Bundle.entry[0].resource", "A message Bundle's first entry is its MessageHeader.")
    if not message_header.get("id"):
        raise _refusal("MessageHeader.id", "MessageHeader.id (the message's id) is required.", "missing")
    if not FHIR_ID.match(message_header["id"]):
        raise _refusal("MessageHeader.id", "MessageHeader.id must be a FHIR id: 1-64 letters, digits, '-' or '.'.")
    return message_header


def _readable(message):
    """fhirclient's words without Python's: class names bare, and its slip on a list of non-objects said plainly."""
    if "is not defined" in message:
        return "Expected an object (or a list of objects) here."
    return CLASS_NAME.sub(r"\1", message)


def _resource_path(document, path):
    """Bundle.entry[1].resource.period.end as the FHIRPath the other refusals use: Encounter.period.end."""
    match = ENTRY_PATH.match(path)
    entries = _list(document.get("entry"))
    if match is None or int(match[1]) >= len(entries):
        return path
    kind = _kind(entries[int(match[1])].get("resource") if isinstance(entries[int(match[1])], dict) else None)
    return "%s%s" % (kind, match[2] or "") if isinstance(kind, str) else path


def _check_event(message_header):
    coding = message_header.get("eventCoding") or {}
    if coding.get("system") != EVENT_SYSTEM or coding.get("code") != DISCHARGE_EVENT:
        event = message_header.get("eventUri") or "%s|%s" % (coding.get("system") or "", coding.get("code") or "")
        raise _refusal(
            "MessageHeader.eventCoding",
            "Only the discharge notification is taken (eventCoding %s|%s); this message's event is %s."
            % (EVENT_SYSTEM, DISCHARGE_EVENT, event),
            "not-supported",
        )


def _sender(document, message_header, sender_organization_id):
    """The hospital or residential organization the message speaks for, as the HL7 path decides it for MSH-4: a
    registered facility id (MessageHeader.sender.identifier, or an identifier of the Organization it references in
    the Bundle) or this service's Organization/{id}; a planner speaks for their own organization only."""
    candidates = _sender_ids(document, message_header)
    if not candidates:
        raise _refusal(
            "MessageHeader.sender",
            "MessageHeader.sender must name the sending facility: an identifier registered as its HL7 facility id, "
            "an Organization in the Bundle carrying one, or Organization/{id} of this service.",
            "missing",
        )
    organizations = {}
    for value in candidates:
        try:
            organization = _organization_of(value, strict=True)
        except hl7v2.Refusal as refusal:
            if len(candidates) == 1:
                raise _refusal("MessageHeader.sender", refusal.reason, "not-found") from None
            continue
        organizations.setdefault(organization.id, organization)
    if len(organizations) != 1:
        why = "none is registered" if not organizations else "they name more than one organization"
        raise _refusal(
            "MessageHeader.sender", "The sender's identifiers (%s): %s." % (", ".join(candidates)[:200], why)
        )
    organization = next(iter(organizations.values()))
    if sender_organization_id is not None and organization.id != sender_organization_id:
        raise _refusal("MessageHeader.sender", "The sending facility is not your organization's.", "forbidden")
    return organization


def _sender_ids(document, message_header):
    sender = message_header.get("sender")
    if not isinstance(sender, dict):
        return []
    found = []
    value = _at(sender, "identifier", "value")
    if isinstance(value, str) and value.strip():
        found.append(value.strip())
    reference = sender.get("reference")
    if isinstance(reference, str):
        resource = _resolve(_entries(document), reference)
        if _kind(resource) == "Organization":
            for identifier in _list(resource.get("identifier")):
                if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
                    found.append(identifier["value"].strip())
        elif ORGANIZATION_REFERENCE.match(reference):
            found.append(reference)
    return [value for value in found if value]


def _organization_of(value, strict=False):
    """The hospital or residential organization a sender id names: Organization/{id} of this service, or a
    registered HL7 facility id (None, or a Refusal when strict, for none or several)."""
    if not value:
        return None
    match = ORGANIZATION_REFERENCE.match(value)
    if match is None:
        return feed.facility_organization(value[:100], strict=strict)
    organization = db.session.get(Organization, match[1])
    if organization is None or organization.kind not in HL7_FACILITY_KINDS:
        if strict:
            raise hl7v2.Refusal(
                "AR", None, hl7v2.UNKNOWN_KEY, "The sending facility %s is no hospital or residential program." % value
            )
        return None
    return organization


def _focus_encounter(message_header, entries):
    for index, focus in enumerate(_list(message_header.get("focus"))):
        resource = _resolve(entries, _at(focus, "reference"))
        if _kind(resource) == "Encounter":
            return resource
        if resource is None:
            raise _refusal(
                "MessageHeader.focus[%d]" % index, "MessageHeader.focus must resolve inside the Bundle.", "not-found"
            )
    raise _refusal(
        "MessageHeader.focus", "A discharge notification's focus is the Encounter the patient left.", "missing"
    )


def _patient(resource, encounter, coverages):
    names = [name for name in _list(resource.get("name")) if isinstance(name, dict)]
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    givens = [g.strip() for g in _list(name.get("given")) if isinstance(g, str) and g.strip()]
    given = " ".join(givens)
    family = (name.get("family") or "").strip() if isinstance(name.get("family"), str) else ""
    if not given or not family:
        raise _refusal("Patient.name", "The patient's family and given name are required.", "required")
    birth_date = _date_of(resource.get("birthDate"), "Patient.birthDate")
    class_code = _at(encounter, "class", "code")
    member_ids = [
        identifier["value"].strip()
        for identifier in _list(resource.get("identifier"))
        if isinstance(identifier, dict)
        and isinstance(identifier.get("value"), str)
        and identifier["value"].strip()
        and any(
            isinstance(coding, dict) and coding.get("code") in hl7v2.MEMBER_ID_TYPES
            for coding in _list(_at(identifier, "type", "coding"))
        )
    ]
    return hl7v2.Patient(
        given_name=given[:100],
        family_name=family[:100],
        birth_date=birth_date,
        patient_class=PATIENT_CLASS.get(class_code, class_code if isinstance(class_code, str) else "")[:10],
        member_ids=member_ids + [member for _, member in coverages if member],
        payer_ids=[payer for payer, _ in coverages],
        other_given_name=givens[0][:100] if len(givens) > 1 else "",
        coverages=coverages,
        plan_member_ids=member_ids,
    )


def _coverages(entries, patient):
    """(payer id, member id or "") of each Coverage of the patient in the Bundle, one pair per payor: the payor's
    identifier, or the identifiers of the Organization it references; the member id is subscriberId, else the
    Coverage's first identifier."""
    found = []
    for index, (_, resource) in enumerate(item for item in entries if _kind(item[1]) == "Coverage"):
        beneficiary = _resolve(entries, _at(resource, "beneficiary", "reference"))
        if beneficiary is not patient:
            raise _refusal(
                "Coverage.beneficiary", "Coverage[%d].beneficiary must reference the Encounter's Patient." % index
            )
        member = resource.get("subscriberId")
        if not isinstance(member, str) or not member.strip():
            identifiers = [i.get("value") for i in _list(resource.get("identifier")) if isinstance(i, dict)]
            member = next((i for i in identifiers if isinstance(i, str) and i.strip()), "")
        for payor in _list(resource.get("payor")):
            payers = [_at(payor, "identifier", "value")]
            organization = _resolve(entries, _at(payor, "reference"))
            if _kind(organization) == "Organization":
                payers += [_at(identifier, "value") for identifier in _list(organization.get("identifier"))]
            for payer in payers:
                if isinstance(payer, str) and payer.strip():
                    found.append((payer.strip(), member.strip()))
    return found


def _date_of(value, where, with_time=False, zone_name=None):
    """A FHIR date (or dateTime: its own calendar day, the sender's wall clock, as PV1-45 is) naming a whole day; a
    dateTime in UTC (Z, +00:00) has no wall clock of its own, so with zone_name its day is the one in that zone (the
    facility's), as hl7v2.hl7_date reads a PV1-45 in UTC."""
    if not isinstance(value, str) or not value:
        raise _refusal(where, "%s is required." % where, "required")
    match = (FHIR_DATE_TIME if with_time else FHIR_DATE).match(value)
    try:
        if match is None:
            raise ValueError(value)
        if int(value[:4]) < hl7v2.EARLIEST_YEAR:
            raise ValueError(value)
        if zone_name is not None and with_time and match[4] in ("Z", "+00:00", "-00:00"):
            return datetime.fromisoformat(value).astimezone(zone(zone_name)).date()
        return date.fromisoformat(value[:10])
    except (ValueError, OverflowError):  # OverflowError: a UTC time at the edge of year 9999, moved into a zone
        kind = "a date (YYYY-MM-DD) or a dateTime with its time zone" if with_time else "a full date (YYYY-MM-DD)"
        raise _refusal(where, "%s must be %s (was %r)." % (where, kind, value[:40]), "value") from None


# ---------------------------------------------------------------- reading the Bundle


def _message_header(document):
    entries = _list(document.get("entry")) if isinstance(document, dict) else []
    first = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    return first if _kind(first) == "MessageHeader" else None


def _entries(document):
    """[(fullUrl or None, resource)] of the Bundle's entries that carry a resource."""
    found = []
    for entry in _list(document.get("entry")):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
            found.append((full_url, entry["resource"]))
    return found


def _resolve(entries, reference):
    """The Bundle's resource a reference names: by fullUrl, or Type/id (also as the end of a fullUrl)."""
    if not isinstance(reference, str) or not reference:
        return None
    for full_url, resource in entries:
        if full_url == reference:
            return resource
    for full_url, resource in entries:
        local = "%s/%s" % (resource.get("resourceType"), resource.get("id"))
        if reference == local or ((full_url or "").endswith("/" + reference) and reference.count("/") == 1):
            return resource
    return None


def _kind(resource):
    return resource.get("resourceType") if isinstance(resource, dict) else None


def _at(document, *path):
    for step in path:
        if not isinstance(document, dict):
            return None
        document = document.get(step)
    return document


def _list(value):
    return value if isinstance(value, list) else []


def _width(field):
    return field[:FIELD_WIDTH] if field else field


# OperationOutcome issue codes (http://hl7.org/fhir/issue-type) by refusal kind, kept as the error code's meaning.
ISSUE_ERRORS = {
    "invalid": hl7v2.DATA_TYPE_ERROR,
    "required": hl7v2.REQUIRED_FIELD_MISSING,
    "missing": hl7v2.REQUIRED_FIELD_MISSING,
    "value": hl7v2.DATA_TYPE_ERROR,
    "not-supported": hl7v2.TABLE_VALUE_NOT_FOUND,
    "not-found": hl7v2.UNKNOWN_KEY,
    "forbidden": hl7v2.UNKNOWN_KEY,
}


def _refusal(where, reason, kind="invalid"):
    return hl7v2.Refusal("AR", _width(where), ISSUE_ERRORS[kind], reason)
