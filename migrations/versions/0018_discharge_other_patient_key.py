"""A discharge's patient key of the other form of the given name its message carried: PID-5 Lopez^Maria^Elena is
recorded under "maria|lopez|…" and keeps "maria elena|lopez|…" too (a FHIR name the other way round), so a referral
made for either form adopts the discharge.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: a message with one form of the given name has no other, and discharges recorded before it keep none
    # (a referral of their recorded form still adopts them).
    with op.batch_alter_table("discharges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("other_patient_key", sa.String(length=320), nullable=True))
        batch_op.create_index("ix_discharges_other_patient_key", ["other_patient_key"])


def downgrade():
    with op.batch_alter_table("discharges", schema=None) as batch_op:
        batch_op.drop_index("ix_discharges_other_patient_key")
        batch_op.drop_column("other_patient_key")
