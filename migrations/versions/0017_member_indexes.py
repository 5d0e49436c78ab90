"""Referrals and discharges by member id: an admission one organization's ADT feed reports is matched to another
organization's discharge of the same plan member (name, birth date and member id), which is looked up by member id.

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_referrals_member", "referrals", ["member_id"])
    op.create_index("ix_discharges_member", "discharges", ["member_id"])


def downgrade():
    op.drop_index("ix_discharges_member", table_name="discharges")
    op.drop_index("ix_referrals_member", table_name="referrals")
