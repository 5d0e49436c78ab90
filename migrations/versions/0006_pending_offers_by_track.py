"""Seat reads: pending offers by track and expiry (a partial index), so stale holds are cheap to subtract.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_offers_pending_track",
        "offers",
        ["track_id", "expires_at"],
        unique=False,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade():
    op.drop_index("ix_offers_pending_track", table_name="offers")
