"""run_source_item.content_ordinal: the later phases take a run's items heaviest first (most comments and files)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: lists kept before it stay NULL, and their runs keep the order by tier they started in.
    op.add_column("run_source_item", sa.Column("content_ordinal", sa.Integer(), nullable=True))
    op.create_index(
        "ix_run_source_item_run_content_ordinal", "run_source_item", ["run_id", "content_ordinal"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_run_source_item_run_content_ordinal", table_name="run_source_item")
    op.drop_column("run_source_item", "content_ordinal")
