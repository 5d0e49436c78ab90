"""The extensions for what FHIR R4 has no element for: their canonical URLs (under this service) and the
StructureDefinition served for each at /fhir/r4/StructureDefinition/{id}."""

from flask import request

# id -> (title, the resources it extends, its value type or None for a complex one, what it says)
EXTENSIONS = {
    "availability": (
        "Weekly availability window",
        ("ServiceRequest",),
        None,
        "A weekly window the patient can attend: sub-extensions day (code mon..sun), start and end (time, local to "
        "the patient's time zone). Repeat for each window; absent means any time.",
    ),
    "modality": (
        "Modality",
        ("ServiceRequest", "HealthcareService"),
        "code",
        "in_person, telehealth or either (a track is in_person or telehealth); absent on a ServiceRequest = either.",
    ),
    "travel-limit": (
        "Travel limit in miles",
        ("ServiceRequest",),
        "decimal",
        "The farthest the patient can travel to an in-person program, in miles; absent = no limit.",
    ),
    "mat": (
        "Medication for addiction treatment",
        ("ServiceRequest", "HealthcareService"),
        "boolean",
        "On a ServiceRequest: the patient needs MAT (absent = false). On a HealthcareService: the program offers it.",
    ),
    "timezone": (
        "Time zone",
        ("ServiceRequest", "HealthcareService"),
        "code",
        "An IANA time zone name: the patient's home (absent: the time zone of the patient's ZIP code), or the one "
        "a track's availableTime is in.",
    ),
    "open-seats": (
        "Open seats",
        ("HealthcareService",),
        "unsignedInt",
        "Seats of the track open now: capacity less occupied and held seats.",
    ),
    "need": (
        "Clinical need",
        ("ServiceRequest",),
        "code",
        "mental_health, substance_use or co_occurring; absent = derived from the ICD-10-CM reason codes (F10-F19 "
        "only: substance_use; none of them: mental_health; both: co_occurring).",
    ),
    "part2-notice": (
        "42 CFR 2.32 notice",
        ("Task", "ServiceRequest", "Patient", "Coverage", "Consent", "Encounter"),
        "string",
        "The notice prohibiting redisclosure that accompanies every disclosure of a Part 2 (substance use) record.",
    ),
}
AVAILABILITY_PARTS = {"day": "code", "start": "time", "end": "time"}


def base_url():
    """This service's FHIR base, as the client reached it."""
    return request.host_url.rstrip("/") + "/fhir/r4"


def url(extension_id):
    """The canonical URL of one of EXTENSIONS."""
    return "%s/StructureDefinition/%s" % (base_url(), extension_id)


def urls():
    return [url(extension_id) for extension_id in EXTENSIONS]


def structure_definition(extension_id):
    """The StructureDefinition of one extension (None for an unknown id)."""
    if extension_id not in EXTENSIONS:
        return None
    title, contexts, value_type, description = EXTENSIONS[extension_id]
    elements = [
        {"id": "Extension", "path": "Extension", "short": title, "definition": description, "max": "*"},
        {"id": "Extension.url", "path": "Extension.url", "fixedUri": url(extension_id)},
    ]
    if value_type is None:
        elements.append({"id": "Extension.value[x]", "path": "Extension.value[x]", "max": "0"})
        for part, part_type in AVAILABILITY_PARTS.items():
            slice_id = "Extension.extension:%s" % part
            elements += [
                {"id": slice_id, "path": "Extension.extension", "sliceName": part, "min": 1, "max": "1"},
                {"id": slice_id + ".url", "path": "Extension.extension.url", "fixedUri": part},
                {
                    "id": slice_id + ".value[x]",
                    "path": "Extension.extension.value[x]",
                    "min": 1,
                    "type": [{"code": part_type}],
                },
            ]
    else:
        elements.append(
            {"id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1, "type": [{"code": value_type}]}
        )
    return {
        "resourceType": "StructureDefinition",
        "id": extension_id,
        "url": url(extension_id),
        "name": "".join(word.capitalize() for word in extension_id.split("-")),
        "title": title,
        "status": "active",
        "description": description,
        "fhirVersion": "4.0.1",
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": context} for context in contexts],
        "type": "Extension",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
        "derivation": "constraint",
        "differential": {"element": elements},
    }


def value(resource, extension_id, value_key):
    """The value of the first extension of this id on a parsed resource (a dict), or None."""
    for extension in resource.get("extension") or []:
        if extension.get("url") == url(extension_id):
            return extension.get(value_key)
    return None


def all_of(resource, extension_id):
    return [e for e in resource.get("extension") or [] if e.get("url") == url(extension_id)]
