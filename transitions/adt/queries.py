"""ADT inbox reads: the admins' list of stored messages, newest first."""

from sqlalchemy import select

from transitions.adt.models import AdtMessage
from transitions.core.pagination import keyset_page


def list_messages(filters):
    """One keyset page of stored messages, newest first, filtered by state or facility: (rows, next cursor)."""
    query = select(AdtMessage)
    for name in ("state", "facility_id", "trigger"):
        if filters.get(name):
            query = query.where(getattr(AdtMessage, name) == filters[name])
    return keyset_page(query, [AdtMessage.received_at, AdtMessage.id], filters, descending=True)
