"""Test fixtures: a migrated database per worker, one app per worker whose tests each run in a transaction rolled
back at the end, a database of its own for a test that needs real commits, an injected clock, API helpers."""

import json
import os
import shutil
import threading
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

import flask
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from flask_sqlalchemy.session import Session as FlaskSQLAlchemySession
from sqlalchemy import orm

from tests.fhir.conftest import pytest_terminal_summary  # noqa: F401  (the FHIR validation count, also under xdist)
from tests.support.browser import WebClient, give_passwords
from tests.support.factories import OrganizationFactory, UserFactory
from transitions import MIGRATIONS_DIR, create_app
from transitions.core.db import db
from transitions.identity.tokens import generate_token, hash_token

# Set to a PostgreSQL server URL (database part is ignored) to run the suite on PostgreSQL.
PG_SERVER_ENV = "TRANSITIONS_TEST_POSTGRES_URL"
# Also set to a PgBouncer in transaction mode in front of that server (scripts/pgbouncer start;
# postgresql://postgres@127.0.0.1:6432) to run the tests that commit for real (races, processes, schedulers) through
# it; databases are still created, migrated and truncated on PostgreSQL directly.
PGBOUNCER_ENV = "TRANSITIONS_TEST_PGBOUNCER_URL"
# What every app (this process's and the subprocesses', which inherit the environment) needs through transaction
# pooling: no server-side prepared statements, since the next transaction may run on another server connection.
PGBOUNCER_ENGINE_OPTIONS = {"pool_pre_ping": True, "connect_args": {"prepare_threshold": None}}
if os.environ.get(PG_SERVER_ENV) and os.environ.get(PGBOUNCER_ENV):
    os.environ.setdefault("TRANSITIONS_SQLALCHEMY_ENGINE_OPTIONS", json.dumps(PGBOUNCER_ENGINE_OPTIONS))
START = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
TEST_CONFIG = {"TESTING": True, "SECRET_KEY": "test", "WEBHOOK_ALLOW_PRIVATE": True}


def postgres_server_url():
    return os.environ.get(PG_SERVER_ENV)


def on_postgres():
    return bool(postgres_server_url())


def pgbouncer_url():
    """PgBouncer's server URL when the tests that commit for real go through it (only on PostgreSQL), else None."""
    return os.environ.get(PGBOUNCER_ENV) if on_postgres() else None


def _with_database(url, name):
    parsed = sa.engine.make_url(url)
    return parsed.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


def pytest_collection_modifyitems(items):
    """Slow tests first: with xdist handing out two tests at a time (--maxschedchunk=2 in setup.cfg), the long ones
    spread over the workers and overlap the many short ones instead of ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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
    """Migrate once per run and xdist worker: a template SQLite file, or a fresh PostgreSQL database dropped at the
    end (named after the worker, so parallel workers and parallel runs never share one)."""
    server = postgres_server_url()
    if server:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        name = "transitions_test_%s_%s" % (worker, uuid.uuid4().hex[:12])
        admin = sa.create_engine(_with_database(server, "postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql('CREATE DATABASE "%s"' % name)
        try:
            url = _with_database(server, name)
            _migrate(url)
            yield url
        finally:
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


def _sqlite_copy(database_url, path):
    shutil.copy(database_url[len("sqlite:///") :], path)
    return "sqlite:///%s" % path


@pytest.fixture(scope="session")
def shared_clock():
    return Clock(START)


@pytest.fixture
def clock(shared_clock):
    """The clock every app of the test reads, set back to the same start for each test."""
    shared_clock.now = START
    return shared_clock


@pytest.fixture
def db_url(database_url, tmp_path):
    """A clean database for one test: a copy of the SQLite template, or the PostgreSQL one truncated after (reached
    through PgBouncer when TRANSITIONS_TEST_PGBOUNCER_URL is set)."""
    if database_url.startswith("sqlite"):
        yield _sqlite_copy(database_url, tmp_path / "test.sqlite3")
    else:
        bouncer = pgbouncer_url()
        yield _with_database(bouncer, sa.engine.make_url(database_url).database) if bouncer else database_url
        _truncate_all(database_url)


@pytest.fixture(scope="session")
def shared_app(database_url, shared_clock, tmp_path_factory):
    """One app per worker for the tests that run in a rolled-back transaction (see `app`)."""
    url = database_url
    if url.startswith("sqlite"):
        url = _sqlite_copy(database_url, tmp_path_factory.mktemp("shared") / "shared.sqlite3")
    app = create_app(dict(TEST_CONFIG, DATABASE_URL=url, CLOCK=shared_clock))
    yield app
    with app.app_context():
        db.engine.dispose()


def needs_real_commits(request):
    """Tests marked real_commits (threads, processes, other connections) and tests that ask for `db_url` (their own
    app or a subprocess on the same database) need commits that other connections see."""
    return request.node.get_closest_marker("real_commits") is not None or "db_url" in request.fixturenames


@pytest.fixture
def app(request, clock):
    """The app under test, with the database empty but for the migrations.

    Most tests share one app per worker and run in one connection's transaction, rolled back at the end: every
    commit of the app (the request's, the audit rows written after a rollback, the scheduler's) becomes a savepoint
    release, every rollback a rollback to the savepoint, so what a test sees is what it would see with real commits
    as long as one connection does all the work (a second thread or connection fails the test, see rolled_back).
    PostgreSQL sequences are not transactional, so `events.seq` keeps counting across tests; only its order matters.
    `app.config` is restored after the test, so tests may change it. The tests that need real commits get a fresh
    app on a database of their own, as every test once did.
    """
    if needs_real_commits(request):
        app = create_app(dict(TEST_CONFIG, DATABASE_URL=request.getfixturevalue("db_url"), CLOCK=clock))
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    else:
        app = request.getfixturevalue("shared_app")
        with rolled_back(app):
            yield app


class SessionOnTestConnection(FlaskSQLAlchemySession):
    """Flask-SQLAlchemy's session, bound to the test's connection instead of the app's engine."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        return bind if bind is not None else self.bind


SECOND_CONNECTION = (
    "A test running in a rolled-back transaction used the database from a second thread or "
    "connection: its commits would be real, or it would wait on the test's own. Mark it real_commits."
)


def refuse_second_connection(dbapi_connection, connection_record, connection_proxy):
    raise AssertionError(SECOND_CONNECTION)


@contextmanager
def rolled_back(app):
    """Run the app's sessions inside one outer transaction, rolled back at the end, and restore app.config."""
    config = dict(app.config)
    with app.app_context():
        engine = db.engine
    connection = engine.connect()
    outer = connection.begin()
    sa.event.listen(engine, "checkout", refuse_second_connection)
    test_thread = threading.get_ident()

    def app_context_id():
        # The scope Flask-SQLAlchemy gives db.session (one session per app context), from the test's thread only.
        if threading.get_ident() != test_thread:
            raise AssertionError(SECOND_CONNECTION)
        return id(flask.globals.app_ctx._get_current_object())

    app_session = db.session
    db.session = orm.scoped_session(
        orm.sessionmaker(
            class_=SessionOnTestConnection,
            db=db,
            query_cls=db.Query,
            bind=connection,
            join_transaction_mode="create_savepoint",
        ),
        scopefunc=app_context_id,
    )
    try:
        yield
    finally:
        db.session = app_session
        sa.event.remove(engine, "checkout", refuse_second_connection)
        outer.rollback()
        connection.close()
        app.config.clear()
        app.config.update(config)


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
    """Organizations and users for tests, written by factories (the admin services are tested through the API)."""

    def __init__(self, app):
        self.app = app
        self.tokens = {}
        self.users = {}
        self.orgs = {}

    def org(self, key, kind, payer_ids=()):
        with self.app.app_context():
            self._add_org(key, kind, payer_ids)
            db.session.commit()
        return self.orgs[key]

    def user(self, key, role, org_key):
        with self.app.app_context():
            self._add_user(key, role, org_key)
            db.session.commit()
        return self.tokens[key]

    def build(self, orgs, users):
        """Organizations (key, kind, payer ids) then users (key, role, org key), in one transaction."""
        with self.app.app_context():
            for key, kind, payer_ids in orgs:
                self._add_org(key, kind, payer_ids)
            for key, role, org_key in users:
                self._add_user(key, role, org_key)
            db.session.commit()
        return self

    def _add_org(self, key, kind, payer_ids):
        self.orgs[key] = OrganizationFactory(name="%s org" % key, kind=kind, payer_ids=list(payer_ids)).id

    def _add_user(self, key, role, org_key):
        token = generate_token()
        user = UserFactory(
            email="%s@example.org" % key, organization_id=self.orgs[org_key], role=role, token_hash=hash_token(token)
        )
        self.users[key] = user.id
        self.tokens[key] = token


WORLD_ORGS = [
    ("admin", "platform", ()),
    ("hospital", "hospital", ()),
    ("hospital2", "residential", ()),
    ("plan", "health_plan", ["acme-health"]),
    ("plan2", "health_plan", ["other-plan"]),
    ("provider", "iop_provider", ()),
    ("provider2", "iop_provider", ()),
]
WORLD_USERS = [
    ("admin", "admin", "admin"),
    ("planner", "discharge_planner", "hospital"),
    ("planner2", "discharge_planner", "hospital2"),
    ("manager", "case_manager", "plan"),
    ("manager2", "case_manager", "plan2"),
    ("coordinator", "iop_coordinator", "provider"),
    ("coordinator2", "iop_coordinator", "provider2"),
]


@pytest.fixture
def world(app):
    """Two hospitals, a health plan following acme-health, two IOP providers, and one user per role."""
    return World(app).build(WORLD_ORGS, WORLD_USERS)


@pytest.fixture
def emails(app, world):
    """The world's users with a web password: {who: email}."""
    return give_passwords(app, world)


@pytest.fixture
def web(app):
    """A browser-like client of the pages, not signed in."""
    return WebClient(app)


@pytest.fixture
def as_user(app, emails):
    """as_user("planner") -> a WebClient signed in as that world user (one per user per test)."""
    clients = {}

    def signed_in(who):
        if who not in clients:
            client = WebClient(app)
            assert client.sign_in(emails[who]).status_code == 302
            clients[who] = client
        return clients[who]

    return signed_in
