"""Organizations and users as admins shape them: creation, the role and organization-kind rules, tokens."""

from transitions.core.db import db
from transitions.core.errors import Conflict, ValidationFailed
from transitions.identity.models import ROLE_ORG_KINDS, Organization, User
from transitions.identity.tokens import generate_token, hash_token


def create_organization(name, kind, payer_ids=()):
    organization = Organization(name=name, kind=kind, payer_ids=list(payer_ids))
    db.session.add(organization)
    db.session.flush()
    return organization


def update_organization(organization, changes):
    if "payer_ids" in changes and changes["payer_ids"] and organization.kind != "health_plan":
        raise ValidationFailed({"payer_ids": ["Only health plans follow payer ids."]})
    for key, value in changes.items():
        setattr(organization, key, value)
    db.session.flush()
    return organization


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
