"""A transaction Bundle read into the body POST /api/v1/referrals takes, then loaded through the API's own schema,
so the same rules refuse the same mistakes; every refusal names the FHIR element it came from."""

import zipcodes
from fhirclient.models import fhirabstractbase, fhirelementfactory
from marshmallow import ValidationError

from transitions.core import codes
from transitions.core.fhirmodels import model_issues
from transitions.fhir import extensions
from transitions.fhir.outcome import FhirInvalid
from transitions.referrals.schemas import ReferralInSchema

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# The resources a referral Bundle may hold, and how many of each (min, max).
ENTRY_COUNTS = {
    "Patient": (1, 1),
    "Encounter": (1, 1),
    "ServiceRequest": (1, 1),
    "Coverage": (0, 1),
    "Consent": (0, 1),
    "Task": (0, 1),
}
# Encounter.class (http://terminology.hl7.org/CodeSystem/v3-ActCode) -> the referral's origin.
ORIGIN_BY_CLASS = {"IMP": "inpatient_psych", "ACUTE": "inpatient_psych", "NONAC": "residential"}
GENDERS = {"female": "female", "male": "male", "other": "nonbinary", "unknown": "unknown"}
# ICD-10-CM categories of substance use disorders (F10-F19).
SUBSTANCE_USE_CATEGORIES = tuple("F1%d" % digit for digit in range(10))

# Where each field of the API body comes from, to name the element a schema message is about.
ELEMENTS = {
    "patient.given_name": "Patient.name[0].given",
    "patient.family_name": "Patient.name[0].family",
    "patient.birth_date": "Patient.birthDate",
    "patient.gender": "Patient.gender",
    "patient.language": "Patient.communication[0].language",
    "patient.zip": "Patient.address[0].postalCode",
    "patient.phone": "Patient.telecom",
    "coverage.payer_id": "Coverage.payor[0].identifier.value",
    "coverage.member_id": "Coverage.subscriberId",
    "coverage.self_pay": "Coverage",
    "coverage": "Coverage",
    "origin": "Encounter.class",
    "need": "ServiceRequest.extension('%s')",
    "discharge_date": "Encounter.period.end",
    "availability": "ServiceRequest.extension('%s')",
    "timezone": "ServiceRequest.extension('%s')",
    "modality": "ServiceRequest.extension('%s')",
    "max_travel_miles": "ServiceRequest.extension('%s')",
    "needs_mat": "ServiceRequest.extension('%s')",
    "part2_consent.signed_on": "Consent.dateTime",
    "part2_consent.expires_on": "Consent.provision.period.end",
    "notes": "ServiceRequest.note",
}
EXTENSION_OF_FIELD = {
    "need": "need",
    "availability": "availability",
    "timezone": "timezone",
    "modality": "modality",
    "max_travel_miles": "travel-limit",
    "needs_mat": "mat",
}


def referral_from_bundle(bundle):
    """The referral data referrals.commands.submit_referral takes, loaded through the API's ReferralInSchema;
    FhirInvalid naming the element for anything the Bundle or the referral rules refuse."""
    body, diagnosis_elements = referral_body(read_entries(bundle))
    try:
        return ReferralInSchema().load(body)
    except ValidationError as error:
        located = _located_diagnoses(body.get("diagnoses") or [], diagnosis_elements)
        raise FhirInvalid(list(_issues(error.messages, "", located))) from None


# ---------------------------------------------------------------- the Bundle's shape


def read_entries(bundle):
    """{resourceType: (index, resource)} for a transaction Bundle of a referral, each resource parsed strictly."""
    if not isinstance(bundle, dict) or "resourceType" not in bundle:
        raise FhirInvalid([("resourceType", "Not a FHIR resource: resourceType is missing.")])
    if bundle["resourceType"] != "Bundle":
        raise FhirInvalid([("resourceType", "POST /fhir/r4 takes a transaction Bundle, not a %s." % _named(bundle))])
    if bundle.get("type") != "transaction":
        raise FhirInvalid([("Bundle.type", "The Bundle's type must be transaction (was %s)." % bundle.get("type"))])
    _parse_strictly("Bundle", bundle, "Bundle")
    found = {}
    for index, entry in enumerate(bundle.get("entry") or []):
        where = "Bundle.entry[%d]" % index
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            raise FhirInvalid([(where + ".resource", "Every entry carries a resource.")])
        kind = resource.get("resourceType")
        if kind not in ENTRY_COUNTS:
            raise FhirInvalid([(where + ".resource", "A referral Bundle holds no %s." % _named(resource))])
        request = entry.get("request") or {}
        if request.get("method") != "POST":
            raise FhirInvalid([(where + ".request.method", "Every entry of a referral Bundle is a POST (a create).")])
        if kind in found:
            raise FhirInvalid([(where + ".resource", "A referral Bundle holds one %s, not more." % kind)])
        if resource.get("modifierExtension"):
            raise FhirInvalid(
                [(where + ".resource.modifierExtension", "This service understands no modifier extension.")]
            )
        found[kind] = (index, entry)
    for kind, (least, _) in ENTRY_COUNTS.items():
        if least and kind not in found:
            raise FhirInvalid([("Bundle.entry", "A referral Bundle needs a %s." % kind)])
    _check_references(found)
    return {kind: entry["resource"] for kind, (_, entry) in found.items()}


def _named(resource):
    kind = resource.get("resourceType")
    return kind if isinstance(kind, str) else "resource without a resourceType"


def _parse_strictly(kind, document, root):
    """fhirclient's FHIR 4.0.1 model refuses unknown elements and wrong types; its complaints become issues."""
    try:
        fhirelementfactory.FHIRElementFactory.instantiate(kind, document)
    except fhirabstractbase.FHIRValidationError as error:
        raise FhirInvalid(list(model_issues(error, root)) or [(root, str(error))]) from None


def _check_references(found):
    """Every reference between the Bundle's resources resolves inside it (by fullUrl, or Type/id)."""
    names = {}
    for kind, (_, entry) in found.items():
        if entry.get("fullUrl"):
            names[entry["fullUrl"]] = kind
        if entry["resource"].get("id"):
            names["%s/%s" % (kind, entry["resource"]["id"])] = kind
    wanted = [
        ("ServiceRequest", "subject", "Patient", True),
        ("ServiceRequest", "encounter", "Encounter", True),
        ("Encounter", "subject", "Patient", False),
        ("Coverage", "beneficiary", "Patient", True),
        ("Consent", "patient", "Patient", False),
        ("Task", "focus", "ServiceRequest", True),
        ("Task", "for", "Patient", False),
    ]
    for kind, element, target, required in wanted:
        if kind not in found:
            continue
        reference = (found[kind][1]["resource"].get(element) or {}).get("reference")
        if reference is None and not required:
            continue
        if names.get(reference) != target:
            raise FhirInvalid(
                [("%s.%s" % (kind, element), "Must reference the Bundle's %s (got %r)." % (target, reference))]
            )
    insurance = found.get("ServiceRequest")[1]["resource"].get("insurance") or []
    for index, item in enumerate(insurance):
        if names.get(item.get("reference")) != "Coverage":
            raise FhirInvalid([("ServiceRequest.insurance[%d]" % index, "Must reference the Bundle's Coverage.")])
    if "Coverage" in found and not insurance:
        raise FhirInvalid([("ServiceRequest.insurance", "Must reference the Bundle's Coverage.")])


# ---------------------------------------------------------------- the API body


def referral_body(entries):
    """The POST /api/v1/referrals body the resources say, and the element each diagnosis came from."""
    patient, encounter, request = entries["Patient"], entries["Encounter"], entries["ServiceRequest"]
    diagnoses, diagnosis_elements = _diagnoses(request)
    body = {
        "patient": _patient(patient),
        "coverage": _coverage(entries.get("Coverage")),
        "origin": _origin(encounter),
        "need": extensions.value(request, "need", "valueCode") or _need(diagnoses),
        "diagnoses": diagnoses,
        "discharge_date": _discharge_date(encounter),
        "timezone": extensions.value(request, "timezone", "valueCode") or _zip_timezone(body_zip(patient)),
    }
    _request_details(request, body)
    if "Consent" in entries:
        body["part2_consent"] = _consent(entries["Consent"])
    if "Task" in entries:
        _check_task(entries["Task"])
    return {key: value for key, value in body.items() if value is not None}, diagnosis_elements


def _patient(patient):
    names = patient.get("name") or [{}]
    given = names[0].get("given") or []
    communication = patient.get("communication") or []
    language = None
    if communication:
        coding = (communication[0].get("language") or {}).get("coding") or [{}]
        language = (coding[0].get("code") or "").split("-")[0].lower() or None
    phones = [t.get("value") for t in patient.get("telecom") or [] if t.get("system") == "phone"]
    body = {
        "given_name": " ".join(given) if given else None,
        "family_name": names[0].get("family"),
        "birth_date": patient.get("birthDate"),
        "gender": GENDERS.get(patient.get("gender"), patient.get("gender")),
        "language": language or "en",
        "zip": body_zip(patient),
        "phone": phones[0] if phones else None,
    }
    return {key: value for key, value in body.items() if value is not None}


def body_zip(patient):
    for address in patient.get("address") or []:
        if address.get("postalCode"):
            return address["postalCode"].strip()[:5]
    return None


def _zip_timezone(zip_code):
    """The patient's time zone when the Bundle names none: their ZIP code's (None lets the schema say it is
    missing)."""
    try:
        found = zipcodes.matching(zip_code) if zip_code else []
    except (TypeError, ValueError):
        return None
    return found[0].get("timezone") if found else None


def _coverage(coverage):
    if coverage is None:
        return {"self_pay": True}
    payors = coverage.get("payor") or [{}]
    body = {"payer_id": (payors[0].get("identifier") or {}).get("value"), "member_id": coverage.get("subscriberId")}
    return {key: value for key, value in body.items() if value is not None}


def _origin(encounter):
    code = (encounter.get("class") or {}).get("code")
    if code not in ORIGIN_BY_CLASS:
        raise FhirInvalid(
            [("Encounter.class", "The stay's class must be IMP or ACUTE (inpatient psych) or NONAC (residential).")]
        )
    return ORIGIN_BY_CLASS[code]


def _discharge_date(encounter):
    end = (encounter.get("period") or {}).get("end")
    if not end:
        raise FhirInvalid([("Encounter.period.end", "The discharge date (Encounter.period.end) is required.")])
    return end[:10]


def _diagnoses(request):
    reasons = request.get("reasonCode") or []
    if not reasons:
        raise FhirInvalid([("ServiceRequest.reasonCode", "At least one ICD-10-CM reason code is required.")])
    diagnoses, elements = [], []
    for i, reason in enumerate(reasons):
        codings = reason.get("coding") or []
        if not codings:
            raise FhirInvalid([("ServiceRequest.reasonCode[%d].coding" % i, "Each reason carries an ICD-10-CM code.")])
        for j, coding in enumerate(codings):
            where = "ServiceRequest.reasonCode[%d].coding[%d]" % (i, j)
            if coding.get("system") != ICD10CM:
                raise FhirInvalid([(where + ".system", "Reason codes must be ICD-10-CM (%s)." % ICD10CM)])
            diagnoses.append(coding.get("code"))
            elements.append(where + ".code")
    return diagnoses, elements


def _need(diagnoses):
    normalized = [codes.normalize_icd10(code) or "" for code in diagnoses]
    substance = [code.startswith(SUBSTANCE_USE_CATEGORIES) for code in normalized]
    if all(substance):
        return "substance_use"
    return "co_occurring" if any(substance) else "mental_health"


def _request_details(request, body):
    if request.get("status") != "active" or request.get("intent") != "order":
        raise FhirInvalid([("ServiceRequest.status", "A referral's ServiceRequest is status active, intent order.")])
    modality = extensions.value(request, "modality", "valueCode")
    if modality is not None:
        body["modality"] = modality
    miles = extensions.value(request, "travel-limit", "valueDecimal")
    if miles is not None:
        body["max_travel_miles"] = miles
    mat = extensions.value(request, "mat", "valueBoolean")
    if mat is not None:
        body["needs_mat"] = mat
    windows = extensions.all_of(request, "availability")
    if windows:
        body["availability"] = [_window(window) for window in windows]
    notes = [note.get("text") for note in request.get("note") or [] if note.get("text")]
    if notes:
        body["notes"] = "\n\n".join(notes)


def _window(extension):
    parts = {part.get("url"): part for part in extension.get("extension") or []}
    window = {}
    for name, value_type in extensions.AVAILABILITY_PARTS.items():
        value = (parts.get(name) or {}).get("value" + value_type.capitalize())
        if value is None:
            raise FhirInvalid(
                [("ServiceRequest.extension('%s')" % extensions.url("availability"), "Each window has %s." % name)]
            )
        window[name] = value[:5] if value_type == "time" else value
    return window


def _consent(consent):
    signed = consent.get("dateTime")
    if not signed:
        raise FhirInvalid([("Consent.dateTime", "The date the patient signed the Part 2 consent is required.")])
    expires = (((consent.get("provision") or {}).get("period")) or {}).get("end")
    return {"signed_on": signed[:10], "expires_on": expires[:10] if expires else None}


def _check_task(task):
    if task.get("status") != "requested" or task.get("intent") != "order":
        raise FhirInvalid([("Task.status", "A new referral's Task is status requested, intent order.")])


# ---------------------------------------------------------------- the schema's messages as issues


def _located_diagnoses(codes_sent, elements):
    """message -> element for the diagnoses' messages: the API's error for them is one list of messages naming each
    code ("F99.99: not an ICD-10-CM code") or item ("item 2: …"), which are mapped back to their reasonCode."""

    def element_of(message):
        head = str(message).split(":", 1)[0]
        if head.startswith("item ") and head[5:].isdigit() and 0 < int(head[5:]) <= len(elements):
            return elements[int(head[5:]) - 1]
        if head in codes_sent:
            return elements[codes_sent.index(head)]
        return "ServiceRequest.reasonCode"

    return element_of


def _issues(messages, prefix, diagnosis_element):
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):  # a field validator's messages per list index
                yield from _issues(message, prefix.rstrip(".") + ".", diagnosis_element)
            else:
                yield _element(prefix.rstrip(".")), str(message)
        return
    for key, inner in messages.items():
        if prefix == "" and key == "diagnoses":
            for message in inner if isinstance(inner, list) else [inner]:
                yield diagnosis_element(message), str(message)
            continue
        yield from _issues(inner, "%s%s." % (prefix, key) if key != "_schema" else prefix, diagnosis_element)


def _element(field):
    top = field.split(".")[0]
    element = ELEMENTS.get(field) or ELEMENTS.get(top) or field
    if "%s" in element:
        element = element % extensions.url(EXTENSION_OF_FIELD[top])
    return element
