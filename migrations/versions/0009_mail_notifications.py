"""Mail to people: one delivery row per event and recipient, each user's preferences, and the events' mail flag.

Events written before this revision count as mailed: switching mail on never sends a backlog of old news.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

import transitions.core.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mailed_at", transitions.core.types.UTCDateTime(), nullable=True))
    op.execute("UPDATE events SET mailed_at = CURRENT_TIMESTAMP")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_unmailed",
            ["seq"],
            unique=False,
            postgresql_where=sa.text("mailed_at IS NULL"),
            sqlite_where=sa.text("mailed_at IS NULL"),
        )
    op.create_table(
        "mail_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", transitions.core.types.UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", transitions.core.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", transitions.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail_deliveries", schema=None) as batch_op:
        batch_op.create_index("uq_mail_deliveries_event_user", ["event_id", "user_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_mail_deliveries_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "ix_mail_deliveries_due",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("events", transitions.core.types.JSONType, nullable=True),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("updated_at", transitions.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade():
    op.drop_table("notification_preferences")
    with op.batch_alter_table("mail_deliveries", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_mail_deliveries_due",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index(batch_op.f("ix_mail_deliveries_user_id"))
        batch_op.drop_index("uq_mail_deliveries_event_user")
    op.drop_table("mail_deliveries")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_events_unmailed",
            postgresql_where=sa.text("mailed_at IS NULL"),
            sqlite_where=sa.text("mailed_at IS NULL"),
        )
        batch_op.drop_column("mailed_at")
