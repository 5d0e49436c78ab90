"""Matching indexes: telehealth licences (GIN, PostgreSQL only) and tracks by modality.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_tracks_modality", "tracks", ["modality"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_programs_telehealth_states",
            "programs",
            ["telehealth_states"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"telehealth_states": "jsonb_path_ops"},
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_programs_telehealth_states", table_name="programs")
    op.drop_index("ix_tracks_modality", table_name="tracks")
