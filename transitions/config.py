"""Configuration defaults (instance/config.py and TRANSITIONS_* variables are layered on top in create_app)."""

# What the HTTP server accepts before the app sees a request: gunicorn.conf.py applies these limits and the OpenAPI
# document states them. A longer request line is a 414, a longer header line or more header fields a 431.
REQUEST_LINE_MAX_BYTES = 8190
HEADER_LINE_MAX_BYTES = 8190
HEADER_FIELDS_MAX = 100

DEFAULTS = {
    # None means "a SQLite file in the instance folder", resolved in create_app.
    "DATABASE_URL": None,
    "SECRET_KEY": None,
    "MAX_CONTENT_LENGTH": 256 * 1024,
    # The API docs page runs offline: no badge from the public swagger.io validator.
    "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
    "PAGE_SIZE_DEFAULT": 50,
    "PAGE_SIZE_MAX": 500,
    "IDEMPOTENCY_TTL_HOURS": 48,
    "OFFER_TTL_HOURS": 48,
    "MAX_PENDING_OFFERS": 3,
    # A track whose coordinators have not confirmed its seats for this many days (an edit, an accept, an attendance
    # or "seats still right") is flagged to planners and ranks after the confirmed ones.
    "SEATS_CONFIRMATION_MAX_AGE_DAYS": 14,
    # With fewer matches than this, a referral's matches also list leads: unconfirmed programs that fit.
    "MATCH_LEADS_BELOW": 3,
    "LAPSE_MISSED_IN_A_ROW": 2,
    "WEBHOOK_ALLOW_PRIVATE": False,
    # Honour X-Forwarded-For from this many proxies when recording client addresses.
    "TRUSTED_PROXIES": 0,
    # Each process remembers a resolved bearer token this long (transitions/identity/tokens.py): a revoked, rotated or
    # deactivated token stops working at once in the process that changed it, and within this bound in every other.
    # 0: every request looks its token up.
    "TOKEN_CACHE_SECONDS": 5,
    "SEED_DATA_DIR": None,
    # Weeks of history `seed-demo` writes before now (0: none), so the demo's metrics and board have figures.
    "DEMO_HISTORY_WEEKS": 12,
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
    # Each connect and each read of a webhook request; never more than what is left of the deadline below.
    "WEBHOOK_TIMEOUT_SECONDS": 10,
    # The hard wall-clock limit of one webhook attempt, from its claim to the receiver's status line and headers
    # (name lookup, connect, TLS, sending and a trickling answer included; the body is never read). A claimed
    # delivery is leased for this plus 30 s, so no other scheduler posts it while it may still be in flight.
    "WEBHOOK_DEADLINE_SECONDS": 15,
    # Deliveries in flight at once per scheduler process, each to a different endpoint: a slow receiver holds one.
    "WEBHOOK_MAX_IN_FLIGHT": 8,
    "WEBHOOK_MAX_ATTEMPTS": 12,
    "WEBHOOK_RETRY_BASE_SECONDS": 30,
    "WEBHOOK_RETRY_MAX_SECONDS": 6 * 3600,
    # Mail to people (transitions/notify/mail.py). SMTP_URL: smtp://host:port, smtp+starttls://host:port or
    # smtps://host:port, with optional user:password@ (percent-encoded). None: no mail is sent, and events pass by
    # unqueued (switching mail on later starts from then, never with a backlog of old news).
    "SMTP_URL": None,
    "MAIL_FROM": "transitions@localhost",
    # Where the links in mail point: the web app's address as people reach it.
    "BASE_URL": "http://localhost:5000",
    # Each SMTP socket operation, and the hard wall-clock limit of one send (connecting included); a claimed mail is
    # leased for the deadline plus 30 s.
    "MAIL_TIMEOUT_SECONDS": 10,
    "MAIL_DEADLINE_SECONDS": 30,
    "MAIL_MAX_ATTEMPTS": 20,
    "MAIL_RETRY_BASE_SECONDS": 60,
    "MAIL_RETRY_MAX_SECONDS": 3600,
    # SMTP connections one scheduler sends over at once (1-16), each reused for the pass: at most this many mails
    # are sent and not yet recorded when a scheduler dies (see docs/decisions.md).
    "MAIL_CONNECTIONS": 2,
    # The hour (UTC, 0-23) at which a digest reader gets the day's mail in one message.
    "MAIL_DIGEST_HOUR": 7,
    # A pending offer with this many hours left gets one offer.expiring event (mail to the program's coordinators).
    "OFFER_EXPIRING_HOURS": 12,
    "SCHEDULER_MAIL_SECONDS": 30,
    # `adt listen`: processes sharing the MLLP port (one runs its Python on one core at a time).
    "ADT_LISTENER_PROCESSES": 1,
    # `adt listen` group commit (transitions/adt/batch.py): a listener process's store thread takes every frame
    # queued while it was busy, or arriving within this many milliseconds of the first (0: no wait), up to
    # ADT_BATCH_MAX; its apply thread takes every stored batch waiting.
    "ADT_BATCH_WINDOW_MS": 0,
    "ADT_BATCH_MAX": 64,
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
