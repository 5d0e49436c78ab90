"""Configuration defaults (instance/config.py and TRANSITIONS_* variables are layered on top in create_app)."""

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
    # Follow-up plan. None: every check of transitions/followups/checks.py, due on its own day after discharge,
    # for the needs its rule concerns. A mapping check name -> {due_days, needs?} (needs omitted = every need)
    # replaces that plan. Check names are fixed (each has its rule); days and needs are not.
    "FOLLOWUP_PLAN": None,
    # A check is evaluated once its due day is over in the patient's time zone, plus this many hours.
    "FOLLOWUP_GRACE_HOURS": 0,
    # At outcome_90/outcome_180 an open placement counts as "still attending" with a session this recent.
    "FOLLOWUP_ACTIVE_DAYS": 30,
    "FOLLOWUP_SWEEP_BATCH": 500,
    # Scheduler job periods in seconds (each job also catches up on everything overdue).
    "SCHEDULER_SWEEP_SECONDS": 60,
    "SCHEDULER_OFFER_EXPIRY_SECONDS": 60,
    "SCHEDULER_WEBHOOK_SECONDS": 10,
    "SCHEDULER_PURGE_SECONDS": 3600,
    "WEBHOOK_TIMEOUT_SECONDS": 10,
    "WEBHOOK_MAX_ATTEMPTS": 12,
    "WEBHOOK_RETRY_BASE_SECONDS": 30,
    "WEBHOOK_RETRY_MAX_SECONDS": 6 * 3600,
    # Web pages (transitions/web): server-side sign-in sessions, their cookie, and sign-in throttling.
    "WEB_IDLE_TIMEOUT_SECONDS": 15 * 60,
    "WEB_ABSOLUTE_TIMEOUT_SECONDS": 12 * 3600,
    # None = Secure cookies unless the app runs in debug or testing mode; true/false forces it.
    "WEB_COOKIE_SECURE": None,
    "WEB_SESSION_COOKIE": "transitions_session",
    # Failed sign-ins counted over this window, per email and per client address, before a 429.
    "WEB_LOGIN_WINDOW_SECONDS": 15 * 60,
    "WEB_LOGIN_MAX_FAILURES_PER_EMAIL": 5,
    "WEB_LOGIN_MAX_FAILURES_PER_ADDRESS": 20,
    "WEB_PASSWORD_MIN_LENGTH": 12,
    # werkzeug.security method for new password hashes, e.g. "pbkdf2:sha256:1000000" where FIPS rules.
    "WEB_PASSWORD_HASH_METHOD": "scrypt",
}


def normalize_database_url(url):
    """Accept plain postgres:// and postgresql:// URLs and point them at psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
