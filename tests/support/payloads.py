"""Valid request bodies for tests to start from and spoil one field at a time."""

import copy


def program(**overrides):
    body = {
        "name": "Lakeview Evening IOP",
        "zip": "60601",
        "state": "IL",
        "phone": "312-555-0100",
        "services": ["mental_health", "co_occurring"],
        "min_age": 18,
        "max_age": 64,
        "gender": "any",
        "languages": ["en", "es"],
        "interpreter_services": True,
        "payers": ["acme-health", "medicaid-il"],
        "self_pay": True,
        "mat": True,
        "accepts_from": ["inpatient_psych", "residential"],
        "telehealth_states": ["IL", "IN"],
    }
    body.update(overrides)
    return body


def track(**overrides):
    body = {
        "name": "Evening track",
        "modality": "in_person",
        "timezone": "America/Chicago",
        "sessions": [
            {"day": "mon", "start": "18:00", "end": "21:00"},
            {"day": "wed", "start": "18:00", "end": "21:00"},
            {"day": "thu", "start": "18:00", "end": "21:00"},
        ],
        "capacity": 8,
    }
    body.update(overrides)
    return body


def referral(**overrides):
    body = {
        "patient": {
            "given_name": "Maria",
            "family_name": "Lopez",
            "birth_date": "1990-04-12",
            "gender": "female",
            "language": "es",
            "zip": "60614",
            "phone": "773-555-0199",
        },
        "coverage": {"payer_id": "acme-health", "member_id": "ACM123456"},
        "origin": "inpatient_psych",
        "need": "mental_health",
        "diagnoses": ["F33.1"],
        "needs_mat": False,
        "discharge_date": "2026-12-03",
        "availability": [
            {"day": "mon", "start": "17:00", "end": "22:00"},
            {"day": "wed", "start": "17:00", "end": "22:00"},
            {"day": "thu", "start": "17:00", "end": "22:00"},
        ],
        "timezone": "America/Chicago",
        "modality": "either",
        "max_travel_miles": 20,
        "notes": "Prefers evening groups; works days.",
    }
    body = copy.deepcopy(body)
    for key, value in overrides.items():
        if key == "patient":
            body["patient"].update(value)
        else:
            body[key] = value
    return body
