"""Referrals and discharges by patient: an admission one organization's ADT feed reports is matched to another
organization's discharge of the same plan member (its patient key, then its coverage), looked up by patient key
across organizations, which no index served (the existing ones lead with the organization).

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_referrals_patient_key", "referrals", ["patient_key"])
    op.create_index("ix_discharges_patient_key", "discharges", ["patient_key"])


def downgrade():
    op.drop_index("ix_discharges_patient_key", table_name="discharges")
    op.drop_index("ix_referrals_patient_key", table_name="referrals")
