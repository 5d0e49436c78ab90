"""The IOP directory as FHIR: Organization (providers, and the caller's own), Location (one per program, with its
ZIP centroid), HealthcareService (one per track, with its live open seats); public to every authenticated user."""

from sqlalchemy import and_, not_, or_, select

from transitions.core import geo
from transitions.core.db import db, json_array_contains
from transitions.core.nul import looks_like_id
from transitions.directory import seats
from transitions.directory.models import Program, Track
from transitions.fhir import extensions
from transitions.fhir.outcome import FhirInvalid
from transitions.fhir.resources import code_system, instant, ref
from transitions.identity.models import Organization

ORGANIZATION_TYPES = {
    "hospital": ("prov", "Healthcare Provider"),
    "residential": ("prov", "Healthcare Provider"),
    "iop_provider": ("prov", "Healthcare Provider"),
    "health_plan": ("pay", "Payer"),
    "platform": ("other", "Other"),
}
ORGANIZATION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/organization-type"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# ---------------------------------------------------------------- Organization


def organization_visibility(user):
    """The directory's providers, the caller's own organization, and every organization for admins."""
    if user.role == "admin":
        return Organization.id.is_not(None)
    return or_(Organization.kind == "iop_provider", Organization.id == user.organization_id)


def organization(row):
    code, display = ORGANIZATION_TYPES.get(row.kind, ("other", "Other"))
    return {
        "resourceType": "Organization",
        "id": row.id,
        "meta": {"lastUpdated": instant(row.created_at)},
        "active": True,
        "type": [
            {"coding": [{"system": ORGANIZATION_TYPE_SYSTEM, "code": code, "display": display}], "text": row.kind}
        ],
        "name": row.name,
    }


def get_organization(user, organization_id):
    row = None
    if looks_like_id(organization_id):
        row = db.session.scalar(
            select(Organization).where(Organization.id == organization_id, organization_visibility(user))
        )
    if row is None:
        raise FhirInvalid([(None, "No Organization with this id.")], 404)
    return row


def organizations_query(user, found):
    query = select(Organization).where(organization_visibility(user))
    if "name" in found:
        query = query.where(Organization.name.ilike("%" + found["name"].replace("%", "") + "%"))
    if "type" in found:
        kinds = [kind for kind, (code, _) in ORGANIZATION_TYPES.items() if found["type"] in (code, kind)]
        query = query.where(Organization.kind.in_(kinds))
    return query


# ---------------------------------------------------------------- Location


def location(program):
    resource = {
        "resourceType": "Location",
        "id": program.id,
        "meta": {"lastUpdated": instant(program.updated_at)},
        "status": "active" if program.active else "inactive",
        "name": program.name,
        "mode": "instance",
        "address": {"postalCode": program.zip, "state": program.state, "country": "US"},
        "position": {"latitude": program.latitude, "longitude": program.longitude},
        "managingOrganization": ref("Organization", program.organization_id),
    }
    if program.phone:
        resource["telecom"] = [{"system": "phone", "value": program.phone}]
    return resource


def near(value):
    """LAT|LON|DISTANCE|mi (or km) as (latitude, longitude, miles)."""
    parts = value.split("|")
    try:
        latitude, longitude = float(parts[0]), float(parts[1])
        distance = float(parts[2]) if len(parts) > 2 and parts[2] else 25.0
        unit = parts[3] if len(parts) > 3 and parts[3] else "mi"
    except (ValueError, IndexError):
        raise FhirInvalid([("near", "near is LATITUDE|LONGITUDE|DISTANCE|mi.")], 400) from None
    if unit not in ("mi", "km") or not (-90 <= latitude <= 90 and -180 <= longitude <= 180 and 0 < distance <= 500):
        raise FhirInvalid([("near", "near is LATITUDE|LONGITUDE|DISTANCE|mi (distance up to 500).")], 400)
    return latitude, longitude, distance if unit == "mi" else distance / 1.609344


def locations_within(latitude, longitude, miles, found):
    """The programs within miles of the point, nearest first (a box the index answers, then the true distance)."""
    south, north, west, east = geo.bounding_box(latitude, longitude, miles)
    query = select(Program).where(
        Program.latitude.between(south, north), Program.longitude.between(west, east), *_program_filters(found)
    )
    rows = db.session.scalars(query).all()
    measured = [(geo.distance_miles(latitude, longitude, p.latitude, p.longitude), p.id, p) for p in rows]
    return [p for distance, _, p in sorted(measured, key=lambda m: m[:2]) if distance <= miles]


def _program_filters(found):
    filters = []
    if "address-postalcode" in found:
        filters.append(Program.zip == found["address-postalcode"])
    if "address-state" in found:
        filters.append(Program.state == found["address-state"].upper())
    if "organization" in found:
        filters.append(Program.organization_id == found["organization"])
    return filters


def locations_query(found):
    return select(Program).where(*_program_filters(found))


# ---------------------------------------------------------------- HealthcareService


def healthcare_service(track, program, open_seats):
    resource = {
        "resourceType": "HealthcareService",
        "id": track.id,
        "meta": {"lastUpdated": instant(max(track.updated_at, program.updated_at))},
        "extension": [
            {"url": extensions.url("open-seats"), "valueUnsignedInt": max(0, open_seats)},
            {"url": extensions.url("modality"), "valueCode": track.modality},
            {"url": extensions.url("mat"), "valueBoolean": bool(program.mat)},
            {"url": extensions.url("timezone"), "valueCode": track.timezone},
        ],
        "active": bool(track.active and program.active),
        "providedBy": ref("Organization", program.organization_id),
        "category": [{"text": "intensive outpatient program"}],
        "type": [{"coding": [{"system": code_system("service"), "code": s}], "text": s} for s in program.services],
        "location": [ref("Location", program.id)],
        "name": "%s - %s" % (program.name, track.name),
        "comment": "%s hours a week; %s seats." % (_hours(track.hours_per_week), track.capacity),
        "eligibility": _eligibility(program),
        "communication": [
            {"coding": [{"system": "urn:ietf:bcp:47", "code": language}]} for language in program.languages
        ],
        "availableTime": [
            {
                "daysOfWeek": [session["day"]],
                "availableStartTime": session["start"] + ":00",
                "availableEndTime": session["end"] + ":00",
            }
            for session in sorted(track.sessions, key=lambda s: (DAYS.index(s["day"]), s["start"]))
        ],
        "appointmentRequired": True,
    }
    if program.phone:
        resource["telecom"] = [{"system": "phone", "value": program.phone}]
    if track.modality == "telehealth":
        resource["serviceProvisionCode"] = [{"text": "telehealth in " + ", ".join(program.telehealth_states)}]
    return resource


def _hours(value):
    return ("%g" % value) if value is not None else "?"


def _eligibility(program):
    rules = [
        "ages %d-%d" % (program.min_age, program.max_age),
        "gender: %s" % program.gender,
        "payers: %s%s" % (", ".join(program.payers) or "none", "; self-pay" if program.self_pay else ""),
        "referred from: %s" % ", ".join(program.accepts_from),
    ]
    return [{"code": {"text": rule}} for rule in rules]


def services_query(found):
    query = select(Track).join(Program, Program.id == Track.program_id)
    if "location" in found:
        query = query.where(Track.program_id == found["location"])
    if "organization" in found:
        query = query.where(Program.organization_id == found["organization"])
    if "active" in found:
        if found["active"] not in ("true", "false"):
            raise FhirInvalid([("active", "active is true or false.")], 400)
        # A track is active when it and its program are (HealthcareService.active says both).
        both_active = and_(Track.active.is_(True), Program.active.is_(True))
        query = query.where(both_active if found["active"] == "true" else not_(both_active))
    if "service-type" in found:
        query = query.where(json_array_contains(Program.services, found["service-type"].rpartition("|")[2]))
    return query


def services(tracks, now):
    counts = seats.seat_counts(tracks, now)
    return [healthcare_service(track, track.program, counts[track.id]["open"]) for track in tracks]
