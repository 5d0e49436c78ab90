"""Step-down transition coordination service: the application factory."""

import copy
import os
import secrets

from flask import Flask

from transitions.config import DEFAULTS, normalize_database_url

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")
ENV_PREFIX = "TRANSITIONS"


def create_app(test_config=None):
    """The app: configuration, then extensions, error handlers, blueprints and operator commands."""
    app = Flask(__name__, instance_relative_config=True)
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
    app.json.sort_keys = False


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


def register_commands(app):
    """flask create-admin, seed-demo, scheduler, sweep and set-password."""
    from transitions import cli

    cli.init_app(app)
