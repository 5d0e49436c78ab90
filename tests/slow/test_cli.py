"""Operator commands and migrations, run the way an operator runs them."""

import os
import subprocess
import sys
import uuid

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import transitions.models  # noqa: F401  (every table in db.metadata, however the test is run)
from tests.conftest import _with_database, postgres_server_url
from transitions import MIGRATIONS_DIR, create_app
from transitions.core.db import db, schema_filter_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def flask(*args, database_url):
    env = dict(os.environ, TRANSITIONS_DATABASE_URL=database_url, TRANSITIONS_SECRET_KEY="cli-test")
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "transitions", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_create_admin_prints_a_working_token_last(db_url):
    result = flask("create-admin", "ops@example.org", database_url=db_url)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "x"})
    me = app.test_client().get("/api/v1/users/me", headers={"Authorization": "Bearer " + token})
    assert me.status_code == 200 and me.json["role"] == "admin"
    again = flask("create-admin", "ops@example.org", database_url=db_url)
    assert again.returncode != 0 and "already exists" in again.stderr


def _assert_upgrade_builds_the_models_schema(url):
    result = flask("db", "upgrade", database_url=url)
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": schema_filter_for(connection.dialect.name)}
        )
        diff = compare_metadata(context, db.metadata)
    engine.dispose()
    assert diff == []


def test_migrations_build_an_empty_sqlite_database(tmp_path):
    _assert_upgrade_builds_the_models_schema("sqlite:///%s" % (tmp_path / "fresh.sqlite3"))


def test_migrations_build_an_empty_postgres_database():
    server = postgres_server_url() or "postgresql://postgres@127.0.0.1:5432/test"
    name = "transitions_migrate_%s" % uuid.uuid4().hex[:10]
    admin = sa.create_engine(_with_database(server, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql('CREATE DATABASE "%s"' % name)
    except sa.exc.OperationalError:
        import pytest

        pytest.skip("no PostgreSQL server reachable")
    try:
        _assert_upgrade_builds_the_models_schema(_with_database(server, name).replace("+psycopg", ""))
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        admin.dispose()


def test_audit_log_refuses_updates_and_deletes(app):
    import pytest

    with app.app_context():
        db.session.execute(
            sa.text(
                "INSERT INTO audit_log (id, at, action, object_type, outcome) "
                "VALUES ('a1', CURRENT_TIMESTAMP, 'x', 'referral', 'allowed')"
            )
        )
        db.session.commit()
        for statement in ("UPDATE audit_log SET outcome = 'denied'", "DELETE FROM audit_log"):
            with pytest.raises(sa.exc.DatabaseError):
                db.session.execute(sa.text(statement))
                db.session.commit()
            db.session.rollback()
        assert db.session.execute(sa.text("SELECT outcome FROM audit_log")).scalar() == "allowed"


def test_migrations_dir_is_the_one_in_the_repo():
    assert MIGRATIONS_DIR == os.path.join(ROOT, "migrations")
