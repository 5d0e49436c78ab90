"""Follow-ups and webhooks: due times for checks, the outbox's dispatch flag, plans for existing referrals.

Revision ID: 0003
Revises: 0002
"""

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

import transitions.core.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# A copy of the default plan as it was when this migration was written: migrations must not
# change meaning when the code's defaults do later.
PLAN = (
    ("intake_scheduled", 1, None),
    ("followup_7", 7, None),
    ("initiation_14", 14, ("substance_use", "co_occurring")),
    ("followup_30", 30, None),
    ("engagement_34", 34, ("substance_use", "co_occurring")),
    ("outcome_90", 90, None),
    ("outcome_180", 180, None),
)


def _end_of_day(day, zone):
    try:
        tz = ZoneInfo(zone)
    except Exception:  # a zone name this machine's tzdata does not know: fall back to UTC
        tz = UTC
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


def upgrade():
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", transitions.core.types.UTCDateTime(), nullable=True))
    bind = op.get_bind()
    followups = sa.table(
        "followups",
        sa.column("id", sa.String),
        sa.column("referral_id", sa.String),
        sa.column("check", sa.String),
        sa.column("due_date", sa.Date),
        sa.column("due_at", transitions.core.types.UTCDateTime()),
        sa.column("outcome", sa.String),
        sa.column("evaluated_at", transitions.core.types.UTCDateTime()),
        sa.column("evidence", transitions.core.types.JSONType),
        sa.column("created_at", transitions.core.types.UTCDateTime()),
    )
    referrals = sa.table(
        "referrals",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("need", sa.String),
        sa.column("discharge_date", sa.Date),
        sa.column("timezone", sa.String),
    )
    rows = bind.execute(
        sa.select(followups.c.id, followups.c.due_date, referrals.c.timezone).join(
            referrals, referrals.c.id == followups.c.referral_id
        )
    ).all()
    for row in rows:
        bind.execute(
            followups.update().where(followups.c.id == row.id).values(due_at=_end_of_day(row.due_date, row.timezone))
        )
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.alter_column("due_at", existing_type=transitions.core.types.UTCDateTime(), nullable=False)
        batch_op.drop_index(
            "ix_followups_pending_due",
            postgresql_where=sa.text("outcome IS NULL"),
            sqlite_where=sa.text("outcome IS NULL"),
        )
        batch_op.create_index(
            "ix_followups_pending_due",
            ["due_at"],
            unique=False,
            postgresql_where=sa.text("outcome IS NULL"),
            sqlite_where=sa.text("outcome IS NULL"),
        )
        # uq_followups_referral_check leads with referral_id and serves its lookups.
        batch_op.drop_index("ix_followups_referral_id")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispatched_at", transitions.core.types.UTCDateTime(), nullable=True))
    # Events from before webhooks existed have nobody to go to.
    op.execute("UPDATE events SET dispatched_at = created_at")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_undispatched",
            ["seq"],
            unique=False,
            postgresql_where=sa.text("dispatched_at IS NULL"),
            sqlite_where=sa.text("dispatched_at IS NULL"),
        )

    # Referrals submitted before follow-ups existed get their plan; checks already past due are
    # closed as not_applicable, so the upgrade does not escalate weeks-old checks all at once.
    now = datetime.now(UTC)
    planned = {r for (r,) in bind.execute(sa.select(followups.c.referral_id).distinct())}
    new_rows = []
    for referral in bind.execute(sa.select(referrals).where(referrals.c.status != "cancelled")).all():
        if referral.id in planned:
            continue
        for check, days, needs in PLAN:
            if needs and referral.need not in needs:
                continue
            due_date = referral.discharge_date + timedelta(days=days)
            due_at = _end_of_day(due_date, referral.timezone)
            past = due_at <= now
            new_rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "referral_id": referral.id,
                    "check": check,
                    "due_date": due_date,
                    "due_at": due_at,
                    "outcome": "not_applicable" if past else None,
                    "evaluated_at": now if past else None,
                    "evidence": {"reason": "due_before_followups_existed"} if past else None,
                    "created_at": now,
                }
            )
    if new_rows:
        op.bulk_insert(followups, new_rows)


def downgrade():
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_events_undispatched",
            postgresql_where=sa.text("dispatched_at IS NULL"),
            sqlite_where=sa.text("dispatched_at IS NULL"),
        )
        batch_op.drop_column("dispatched_at")
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_followups_pending_due",
            postgresql_where=sa.text("outcome IS NULL"),
            sqlite_where=sa.text("outcome IS NULL"),
        )
        batch_op.create_index(
            "ix_followups_pending_due",
            ["due_date"],
            unique=False,
            postgresql_where=sa.text("outcome IS NULL"),
            sqlite_where=sa.text("outcome IS NULL"),
        )
        batch_op.create_index("ix_followups_referral_id", ["referral_id"], unique=False)
        batch_op.drop_column("due_at")
