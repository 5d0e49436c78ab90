"""Organizations and users: platform admins manage them; every user can read themselves and their organization."""

from flask import url_for

from transitions import policy
from transitions.api.auth import current_user
from transitions.api.common import api_blueprint, json_response, page_response
from transitions.core.fields import PageQuerySchema, page_of
from transitions.core.idempotency import store_instead
from transitions.identity import commands, queries, schemas

blp = api_blueprint("admin", __name__, "Organizations and users.")
OrganizationPage = page_of(schemas.OrganizationSchema, "OrganizationPage")
UserPage = page_of(schemas.UserSchema, "UserPage")


@blp.create_route("/organizations", schemas.OrganizationInSchema, schemas.OrganizationSchema, policy.ADMINISTER)
def create_organization(data):
    """Create an organization (admin)."""
    organization = commands.create_organization(current_user(), **data)
    return organization, 201, {"Location": url_for("admin.get_organization", organization_id=organization.id)}


@blp.query_route("/organizations", PageQuerySchema, OrganizationPage, policy=policy.ADMINISTER)
def list_organizations(args):
    """List organizations (admin)."""
    return page_response(schemas.OrganizationSchema(), *queries.list_organizations(args))


@blp.read_route("/organizations/<organization_id>", schemas.OrganizationSchema)
def get_organization(organization_id):
    """Read an organization: admins any, other users their own."""
    return commands.get_organization(current_user(), organization_id)


@blp.change_route(
    "/organizations/<organization_id>", schemas.ORGANIZATION_CHANGES, schemas.OrganizationSchema, policy.ADMINISTER
)
def update_organization(changes, organization_id):
    """Rename an organization or change the payer ids a plan follows (admin)."""
    return commands.update_organization(current_user(), organization_id, changes)


@blp.create_route("/users", schemas.UserInSchema, schemas.UserWithTokenSchema, policy.ADMINISTER)
def create_user(data):
    """Create a user and show its bearer token once (admin)."""
    user, token = commands.create_user(current_user(), **data)
    body = schemas.UserWithTokenSchema().dump(user)
    # Tokens are never stored in clear, not even in the replay copy: a replay shows token null.
    store_instead(body | {"token": None})
    return json_response(body | {"token": token}, 201, {"Location": url_for("admin.get_user", user_id=user.id)})


@blp.query_route("/users", PageQuerySchema, UserPage, policy=policy.ADMINISTER)
def list_users(args):
    """List users (admin)."""
    return page_response(schemas.UserSchema(), *queries.list_users(args))


@blp.read_route("/users/me", schemas.UserSchema)
def me():
    """The user the token belongs to."""
    return current_user()


@blp.read_route("/users/<user_id>", schemas.UserSchema, policy.ADMINISTER)
def get_user(user_id):
    """Read a user (admin)."""
    return commands.get_user(current_user(), user_id)


@blp.action_route("/users/<user_id>/token", None, schemas.UserWithTokenSchema, policy.ADMINISTER)
def rotate_token(user_id):
    """Replace a user's token (admin): the old one stops working at once on this worker, within TOKEN_CACHE_SECONDS
    (5 s) on every other."""
    user, token = commands.rotate_token(current_user(), user_id)
    return json_response(schemas.UserWithTokenSchema().dump(user) | {"token": token})


@blp.action_route("/users/<user_id>/deactivate", None, schemas.UserSchema, policy.ADMINISTER)
def deactivate_user(user_id):
    """Switch a user off; their token stops working (admin)."""
    return commands.deactivate_user(current_user(), user_id)
