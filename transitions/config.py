"""Configuration defaults and the loaders that layer instance/config.py and TRANSITIONS_* variables on top."""
import json
import os

DEFAULTS = {
    # None means "a SQLite file in the instance folder", resolved in create_app.
    "DATABASE_URL": None,
    "SECRET_KEY": None,
    "MAX_CONTENT_LENGTH": 256 * 1024,
    "PAGE_SIZE_DEFAULT": 50,
    "PAGE_SIZE_MAX": 500,
    "IDEMPOTENCY_TTL_HOURS": 48,
    "OFFER_TTL_HOURS": 48,
    "MAX_PENDING_OFFERS": 3,
    "LAPSE_MISSED_IN_A_ROW": 2,
    "WEBHOOK_ALLOW_PRIVATE": False,
    # Honour X-Forwarded-For from this many proxies when recording client addresses.
    "TRUSTED_PROXIES": 0,
    "SEED_DATA_DIR": None,
}


def normalize_database_url(url):
    """Accept plain postgres:// and postgresql:// URLs and point them at psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def env_overrides(environ=None):
    """Read TRANSITIONS_<NAME> variables; JSON values (numbers, booleans) are decoded."""
    environ = os.environ if environ is None else environ
    overrides = {}
    for key, raw in environ.items():
        if not key.startswith("TRANSITIONS_"):
            continue
        name = key[len("TRANSITIONS_"):]
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if name == "DATABASE_URL":
            value = raw
        overrides[name] = value
    return overrides
