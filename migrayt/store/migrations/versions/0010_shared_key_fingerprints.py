"""shared_key_fingerprint: the keys every API and worker must share, recorded by the first one to start

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shared_key_fingerprint",
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("task_queue", sa.String(length=255), nullable=False),
        sa.Column("key_name", sa.String(length=120), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "task_queue", "key_name", name=op.f("pk_shared_key_fingerprint")),
    )


def downgrade() -> None:
    op.drop_table("shared_key_fingerprint")
