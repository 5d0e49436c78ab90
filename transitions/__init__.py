"""Step-down transition coordination service: the application factory."""
import os
import secrets

from flask import Flask

from transitions.config import DEFAULTS, env_overrides, normalize_database_url

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def _secret_key(app):
    """A stable per-installation secret, generated once into instance/ when none is configured."""
    path = os.path.join(app.instance_path, "secret_key")
    if os.path.exists(path):
        with open(path) as handle:
            return handle.read().strip()
    key = secrets.token_hex(32)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        handle.write(key)
    return key


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(env_overrides())
    if test_config:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)

    url = app.config["DATABASE_URL"] or "sqlite:///" + os.path.join(app.instance_path, "transitions.sqlite3")
    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(url)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app)
    app.json.sort_keys = False

    from transitions import api, cli, web
    from transitions.core import errors, unit_of_work
    from transitions.core.db import configure_sqlite, db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
    errors.init_app(app)
    api.init_app(app)
    unit_of_work.init_app(app)
    cli.init_app(app)
    web.init_app(app)
    return app
