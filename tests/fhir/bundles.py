"""A valid referral transaction Bundle for tests to start from and spoil one element at a time (no tests here)."""

import copy
import itertools

EXT = "http://localhost/fhir/r4/StructureDefinition/"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
_serial = itertools.count(1)


def entry(name, resource):
    return {
        "fullUrl": "urn:uuid:%s" % name,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def referral_bundle(given=None, codes=("F33.1",), coverage=True, consent=None, task=True, discharge="2026-12-03"):
    """The Bundle of the JSON API's payloads.referral(): Maria Lopez, acme-health, F33.1, evenings in Chicago."""
    given = given or "Maria%d" % next(_serial)
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Lopez", "given": [given]}],
        "gender": "female",
        "birthDate": "1990-04-12",
        "address": [{"postalCode": "60614"}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}}],
        "telecom": [{"system": "phone", "value": "773-555-0199"}],
    }
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "urn:uuid:patient"},
        "period": {"start": "2026-11-20", "end": discharge},
    }
    windows = [
        {
            "url": EXT + "availability",
            "extension": [
                {"url": "day", "valueCode": day},
                {"url": "start", "valueTime": "17:00:00"},
                {"url": "end", "valueTime": "22:00:00"},
            ],
        }
        for day in ("mon", "wed", "thu")
    ]
    request = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "urn:uuid:patient"},
        "encounter": {"reference": "urn:uuid:encounter"},
        "reasonCode": [{"coding": [{"system": ICD10CM, "code": code}]} for code in codes],
        "note": [{"text": "Prefers evening groups; works days."}],
        "extension": [
            *windows,
            {"url": EXT + "timezone", "valueCode": "America/Chicago"},
            {"url": EXT + "modality", "valueCode": "either"},
            {"url": EXT + "travel-limit", "valueDecimal": 20},
            {"url": EXT + "mat", "valueBoolean": False},
        ],
    }
    entries = [entry("patient", patient), entry("encounter", encounter)]
    if coverage:
        request["insurance"] = [{"reference": "urn:uuid:coverage"}]
        entries.append(
            entry(
                "coverage",
                {
                    "resourceType": "Coverage",
                    "status": "active",
                    "beneficiary": {"reference": "urn:uuid:patient"},
                    "payor": [{"identifier": {"value": "acme-health"}}],
                    "subscriberId": "ACM123456",
                },
            )
        )
    if consent:
        entries.append(
            entry(
                "consent",
                {
                    "resourceType": "Consent",
                    "status": "active",
                    "scope": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
                        ]
                    },
                    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                    "patient": {"reference": "urn:uuid:patient"},
                    "dateTime": consent,
                    "policy": [{"uri": "https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2"}],
                },
            )
        )
    entries.append(entry("request", request))
    if task:
        entries.append(
            entry(
                "task",
                {
                    "resourceType": "Task",
                    "status": "requested",
                    "intent": "order",
                    "focus": {"reference": "urn:uuid:request"},
                    "for": {"reference": "urn:uuid:patient"},
                },
            )
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": copy.deepcopy(entries)}


def resource(bundle, kind):
    """The resource of this type in the Bundle (to spoil it in place)."""
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)
