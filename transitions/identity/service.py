"""Organizations and users as admins shape them: creation, the role and organization-kind rules, tokens."""

from sqlalchemy import select

from transitions.core.db import db, json_array_contains
from transitions.core.errors import Conflict, ValidationFailed
from transitions.identity.models import (
    DEFAULT_ORGANIZATION_TIMEZONE,
    HL7_FACILITY_KINDS,
    ROLE_ORG_KINDS,
    Organization,
    User,
)
from transitions.identity.tokens import generate_token, hash_token


def create_organization(name, kind, payer_ids=(), hl7_facility_ids=(), timezone=DEFAULT_ORGANIZATION_TIMEZONE):
    _check_facilities(kind, list(hl7_facility_ids))
    organization = Organization(
        name=name, kind=kind, payer_ids=list(payer_ids), hl7_facility_ids=list(hl7_facility_ids), timezone=timezone
    )
    db.session.add(organization)
    db.session.flush()
    return organization


def update_organization(organization, changes):
    if "payer_ids" in changes and changes["payer_ids"] and organization.kind != "health_plan":
        raise ValidationFailed({"payer_ids": ["Only health plans follow payer ids."]})
    if "hl7_facility_ids" in changes:
        _check_facilities(organization.kind, changes["hl7_facility_ids"], organization.id)
    for key, value in changes.items():
        setattr(organization, key, value)
    db.session.flush()
    return organization


def _check_facilities(kind, facility_ids, organization_id=None):
    """HL7 facility ids only on hospital and residential organizations, and each on one organization only (an ADT
    message must speak for exactly one). Two admins registering the same id at the same instant could both pass:
    the ADT inbox refuses a facility that two organizations claim rather than guess."""
    if not facility_ids:
        return
    if kind not in HL7_FACILITY_KINDS:
        raise ValidationFailed({"hl7_facility_ids": ["Only hospital and residential organizations send HL7 feeds."]})
    for facility_id in facility_ids:
        query = select(Organization.name).where(json_array_contains(Organization.hl7_facility_ids, facility_id))
        if organization_id is not None:
            query = query.where(Organization.id != organization_id)
        with db.session.no_autoflush:
            holder = db.session.scalar(query.limit(1))
        if holder is not None:
            raise Conflict(
                "The HL7 facility id %s is already registered to %s." % (facility_id, holder),
                extra={"hl7_facility_id": facility_id},
            )


def create_user(email, organization_id, role):
    """Create a user; returns (user, token) and the token is never retrievable again."""
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        raise ValidationFailed({"organization_id": ["No organization with this id."]})
    if organization.kind not in ROLE_ORG_KINDS[role]:
        raise ValidationFailed(
            {
                "role": [
                    "A %s belongs to an organization of kind %s, not %s."
                    % (role, " or ".join(ROLE_ORG_KINDS[role]), organization.kind)
                ]
            }
        )
    email = email.strip().lower()
    if db.session.scalar(db.select(User.id).where(User.email == email)):
        raise Conflict("A user with this email already exists.")
    token = generate_token()
    user = User(email=email, organization_id=organization.id, role=role, token_hash=hash_token(token))
    db.session.add(user)
    db.session.flush()
    return user, token


def rotate_token(user):
    token = generate_token()
    user.token_hash = hash_token(token)
    db.session.flush()
    return token
