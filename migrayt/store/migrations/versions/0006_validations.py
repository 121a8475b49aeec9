"""validations: a read-only check of a migration's Jira issues against ADO, its batches and differences

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "validation",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("migration_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("deep", sa.Boolean(), nullable=False),
        sa.Column("tolerances", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("items_total", sa.Integer(), nullable=False),
        sa.Column("items_checked", sa.Integer(), nullable=False),
        sa.Column("scope", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["migration_id"], ["migration.id"], name=op.f("fk_validation_migration_id_migration"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation")),
    )
    op.create_index(op.f("ix_validation_migration_id"), "validation", ["migration_id"], unique=False)
    op.create_index(op.f("ix_validation_tenant_id"), "validation", ["tenant_id"], unique=False)
    op.create_table(
        "validation_batch",
        sa.Column("validation_id", sa.String(length=100), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("jira_calls", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["validation_id"],
            ["validation.id"],
            name=op.f("fk_validation_batch_validation_id_validation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("validation_id", "start", name=op.f("pk_validation_batch")),
    )
    op.create_table(
        "validation_difference",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("validation_id", sa.String(length=100), nullable=False),
        sa.Column("batch_start", sa.Integer(), nullable=False),
        sa.Column("check", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ado_id", sa.Integer(), nullable=True),
        sa.Column("jira_key", sa.String(length=200), nullable=True),
        sa.Column("expected", sa.Text(), nullable=True),
        sa.Column("actual", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["validation_id"],
            ["validation.id"],
            name=op.f("fk_validation_difference_validation_id_validation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_difference")),
    )
    op.create_index(
        "ix_validation_difference_validation_batch",
        "validation_difference",
        ["validation_id", "batch_start"],
        unique=False,
    )
    op.create_index(
        "ix_validation_difference_validation_check_kind",
        "validation_difference",
        ["validation_id", "check", "kind"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("validation_difference")
    op.drop_table("validation_batch")
    op.drop_table("validation")
