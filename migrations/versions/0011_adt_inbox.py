"""The ADT inbox: HL7 facility ids on hospital and residential organizations, and the adt_messages table every
HL7 v2 message is stored in before it is acknowledged.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import transitions.core.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "hl7_facility_ids",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                server_default="[]",
                nullable=False,
            )
        )
    op.create_table(
        "adt_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("received_at", transitions.core.types.UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.String(length=100), nullable=True),
        sa.Column("control_id", sa.String(length=200), nullable=True),
        sa.Column("message_type", sa.String(length=10), nullable=True),
        sa.Column("trigger", sa.String(length=10), nullable=True),
        sa.Column("version", sa.String(length=10), nullable=True),
        sa.Column("organization_id", sa.String(length=36), nullable=True),
        sa.Column("sender_organization_id", sa.String(length=36), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ack_code", sa.String(length=2), nullable=True),
        sa.Column("error_field", sa.String(length=20), nullable=True),
        sa.Column("error_code", sa.String(length=3), nullable=True),
        sa.Column("referral_id", sa.String(length=36), nullable=True),
        sa.Column("processed_at", transitions.core.types.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_adt_messages_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals.id"], name=op.f("fk_adt_messages_referral_id_referrals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adt_messages")),
        sa.UniqueConstraint("message_key", name=op.f("uq_adt_messages_message_key")),
        sa.Column("message_key", sa.String(length=320), nullable=True),
    )
    with op.batch_alter_table("adt_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_adt_messages_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_adt_messages_organization_id"), ["organization_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_adt_messages_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_adt_messages_referral_id"), ["referral_id"], unique=False)


def downgrade():
    op.drop_table("adt_messages")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("hl7_facility_ids")
