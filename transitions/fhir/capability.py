"""The CapabilityStatement at /fhir/r4/metadata: every resource, interaction and search parameter served here."""

from transitions.fhir import extensions, messaging

RELEASE_DATE = "2026-11-30"
# resource -> (interactions, {search parameter: type}, what it is here)
RESOURCES = {
    "Task": (
        ("read", "search-type", "update", "patch"),
        {"focus": "reference", "status": "token", "owner": "reference", "part-of": "reference", "_lastUpdated": "date"},
        "The referral's Task (id = the referral's id) mirrors the referral; each offer is a child Task (id = the "
        "offer's id, partOf the referral's Task, owner the IOP provider). The IOP's coordinators PATCH (JSON Patch) "
        "or PUT their child Task to accepted (executionPeriod.start = intake date) or rejected (statusReason).",
    ),
    "ServiceRequest": (("read",), {}, "The referral's clinical request; id = the referral's id."),
    "Patient": (("read",), {}, "The referral's patient; id = the referral's id."),
    "Encounter": (("read",), {}, "The stay the patient is discharged from; id = the referral's id."),
    "Coverage": (("read",), {}, "The patient's coverage (none for self-pay); id = the referral's id."),
    "Consent": (("read",), {}, "The 42 CFR Part 2 consent; id = the referral's id."),
    "Organization": (("read", "search-type"), {"name": "string", "type": "token"}, "IOP providers, and your own."),
    "Location": (
        ("read", "search-type"),
        {"near": "special", "address-postalcode": "string", "address-state": "string", "organization": "reference"},
        "One per IOP program, at its ZIP centroid.",
    ),
    "HealthcareService": (
        ("read", "search-type"),
        {"location": "reference", "organization": "reference", "active": "token", "service-type": "token"},
        "One per IOP track, with its sessions, eligibility and open seats.",
    ),
    "StructureDefinition": (("read",), {}, "The extensions this service defines."),
}


def capability_statement():
    resources = []
    for kind, (interactions, parameters, documentation) in RESOURCES.items():
        entry = {"type": kind, "documentation": documentation, "interaction": [{"code": code} for code in interactions]}
        if parameters:
            entry["searchParam"] = [{"name": name, "type": kind_} for name, kind_ in parameters.items()]
        if kind == "StructureDefinition":
            entry["documentation"] += " " + " ".join(extensions.urls())
        if "update" in interactions:
            entry["updateCreate"] = False
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": RELEASE_DATE,
        "publisher": "Step-down transition coordination service",
        "kind": "instance",
        "software": {"name": "transitions"},
        "implementation": {"description": "Step-down transitions FHIR R4 interface", "url": extensions.base_url()},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Extensions: " + " ".join(extensions.urls()),
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "OAuth",
                                }
                            ],
                            "text": "Authorization: Bearer <token>, the tokens of /api/v1.",
                        }
                    ],
                    "description": "Every interaction but metadata needs a bearer token; another organization's "
                    "resource is a 404.",
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}],
                "operation": [
                    {
                        "name": "process-message",
                        "definition": messaging.OPERATION_DEFINITION,
                        "documentation": "POST /fhir/r4/$process-message: a discharge notification (a message Bundle, "
                        "Da Vinci notif-discharge style) from a hospital or residential program, into the ADT inbox.",
                    }
                ],
            }
        ],
        "messaging": [
            {
                "endpoint": [
                    {
                        "protocol": {
                            "system": "http://terminology.hl7.org/CodeSystem/message-transport",
                            "code": "http",
                        },
                        "address": messaging.endpoint(),
                    }
                ],
                "documentation": "Receives the discharge notification: MessageHeader.eventCoding %s|%s, focus the "
                "Encounter with period.end (the discharge), its subject Patient and the patient's Coverage in the "
                "Bundle; sent by a registered facility (MessageHeader.sender). Answered synchronously: a response "
                "message (code ok), or an OperationOutcome with a 4xx; a message id sent again is answered the same."
                % (messaging.EVENT["system"], messaging.EVENT["code"]),
            }
        ],
    }
