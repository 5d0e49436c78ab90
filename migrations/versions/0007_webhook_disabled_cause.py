"""Webhooks: why one is switched off, as a code (user, gone, url_refused, deleted) beside the words.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_cause", sa.String(length=20), nullable=True))
    # Until now a webhook was switched off by a 410 from its receiver or by its organization; the reason said which.
    op.execute(
        "UPDATE webhooks SET disabled_cause = CASE WHEN disabled_reason LIKE '%410 Gone%' THEN 'gone' ELSE 'user' END"
        " WHERE active = false"
    )


def downgrade():
    # A deleted webhook must not come back to life as a merely switched-off one that a PATCH could switch on again.
    op.execute(
        "DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id"
        " IN (SELECT id FROM webhooks WHERE disabled_cause = 'deleted'))"
    )
    op.execute(
        "DELETE FROM webhook_deliveries WHERE webhook_id IN (SELECT id FROM webhooks WHERE disabled_cause = 'deleted')"
    )
    op.execute("DELETE FROM webhooks WHERE disabled_cause = 'deleted'")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("disabled_cause")
