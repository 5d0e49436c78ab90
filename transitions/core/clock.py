"""The service's notion of "now", injectable so time-based rules are tested without sleeping."""

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, has_app_context


def utcnow():
    """Current time as an aware UTC datetime; tests set app.config["CLOCK"] to a callable."""
    if has_app_context():
        clock = current_app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return datetime.now(UTC)


def today():
    return utcnow().date()


def rfc3339(value):
    """Format an aware datetime as RFC 3339 UTC with a Z suffix."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def zone(name):
    """The IANA time zone of this name; UTC when the name is unknown (a stored zone must never stop a sweep)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local_today(zone_name, now):
    """The calendar date at instant `now` in the zone of this name."""
    return now.astimezone(zone(zone_name)).date()


@lru_cache(maxsize=8192)
def end_of_day(day, zone_name):
    """The instant a local day ends (the next local midnight), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone(zone_name)).astimezone(UTC)


def minutes_of_day(hhmm):
    """'HH:MM' as minutes after midnight ('24:00' is 1440, the end of the day)."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def age_on(birth_date, day):
    """Age in whole years on a day (born on 29 February: a year older on 1 March in common years)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))
