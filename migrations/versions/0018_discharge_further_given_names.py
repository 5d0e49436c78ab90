"""A discharge's patient key with the further given names: a referral made as "Maria Elena" adopts the discharge
an A03 for PID-5 Lopez^Maria^Elena recorded (its patient key is the first given name's, "maria|lopez|…").

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
    # Nullable: a message with one given name has no further form, and discharges recorded before it keep none (a
    # referral of their first given name still adopts them).
    with op.batch_alter_table("discharges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("patient_key_further", sa.String(length=320), nullable=True))
        batch_op.create_index("ix_discharges_patient_key_further", ["patient_key_further"])


def downgrade():
    with op.batch_alter_table("discharges", schema=None) as batch_op:
        batch_op.drop_index("ix_discharges_patient_key_further")
        batch_op.drop_column("patient_key_further")
