"""Discharges without referral (ADT A03 with no open referral, a health plan's member): the discharges, their
follow-up visits and readmissions; a follow-up check follows a referral or a discharge, exactly one.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

import transitions.core.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "discharges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("adt_message_id", sa.String(length=36), nullable=True),
        sa.Column("patient_key", sa.String(length=320), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("patient_class", sa.String(length=10), nullable=True),
        sa.Column("payer_id", sa.String(length=100), nullable=False),
        sa.Column("member_id", sa.String(length=100), nullable=True),
        sa.Column("discharge_date", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("adopted_by_referral_id", sa.String(length=36), nullable=True),
        sa.Column("adopted_at", transitions.core.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", transitions.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["adt_message_id"], ["adt_messages.id"], name=op.f("fk_discharges_adt_message_id_adt_messages")
        ),
        sa.ForeignKeyConstraint(
            ["adopted_by_referral_id"], ["referrals.id"], name=op.f("fk_discharges_adopted_by_referral_id_referrals")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_discharges_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discharges")),
    )
    with op.batch_alter_table("discharges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_discharges_payer_id"), ["payer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_discharges_discharge_date"), ["discharge_date"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_discharges_adopted_by_referral_id"), ["adopted_by_referral_id"], unique=False
        )
        batch_op.create_index(
            "uq_discharges_patient_day", ["organization_id", "patient_key", "discharge_date"], unique=True
        )
    op.create_table(
        "discharge_visits",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("discharge_id", sa.String(length=36), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", transitions.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["discharge_id"], ["discharges.id"], name=op.f("fk_discharge_visits_discharge_id_discharges")
        ),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"], name=op.f("fk_discharge_visits_recorded_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discharge_visits")),
    )
    with op.batch_alter_table("discharge_visits", schema=None) as batch_op:
        batch_op.create_index("uq_discharge_visits_day", ["discharge_id", "visit_date"], unique=True)
    op.create_table(
        "discharge_readmissions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("discharge_id", sa.String(length=36), nullable=False),
        sa.Column("admitted_on", sa.Date(), nullable=False),
        sa.Column("classification", sa.String(length=20), nullable=False),
        sa.Column("facility", sa.String(length=200), nullable=True),
        sa.Column("recorded_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", transitions.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["discharge_id"], ["discharges.id"], name=op.f("fk_discharge_readmissions_discharge_id_discharges")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("fk_discharge_readmissions_recorded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discharge_readmissions")),
    )
    with op.batch_alter_table("discharge_readmissions", schema=None) as batch_op:
        batch_op.create_index("uq_discharge_readmissions_day", ["discharge_id", "admitted_on"], unique=True)
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("discharge_id", sa.String(length=36), nullable=True))
        batch_op.alter_column("referral_id", existing_type=sa.String(length=36), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_followups_discharge_id_discharges"), "discharges", ["discharge_id"], ["id"]
        )
        batch_op.create_index("uq_followups_discharge_check", ["discharge_id", "check"], unique=True)
        batch_op.create_check_constraint(
            batch_op.f("ck_followups_one_subject"), "(referral_id IS NULL) <> (discharge_id IS NULL)"
        )


def downgrade():
    op.execute(
        "DELETE FROM followup_contacts WHERE followup_id IN (SELECT id FROM followups WHERE discharge_id IS NOT NULL)"
    )
    op.execute("DELETE FROM followups WHERE discharge_id IS NOT NULL")
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_followups_one_subject"), type_="check")
        batch_op.drop_index("uq_followups_discharge_check")
        batch_op.drop_constraint("fk_followups_discharge_id_discharges", type_="foreignkey")
        batch_op.alter_column("referral_id", existing_type=sa.String(length=36), nullable=False)
        batch_op.drop_column("discharge_id")
    op.drop_table("discharge_readmissions")
    op.drop_table("discharge_visits")
    op.drop_table("discharges")
