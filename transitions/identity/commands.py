"""The use cases of identity, one function each: organizations, users, their tokens and web passwords.

The API, the admin pages and the command line call these; each takes the acting user and plain values.
"""

from marshmallow import ValidationError

from transitions import policy
from transitions.core import audit
from transitions.core.db import db
from transitions.core.errors import Conflict, NotFound, ValidationFailed
from transitions.core.nul import looks_like_id
from transitions.identity import passwords, service
from transitions.identity.models import DEFAULT_ORGANIZATION_TIMEZONE, PLATFORM_KIND, Organization, User
from transitions.identity.schemas import UserInSchema

# The organization create-admin files admins under when none is named (created on first use).
PLATFORM_ORGANIZATION = "Platform administration"


def get_organization(actor, organization_id):
    """An organization the actor may read (admins any, others their own); anything else is a 404."""
    organization = db.session.get(Organization, organization_id) if looks_like_id(organization_id) else None
    if organization is None or not policy.READ_ORGANIZATION.allows(actor, organization):
        raise NotFound("No organization with this id.")
    return organization


def get_user(actor, user_id):
    """A user, for an admin."""
    policy.ADMINISTER.require(actor)
    user = db.session.get(User, user_id) if looks_like_id(user_id) else None
    if user is None:
        raise NotFound("No user with this id.")
    return user


def create_organization(actor, name, kind, payer_ids=(), hl7_facility_ids=(), timezone=DEFAULT_ORGANIZATION_TIMEZONE):
    policy.ADMINISTER.require(actor)
    return service.create_organization(name, kind, payer_ids, hl7_facility_ids, timezone)


def update_organization(actor, organization_id, changes):
    """Rename an organization, change the payer ids a plan follows or a hospital's HL7 facility ids."""
    policy.ADMINISTER.require(actor)
    return service.update_organization(get_organization(actor, organization_id), changes)


def create_user(actor, email, organization_id, role):
    """A new user and its bearer token, (user, token); the token is never retrievable again."""
    policy.ADMINISTER.require(actor)
    return service.create_user(email, organization_id, role)


def not_yourself(actor, user, what):
    # An admin who loses their own access through the API has no way back but the operator's command line.
    if user.id == actor.id:
        raise Conflict("You cannot %s yourself; another admin can." % what)


def rotate_token(actor, user_id):
    """Replace a user's token, (user, token): the old one stops working at once in this process and within
    TOKEN_CACHE_SECONDS in every other (transitions/identity/tokens.py)."""
    user = get_user(actor, user_id)
    not_yourself(actor, user, "replace the token of")
    return user, service.rotate_token(user)


def deactivate_user(actor, user_id):
    """Switch a user off: their token stops working (within TOKEN_CACHE_SECONDS in other processes), and their web
    sessions end at their next request."""
    user = get_user(actor, user_id)
    not_yourself(actor, user, "deactivate")
    user.active = False
    db.session.flush()
    return user


def set_password(actor, user_id, password):
    """Give a user a web password (signing them out everywhere), audited as the admin's act."""
    user = get_user(actor, user_id)
    passwords.set_password(user, password)
    audit.record("user.set_password", "user", user.id, user=actor)
    return user


def create_admin(email, organization_name=PLATFORM_ORGANIZATION):
    """An operator's admin, (user, token), in the named platform organization (created if missing).

    No actor: this is how an installation gets its first admin, from the command line. The email is checked as the
    API checks it, and an existing customer organization is refused: a platform admin never silently joins a
    hospital or a plan.
    """
    try:
        email = UserInSchema(only=("email",)).load({"email": email})["email"]
    except ValidationError as error:
        raise ValidationFailed(error.messages, "Not a valid email address: %r." % email) from None
    organization = db.session.scalar(db.select(Organization).where(Organization.name == organization_name))
    if organization is None:
        organization = service.create_organization(organization_name, PLATFORM_KIND)
    elif organization.kind != PLATFORM_KIND:
        refusal = (
            "%s is a customer organization (%s); platform admins belong to a platform organization. "
            "Name a new one or leave --organization out." % (organization.name, organization.kind)
        )
        raise ValidationFailed({"organization": [refusal]}, refusal)
    return service.create_user(email, organization.id, "admin")
