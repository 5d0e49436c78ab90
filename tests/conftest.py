"""Test fixtures: a migrated database per run (SQLite, or a fresh PostgreSQL database), an injected clock, API helpers."""
import os
import shutil
import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from transitions import MIGRATIONS_DIR, create_app
from transitions.core.db import db
from transitions.identity import service as organizations

# Set to a PostgreSQL server URL (database part is ignored) to run the suite on PostgreSQL.
PG_SERVER_ENV = "TRANSITIONS_TEST_POSTGRES_URL"


def postgres_server_url():
    return os.environ.get(PG_SERVER_ENV)


def on_postgres():
    return bool(postgres_server_url())


def _with_database(url, name):
    parsed = sa.engine.make_url(url)
    return parsed.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


class Clock:
    """A settable "now" for the app: tests move time instead of sleeping."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def set(self, iso):
        self.now = datetime.fromisoformat(iso.replace("Z", "+00:00"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """Migrate once per run: a template SQLite file, or a fresh PostgreSQL database dropped at the end."""
    server = postgres_server_url()
    if server:
        name = "transitions_test_%s" % uuid.uuid4().hex[:12]
        admin = sa.create_engine(_with_database(server, "postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql('CREATE DATABASE "%s"' % name)
        url = _with_database(server, name)
        _migrate(url)
        yield url
        with admin.connect() as connection:
            connection.exec_driver_sql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("db") / "template.sqlite3"
        url = "sqlite:///%s" % path
        _migrate(url)
        yield url


def _migrate(url):
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test"})
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        db.engine.dispose()


def _truncate_all(url):
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        tables = [t.name for t in db.metadata.sorted_tables]
        connection.exec_driver_sql("TRUNCATE %s RESTART IDENTITY CASCADE" % ", ".join(tables))
    engine.dispose()


@pytest.fixture
def clock():
    return Clock(datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc))


@pytest.fixture
def db_url(database_url, tmp_path):
    """A clean database for one test: a copy of the SQLite template, or the PostgreSQL one truncated after."""
    if database_url.startswith("sqlite"):
        template = database_url[len("sqlite:///"):]
        copy = tmp_path / "test.sqlite3"
        shutil.copy(template, copy)
        yield "sqlite:///%s" % copy
    else:
        yield database_url
        _truncate_all(database_url)


@pytest.fixture
def app(db_url, clock):
    app = create_app({"TESTING": True, "DATABASE_URL": db_url, "CLOCK": clock, "SECRET_KEY": "test",
                      "WEBHOOK_ALLOW_PRIVATE": True})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class ApiClient:
    """Thin wrapper over the Flask test client that adds bearer tokens and JSON."""

    def __init__(self, client):
        self.client = client

    def _headers(self, token, headers):
        merged = dict(headers or {})
        if token:
            merged["Authorization"] = "Bearer %s" % token
        return merged

    def get(self, path, token=None, **kwargs):
        return self.client.get(path, headers=self._headers(token, kwargs.pop("headers", None)), **kwargs)

    def post(self, path, json=None, token=None, **kwargs):
        return self.client.post(path, json=json, headers=self._headers(token, kwargs.pop("headers", None)), **kwargs)

    def patch(self, path, json=None, token=None, **kwargs):
        return self.client.patch(path, json=json, headers=self._headers(token, kwargs.pop("headers", None)), **kwargs)


@pytest.fixture
def api(client):
    return ApiClient(client)


class World:
    """Organizations and users for tests, created straight through the services."""

    def __init__(self, app):
        self.app = app
        self.tokens = {}
        self.users = {}
        self.orgs = {}

    def org(self, key, kind, payer_ids=()):
        with self.app.app_context():
            organization = organizations.create_organization("%s org" % key, kind, payer_ids)
            db.session.commit()
            self.orgs[key] = organization.id
        return self.orgs[key]

    def user(self, key, role, org_key):
        with self.app.app_context():
            user, token = organizations.create_user("%s@example.org" % key, self.orgs[org_key], role)
            db.session.commit()
            self.users[key] = user.id
            self.tokens[key] = token
        return token


@pytest.fixture
def world(app):
    """Two hospitals, a health plan following acme-health, two IOP providers, and one user per role."""
    w = World(app)
    w.org("admin", "hospital")
    w.org("hospital", "hospital")
    w.org("hospital2", "residential")
    w.org("plan", "health_plan", ["acme-health"])
    w.org("plan2", "health_plan", ["other-plan"])
    w.org("provider", "iop_provider")
    w.org("provider2", "iop_provider")
    w.user("admin", "admin", "admin")
    w.user("planner", "discharge_planner", "hospital")
    w.user("planner2", "discharge_planner", "hospital2")
    w.user("manager", "case_manager", "plan")
    w.user("manager2", "case_manager", "plan2")
    w.user("coordinator", "iop_coordinator", "provider")
    w.user("coordinator2", "iop_coordinator", "provider2")
    return w
