"""The database: the Flask-SQLAlchemy and Flask-Migrate extensions and plumbing shared by SQLite and PostgreSQL."""

import logging
import sqlite3
from contextlib import contextmanager

import psycopg
from flask import g, request
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Index, MetaData, event, exists, func, literal, select, text, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from transitions.core.errors import Conflict, DatabaseUnavailable

log = logging.getLogger(__name__)

# Stable constraint names so migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate()


def partial_index(name, *columns, where, unique=False):
    """An index over only the rows matching where (SQL text), the same on PostgreSQL and SQLite."""
    return Index(name, *columns, unique=unique, postgresql_where=text(where), sqlite_where=text(where))


def dialect_name():
    return db.session.get_bind().dialect.name


def json_array_contains(column, value):
    """column (a JSON array) contains value: JSONB @> on PostgreSQL, json_each on SQLite."""
    if dialect_name() == "postgresql":
        return type_coerce(column, JSONB).contains([value])
    elements = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(elements).where(elements.c.value == value))


# PostgreSQL SQLSTATEs that mean "lost a race": deadlock, serialization failure, lock not available.
RACE_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def is_race(error):
    """A constraint refusal or a lost lock race: retrying the request would be right, a 500 would not."""
    if isinstance(error, IntegrityError):
        return True
    return isinstance(error, OperationalError) and getattr(error.orig, "sqlstate", None) in RACE_SQLSTATES


@contextmanager
def races_as_conflicts():
    """A constraint or lock conflict inside a use case becomes a 409 'retry', never a 500."""
    try:
        yield
    except (IntegrityError, OperationalError) as error:
        if not is_race(error):
            raise
        log.info("lost a race (%s); answering 409", getattr(error.orig, "sqlstate", None) or "constraint")
        raise Conflict("A concurrent change conflicted with this request; retry it.") from None


def is_unavailable(error):
    """The database cannot be reached or used right now (refused, dropped, restarting, out of pooled connections):
    a request that meets this should be retried later, so it is a 503, never a 500.

    Every OperationalError counts: a lost race that no use case turned into a 409 is as transient as a restart.
    """
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def describe_unavailable(error):
    """An unavailable database in a few words: the driver's error class and the first line of its message."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return "%s: %s" % (type(cause).__name__, lines[0] if lines else "no message")


def database_unavailable(error, where="on"):
    """The 503 for a request that could not use the database (raise it, or hand it to the app's error handlers),
    logged in one line: a traceback would say nothing more, and an outage under load would write thousands.

    The error page must not touch the database again: the session is rolled back (a failed flush leaves it unusable)
    and the signed-in user forgotten, whose expired attributes would be loaded from the database to draw the page.
    """
    log.warning(
        "database unavailable %s %s %s (%s); answering 503",
        where,
        request.method,
        request.path,
        describe_unavailable(error),
    )
    try:
        db.session.rollback()
    except Exception as rollback_error:  # the connection is gone; the session starts afresh all the same
        if not is_unavailable(rollback_error):
            raise
    g.user = None
    g.web_session = None
    return DatabaseUnavailable()


# The database drivers' own errors (what a reset raises), and SQLAlchemy's wrapping of them.
DRIVER_ERRORS = (psycopg.Error, sqlite3.Error, DBAPIError)


class ResetOfALostConnection(logging.Filter):
    """The pool's "Exception during reset or similar" when the connection it resets is one the database dropped (an
    outage, a restart, a server shutting down mid-statement): one warning line, as every other sign of an outage is
    logged, not a traceback per pooled connection. The pool discards that connection either way."""

    MESSAGE = "Exception during reset or similar"

    def filter(self, record):
        error = record.exc_info[1] if record.exc_info else None
        if record.msg == self.MESSAGE and isinstance(error, DRIVER_ERRORS):
            record.msg, record.args = (
                "a pooled connection could not be reset and was discarded (%s)",
                (describe_unavailable(error),),
            )
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


# Every pool logs on its class's logger; a filter on a logger applies to its own records only.
for _pool in ("QueuePool", "NullPool", "SingletonThreadPool", "StaticPool"):
    logging.getLogger("sqlalchemy.pool.impl." + _pool).addFilter(ResetOfALostConnection())


def advisory_xact_lock(name):
    """Hold a lock on `name` until the transaction ends, for use cases that decide by reading what another may be
    writing at the same moment (rows that do not exist yet cannot be locked): PostgreSQL's transaction advisory lock
    on a 64-bit hash of the name (a hash collision only makes two unrelated callers wait for each other). SQLite
    needs none: BEGIN IMMEDIATE (configure_sqlite) already serializes every writing transaction."""
    if dialect_name() == "postgresql":
        db.session.execute(_ADVISORY_XACT_LOCK, {"name": name})


_ADVISORY_XACT_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))")


def configure_sqlite(engine, busy_timeout_ms=30000):
    """WAL, foreign keys, and BEGIN IMMEDIATE so concurrent writers queue instead of failing mid-transaction."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=%d" % busy_timeout_ms)
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def schema_filter_for(database):
    """An Alembic include_object that skips indexes built only on another database (Index.ddl_if).

    Autogenerate does not read ddl_if; without this, SQLite would always "miss" PostgreSQL's GIN index.
    """

    def include_object(obj, name, type_, reflected, compare_to):
        ddl_if = getattr(obj, "_ddl_if", None) if type_ == "index" else None
        return ddl_if is None or ddl_if.dialect is None or ddl_if.dialect == database

    return include_object
