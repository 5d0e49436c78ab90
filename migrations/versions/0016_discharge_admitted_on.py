"""A discharge without referral keeps its stay's admission day (PV1-44, Encounter.period.start): a later discharge
message of the same stay with another date corrects the recorded discharge instead of recording a second one.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: discharges recorded before it have no admission day, and a message need not carry one.
    with op.batch_alter_table("discharges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("admitted_on", sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table("discharges", schema=None) as batch_op:
        batch_op.drop_column("admitted_on")
