"""Migration 0003 on a database with history: existing referrals get plans, old checks and events stay quiet."""

import uuid
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from flask_migrate import upgrade

from tests.conftest import _with_database, postgres_server_url
from transitions import MIGRATIONS_DIR, create_app
from transitions.core.db import db


def _referral(connection, discharge, status="submitted", need="mental_health"):
    referral_id = str(uuid.uuid4())
    now = datetime.now(UTC).replace(tzinfo=None)
    connection.execute(
        sa.text(
            "INSERT INTO referrals (id, organization_id, created_by, status, patient_key, given_name, family_name, "
            "birth_date, gender, language, zip, patient_state, latitude, longitude, self_pay, origin, need, diagnoses, "
            "needs_mat, discharge_date, timezone, modality, share_notes, auto_cascade, created_at, updated_at) "
            "VALUES (:id, 'org', 'user', :status, :key, 'A', 'B', '1990-01-01', 'unknown', 'en', '60614', 'IL', 41.9, "
            "-87.6, false, 'inpatient_psych', :need, '[\"F33.1\"]', false, :discharge, 'America/Chicago', 'either', "
            "false, false, :now, :now)"
        ),
        {"id": referral_id, "status": status, "key": referral_id, "need": need, "discharge": discharge, "now": now},
    )
    return referral_id


def _check_upgrade(url):
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test"})
    today = date.today()
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="0002")
        with db.engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.execute(
                sa.text(
                    "INSERT INTO organizations (id, name, kind, payer_ids, created_at) "
                    "VALUES ('org', 'Old hospital', 'hospital', '[]', CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO users (id, email, organization_id, role, token_hash, active, created_at) "
                    "VALUES ('user', 'old@example.org', 'org', 'discharge_planner', 'h', true, CURRENT_TIMESTAMP)"
                )
            )
            old = _referral(connection, today - timedelta(days=10), need="substance_use")
            future = _referral(connection, today + timedelta(days=3))
            cancelled = _referral(connection, today - timedelta(days=3), status="cancelled")
            connection.execute(
                sa.text(
                    "INSERT INTO events (id, type, referral_id, data, created_at) "
                    "VALUES ('e1', 'referral.submitted', :r, '{}', CURRENT_TIMESTAMP)"
                ),
                {"r": old},
            )
        upgrade(directory=MIGRATIONS_DIR)
        with db.engine.connect() as connection:
            rows = connection.execute(sa.text('SELECT referral_id, "check", due_date, outcome FROM followups')).all()
            undispatched = connection.execute(
                sa.text("SELECT count(*) FROM events WHERE dispatched_at IS NULL")
            ).scalar()
        db.engine.dispose()
    plans = {}
    for referral_id, check, _due_date, outcome in rows:
        plans.setdefault(referral_id, {})[check] = outcome
    assert cancelled not in plans
    assert plans[future] == {
        c: None for c in ("intake_scheduled", "followup_7", "followup_30", "outcome_90", "outcome_180")
    }
    # Past-due checks of old referrals are closed, not escalated all at once after the upgrade.
    assert plans[old]["intake_scheduled"] == plans[old]["followup_7"] == "not_applicable"
    assert plans[old]["initiation_14"] is None and plans[old]["engagement_34"] is None
    assert undispatched == 0


def test_migration_0003_plans_existing_referrals_on_sqlite(tmp_path):
    _check_upgrade("sqlite:///%s" % (tmp_path / "history.sqlite3"))


def test_migration_0003_plans_existing_referrals_on_postgres():
    import pytest

    server = postgres_server_url()
    if not server:
        pytest.skip("needs PostgreSQL")
    name = "transitions_fu_migrate_%s" % uuid.uuid4().hex[:10]
    admin = sa.create_engine(_with_database(server, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql('CREATE DATABASE "%s"' % name)
    try:
        _check_upgrade(_with_database(server, name))
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        admin.dispose()
