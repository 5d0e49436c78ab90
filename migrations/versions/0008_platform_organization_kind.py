"""The platform's own organization gets the kind "platform" (it was filed as a hospital before that kind existed).

Only an organization holding admins and nobody else is moved: a customer organization an admin was once added to
stays what it is.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        """
        UPDATE organizations SET kind = 'platform'
        WHERE name = 'Platform administration' AND kind = 'hospital'
          AND NOT EXISTS (
            SELECT 1 FROM users WHERE users.organization_id = organizations.id AND users.role <> 'admin'
          )
          AND NOT EXISTS (SELECT 1 FROM referrals WHERE referrals.organization_id = organizations.id)
        """
    )


def downgrade():
    op.execute("UPDATE organizations SET kind = 'hospital' WHERE kind = 'platform'")
