"""Your own mail preferences: whether you get email, about which events, and whether as one daily digest."""

from transitions.api.auth import current_user
from transitions.api.common import api_blueprint, json_response
from transitions.core.clock import utcnow
from transitions.notify import commands, queries
from transitions.notify.schemas import NotificationPreferencesInSchema, NotificationPreferencesSchema

blp = api_blueprint("notifications", __name__, "Mail to people: each user's own choice of what reaches them by email.")

_PREFERENCES = NotificationPreferencesSchema()


@blp.read_route("/me/notifications", NotificationPreferencesSchema)
def get_notifications():
    """Your mail preferences (default: email on, every event that concerns your role, no digest)."""
    return json_response(_PREFERENCES.dump(queries.notification_preferences(current_user())))


@blp.change_route("/me/notifications", NotificationPreferencesInSchema, NotificationPreferencesSchema)
def update_notifications(changes):
    """Change your mail preferences: `email` off stops all mail, `events` picks among `available_events`, `digest`
    gathers a day's mail into one message."""
    preferences = commands.change_notification_preferences(current_user(), utcnow(), **changes)
    return json_response(_PREFERENCES.dump(preferences))
