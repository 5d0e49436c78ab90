"""The directory import: programs carry their source, unconfirmed flag, address, claim time and the import's
bookkeeping (facility key, each file's row, the values it last wrote); tracks carry when their seats were confirmed.

Existing tracks count as confirmed when they were last changed.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import transitions.core.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=20), server_default="provider", nullable=False))
        batch_op.add_column(sa.Column("unconfirmed", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("street", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("city", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", transitions.core.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("import_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("import_rows", transitions.core.types.JSONType, nullable=True))
        batch_op.add_column(sa.Column("import_applied", transitions.core.types.JSONType, nullable=True))
        batch_op.create_unique_constraint("uq_programs_import_key", ["import_key"])
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seats_confirmed_at", transitions.core.types.UTCDateTime(), nullable=True))
    op.execute("UPDATE tracks SET seats_confirmed_at = updated_at")


def downgrade():
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_column("seats_confirmed_at")
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_programs_import_key", type_="unique")
        batch_op.drop_column("import_applied")
        batch_op.drop_column("import_rows")
        batch_op.drop_column("import_key")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("city")
        batch_op.drop_column("street")
        batch_op.drop_column("unconfirmed")
        batch_op.drop_column("source")
