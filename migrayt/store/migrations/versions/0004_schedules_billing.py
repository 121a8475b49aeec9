"""schedules (tenant index of Temporal Schedules), checkouts and usage reports

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSONB = postgresql.JSONB(astext_type=sa.Text())


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=None if nullable else sa.text("now()"), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "schedule",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("migration_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["migration_id"], ["migration.id"], name=op.f("fk_schedule_migration_id_migration"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule")),
    )
    op.create_index(op.f("ix_schedule_tenant_id"), "schedule", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_schedule_migration_id"), "schedule", ["migration_id"], unique=False)
    op.create_table(
        "checkout",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("migration_id", sa.String(length=64), nullable=False),
        sa.Column("scan_id", sa.String(length=100), nullable=True),
        sa.Column("quote", JSONB, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.String(length=200), nullable=True),
        sa.Column("subscription_id", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _ts("created_at"),
        _ts("paid_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["migration_id"], ["migration.id"], name=op.f("fk_checkout_migration_id_migration"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout")),
    )
    op.create_index(op.f("ix_checkout_tenant_id"), "checkout", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_checkout_migration_id"), "checkout", ["migration_id"], unique=False)
    op.create_table(
        "usage_report",
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("migration_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("reported_writes", sa.Integer(), nullable=False),
        sa.Column("pending_writes", sa.Integer(), nullable=False),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["migration_id"], ["migration.id"], name=op.f("fk_usage_report_migration_id_migration"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_usage_report")),
    )
    op.create_index(op.f("ix_usage_report_migration_id"), "usage_report", ["migration_id"], unique=False)


def downgrade() -> None:
    op.drop_table("usage_report")
    op.drop_table("checkout")
    op.drop_table("schedule")
