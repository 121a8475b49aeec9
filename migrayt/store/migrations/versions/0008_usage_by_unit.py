"""usage_report by unit: a run's usage is reported to Stripe per priced unit (item, worklog, …), each on its meter

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows reported before units count flat writes, under the old meter event: unit "write".
    op.add_column(
        "usage_report", sa.Column("unit", sa.String(length=40), nullable=False, server_default=sa.text("'write'"))
    )
    op.drop_constraint(op.f("pk_usage_report"), "usage_report", type_="primary")
    op.create_primary_key(op.f("pk_usage_report"), "usage_report", ["run_id", "unit"])


def downgrade() -> None:
    op.execute("DELETE FROM usage_report WHERE unit <> 'write'")
    op.drop_constraint(op.f("pk_usage_report"), "usage_report", type_="primary")
    op.create_primary_key(op.f("pk_usage_report"), "usage_report", ["run_id"])
    op.drop_column("usage_report", "unit")
