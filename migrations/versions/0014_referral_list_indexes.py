"""Referral lists by organization and by payer in their page order (created_at, id): a page reads its own rows, not
every referral of the organization or the plan; these replace the one-column organization and payer indexes.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_referrals_organization_created", "referrals", ["organization_id", "created_at", "id"])
    op.create_index("ix_referrals_payer_created", "referrals", ["payer_id", "created_at", "id"])
    op.drop_index("ix_referrals_organization_id", table_name="referrals")
    op.drop_index("ix_referrals_payer_id", table_name="referrals")


def downgrade():
    op.create_index("ix_referrals_payer_id", "referrals", ["payer_id"])
    op.create_index("ix_referrals_organization_id", "referrals", ["organization_id"])
    op.drop_index("ix_referrals_payer_created", table_name="referrals")
    op.drop_index("ix_referrals_organization_created", table_name="referrals")
