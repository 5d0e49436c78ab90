"""Identity reads: the admin's lists of organizations and users, organizations by name for a page's choices, and
the users with their organization's name."""

from sqlalchemy import select

from transitions.core.db import db
from transitions.core.pagination import keyset_page
from transitions.identity.models import Organization, User

# The admin's users page lists this many users at most.
USERS_PAGE_LIMIT = 1000


def list_organizations(filters):
    """One keyset page of every organization, oldest first: (organizations, next cursor)."""
    return keyset_page(select(Organization), [Organization.created_at, Organization.id], filters)


def list_users(filters):
    """One keyset page of every user, oldest first: (users, next cursor)."""
    return keyset_page(select(User), [User.created_at, User.id], filters)


def organization_choices(organization_ids):
    """(id, name) of these organizations, by name: the options of an organization filter."""
    return db.session.execute(
        select(Organization.id, Organization.name)
        .where(Organization.id.in_(organization_ids))
        .order_by(Organization.name)
    ).all()


def users_with_organizations():
    """(user, organization name) of every user, by organization name and email."""
    return db.session.execute(
        select(User, Organization.name)
        .join(Organization, Organization.id == User.organization_id)
        .order_by(Organization.name, User.email)
        .limit(USERS_PAGE_LIMIT)
    ).all()
