"""The ADT inbox's field at fault holds FHIRPath too: a FHIR discharge notification names the element it refused
("Coverage.payor[0].identifier.value"), longer than an HL7 field ("PV1-45") ever is.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    # batch_alter_table: SQLite cannot ALTER a column's type, so Alembic rebuilds the table there (PostgreSQL alters).
    with op.batch_alter_table("adt_messages", schema=None) as batch_op:
        batch_op.alter_column(
            "error_field", existing_type=sa.String(length=20), type_=sa.String(length=200), existing_nullable=True
        )


def downgrade():
    # Back to HL7's width: a longer FHIRPath is cut (PostgreSQL would refuse to narrow the column over it).
    op.execute("UPDATE adt_messages SET error_field = substr(error_field, 1, 20) WHERE length(error_field) > 20")
    with op.batch_alter_table("adt_messages", schema=None) as batch_op:
        batch_op.alter_column(
            "error_field", existing_type=sa.String(length=200), type_=sa.String(length=20), existing_nullable=True
        )
