"""Organizations and users: platform admins manage them; every user can read themselves and their organization."""

from flask import url_for

from transitions import policy
from transitions.api.auth import current_user, permits
from transitions.api.common import api_blueprint, json_response, keyset_page_response
from transitions.core.db import db
from transitions.core.fields import PageQuerySchema, page_of
from transitions.core.idempotency import idempotent, store_instead
from transitions.identity import commands
from transitions.identity.models import Organization, User
from transitions.identity.schemas import (
    OrganizationInSchema,
    OrganizationPatchSchema,
    OrganizationSchema,
    UserInSchema,
    UserSchema,
    UserWithTokenSchema,
)

blp = api_blueprint("admin", __name__, "Organizations and users.")
OrganizationPage = page_of(OrganizationSchema, "OrganizationPage")
UserPage = page_of(UserSchema, "UserPage")


@blp.route("/organizations", methods=["POST"])
@permits(policy.ADMINISTER)
@blp.arguments(OrganizationInSchema)
@blp.response(201, OrganizationSchema)
@idempotent
def create_organization(data):
    """Create an organization (admin)."""
    organization = commands.create_organization(current_user(), **data)
    return organization, 201, {"Location": url_for("admin.get_organization", organization_id=organization.id)}


@blp.query_route("/organizations", PageQuerySchema, OrganizationPage, policy=policy.ADMINISTER)
def list_organizations(args):
    """List organizations (admin)."""
    return keyset_page_response(
        OrganizationSchema(), db.select(Organization), [Organization.created_at, Organization.id], args
    )


@blp.route("/organizations/<organization_id>", methods=["GET"])
@blp.response(200, OrganizationSchema)
def get_organization(organization_id):
    """Read an organization: admins any, other users their own."""
    return commands.get_organization(current_user(), organization_id)


@blp.route("/organizations/<organization_id>", methods=["PATCH"])
@permits(policy.ADMINISTER)
@blp.arguments(OrganizationPatchSchema)
@blp.response(200, OrganizationSchema)
def update_organization(changes, organization_id):
    """Rename an organization or change the payer ids a plan follows (admin)."""
    return commands.update_organization(current_user(), organization_id, changes)


@blp.route("/users", methods=["POST"])
@permits(policy.ADMINISTER)
@blp.arguments(UserInSchema)
@blp.response(201, UserWithTokenSchema)
@idempotent
def create_user(data):
    """Create a user and show its bearer token once (admin)."""
    user, token = commands.create_user(current_user(), **data)
    body = UserWithTokenSchema().dump(user)
    # Tokens are never stored in clear, not even in the replay copy: a replay shows token null.
    store_instead(body | {"token": None})
    return json_response(body | {"token": token}, 201, {"Location": url_for("admin.get_user", user_id=user.id)})


@blp.query_route("/users", PageQuerySchema, UserPage, policy=policy.ADMINISTER)
def list_users(args):
    """List users (admin)."""
    return keyset_page_response(UserSchema(), db.select(User), [User.created_at, User.id], args)


@blp.route("/users/me", methods=["GET"])
@blp.response(200, UserSchema)
def me():
    """The user the token belongs to."""
    return current_user()


@blp.route("/users/<user_id>", methods=["GET"])
@permits(policy.ADMINISTER)
@blp.response(200, UserSchema)
def get_user(user_id):
    """Read a user (admin)."""
    return commands.get_user(current_user(), user_id)


@blp.route("/users/<user_id>/token", methods=["POST"])
@permits(policy.ADMINISTER)
@blp.response(200, UserWithTokenSchema)
def rotate_token(user_id):
    """Replace a user's token; the old one stops working at once (admin)."""
    user, token = commands.rotate_token(current_user(), user_id)
    return json_response(UserWithTokenSchema().dump(user) | {"token": token})


@blp.route("/users/<user_id>/deactivate", methods=["POST"])
@permits(policy.ADMINISTER)
@blp.response(200, UserSchema)
def deactivate_user(user_id):
    """Switch a user off; their token stops working (admin)."""
    return commands.deactivate_user(current_user(), user_id)
