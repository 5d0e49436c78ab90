"""The service's notion of "now", injectable so time-based rules are tested without sleeping."""
from datetime import datetime, timezone

from flask import current_app, has_app_context


def utcnow():
    """Current time as an aware UTC datetime; tests set app.config["CLOCK"] to a callable."""
    if has_app_context():
        clock = current_app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return datetime.now(timezone.utc)


def today():
    return utcnow().date()


def rfc3339(value):
    """Format an aware datetime as RFC 3339 UTC with a Z suffix."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
