"""Step-down transition coordination service: the application factory."""

import base64
import copy
import hashlib
import os
import re
import secrets

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

from transitions.config import (
    DEFAULTS,
    HEADER_FIELDS_MAX,
    HEADER_LINE_MAX_BYTES,
    REQUEST_LINE_MAX_BYTES,
    normalize_database_url,
)
from transitions.core.db import database_unavailable, is_unavailable
from transitions.core.errors import RETRY_AFTER_SECONDS
from transitions.core.json_encoding import OrjsonProvider

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")
ENV_PREFIX = "TRANSITIONS"

# Content-Security-Policy by kind of response. Every one forbids framing (frame-ancestors; X-Frame-Options for old
# browsers). Pages carry patient data: scripts, styles and images only from this app.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# The API docs page: swagger-ui from /api/docs/assets, its one inline script allowed by hash (added per response),
# the document and "Try it out" calls to this origin only.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' %s; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# JSON, redirects and everything else: nothing to load, nothing to run.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
DOCS_ENDPOINT = "api-docs.openapi_swagger_ui"
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's session cookie, without building its signing serializer for a request that carries none (all of them:
    the app keeps nothing in Flask's session; web sign-ins are its own sessions): the same empty session."""

    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


class Application(Flask):
    """Flask with two rules ahead of everything else: a database that cannot be reached is a 503, wherever the
    request meets it, and every response leaves with the security headers (see response_headers). JSON is written
    by orjson (transitions/core/json_encoding.py)."""

    json_provider_class = OrjsonProvider
    session_interface = CookieSessionInterface()

    def handle_user_exception(self, e):
        # Raised by a before_request function or a view: turned into the 503 before any handler (the web pages'
        # catch-all "something went wrong" included) can call it a 500.
        if is_unavailable(e):
            e = database_unavailable(e)
        return super().handle_user_exception(e)

    def handle_exception(self, e):
        # Raised after the view, by an after_request function (the commit, the rollback) or an error handler.
        if is_unavailable(e):
            return self.finalize_request(self.handle_http_exception(database_unavailable(e)), from_error_handler=True)
        return super().handle_exception(e)

    def process_response(self, response):
        # After every after_request function, so the headers hold for whatever response they made.
        return response_headers(super().process_response(response))


def response_headers(response):
    """The one place for security and caching headers; a view or blueprint that set one of them keeps its value.

    Nothing is stored by a cache unless its view said otherwise (the static assets do): API JSON and signed-in
    pages carry patient data. Nothing is sniffed or framed. A 503 always says when to retry.
    """
    headers = response.headers
    # The names present, read once (each setdefault would scan every header again); missing ones appended in order.
    present = {name.lower() for name in headers.keys()}
    for name, value in FIXED_HEADERS:
        if name.lower() not in present:
            headers.add(name, value)
    if "content-security-policy" not in present:
        headers.add("Content-Security-Policy", content_security_policy(response))
    if response.status_code == 503 and "retry-after" not in present:
        headers.add("Retry-After", str(RETRY_AFTER_SECONDS))
    return response


FIXED_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)


def content_security_policy(response):
    if response.mimetype != "text/html":
        return DATA_CSP
    if request.endpoint == DOCS_ENDPOINT and not response.is_streamed:
        scripts = INLINE_SCRIPT.findall(response.get_data())
        hashes = " ".join("'sha256-%s'" % base64.b64encode(hashlib.sha256(s).digest()).decode() for s in scripts)
        return DOCS_CSP % hashes
    return PAGE_CSP


def create_app(test_config=None):
    """The app: configuration, then extensions, error handlers, blueprints and operator commands."""
    app = Application(__name__, instance_relative_config=True)
    configure(app, test_config)
    register_extensions(app)
    register_errorhandlers(app)
    register_blueprints(app)
    register_commands(app)
    return app


def configure(app, test_config=None):
    """Defaults, then instance/config.py, then TRANSITIONS_<NAME> variables (JSON-decoded), then test_config."""
    # A copy: a nested TRANSITIONS_A__B variable writes into the dict of setting A, never into DEFAULTS.
    app.config.from_mapping(copy.deepcopy(DEFAULTS))
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env(ENV_PREFIX)
    if test_config:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret_key(app)
    app.config.setdefault("API_SPEC_OPTIONS", limits_document(app.config["MAX_CONTENT_LENGTH"]))
    app.json.sort_keys = False


def limits_document(max_body_bytes):
    """The request limits and the outage answer, stated in the OpenAPI document as reusable responses
    (components.responses): the web server refuses what is over its limits before the app sees it."""
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses = {
        "RequestTooLarge": "413: the request body is longer than %d bytes." % max_body_bytes,
        "RequestLineTooLong": (
            "414: the request line (method, path with query string, HTTP version) is longer than %d bytes."
            % REQUEST_LINE_MAX_BYTES
        ),
        "HeaderFieldsTooLarge": (
            "431: a header line is longer than %d bytes, or the request has more than %d header fields."
            % (HEADER_LINE_MAX_BYTES, HEADER_FIELDS_MAX)
        ),
        "MalformedHttp": "400: the request is not valid HTTP/1.1 (a control character in a header, for one).",
        "DatabaseUnavailable": "503: the database cannot be reached; retry after Retry-After seconds.",
    }
    document = {name: {"description": text, "content": problem} for name, text in responses.items()}
    document["DatabaseUnavailable"]["headers"] = {
        "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
    }
    return {"components": {"responses": document}}


def database_uri(app):
    """DATABASE_URL for SQLAlchemy (psycopg 3 for PostgreSQL); unset, a SQLite file in the instance folder."""
    url = app.config["DATABASE_URL"] or "sqlite:///" + os.path.join(app.instance_path, "transitions.sqlite3")
    return normalize_database_url(url)


def instance_secret_key(app):
    """A stable per-installation secret, generated once into instance/ when none is configured."""
    path = os.path.join(app.instance_path, "secret_key")
    if os.path.exists(path):
        with open(path) as handle:
            return handle.read().strip()
    key = secrets.token_hex(32)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        handle.write(key)
    return key


def register_extensions(app):
    """The database and migrations, SQLite's connection settings, and one transaction per request."""
    # Every table on the metadata, whatever else has been imported: migrations and create_all see them all.
    from transitions import models  # noqa: F401
    from transitions.core import unit_of_work
    from transitions.core.db import db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    configure_sqlite_engine(app)
    unit_of_work.init_app(app)


def configure_sqlite_engine(app):
    """On SQLite: WAL, foreign keys, a busy timeout and BEGIN IMMEDIATE on every connection (see core.db)."""
    from transitions.core.db import configure_sqlite, db

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)


def register_errorhandlers(app):
    """Domain errors and HTTP errors as problem+json; anything unexpected as a logged 500."""
    from transitions.core import errors

    errors.init_app(app)


def register_blueprints(app):
    """The JSON API (with its OpenAPI document) and the web pages."""
    from transitions import api, web

    api.init_app(app)
    web.init_app(app)
    from transitions import fhir

    fhir.init_app(app)


def register_commands(app):
    """flask create-admin, seed-demo, scheduler, sweep and set-password."""
    from transitions import cli

    cli.init_app(app)
