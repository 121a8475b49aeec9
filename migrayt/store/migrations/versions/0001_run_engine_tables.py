"""run engine tables

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:45:41.631490
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("migration_id", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("door", sa.String(length=20), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("event_key", name=op.f("uq_audit_event_event_key")),
    )
    op.create_index(op.f("ix_audit_event_migration_id"), "audit_event", ["migration_id"], unique=False)
    op.create_index(op.f("ix_audit_event_run_id"), "audit_event", ["run_id"], unique=False)
    op.create_index(op.f("ix_audit_event_tenant_id"), "audit_event", ["tenant_id"], unique=False)
    op.create_table(
        "migration",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("target", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("plan", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration")),
    )
    op.create_index(op.f("ix_migration_tenant_id"), "migration", ["tenant_id"], unique=False)
    op.create_table(
        "item_record",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("migration_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("target_key", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["migration_id"], ["migration.id"], name=op.f("fk_item_record_migration_id_migration"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_record")),
        sa.UniqueConstraint(
            "migration_id", "kind", "source_key", name=op.f("uq_item_record_migration_id_kind_source_key")
        ),
    )
    op.create_index(
        "ix_item_record_migration_kind_state", "item_record", ["migration_id", "kind", "state"], unique=False
    )
    op.create_table(
        "run",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("migration_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("original_run_id", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("phase", sa.String(length=40), nullable=True),
        sa.Column("counters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["migration_id"], ["migration.id"], name=op.f("fk_run_migration_id_migration"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
    )
    op.create_index(op.f("ix_run_migration_id"), "run", ["migration_id"], unique=False)
    op.create_index(op.f("ix_run_tenant_id"), "run", ["tenant_id"], unique=False)
    op.create_table(
        "run_source_item",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("work_item_type", sa.String(length=100), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_run_source_item_run_id_run"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_source_item")),
        sa.UniqueConstraint("run_id", "source_id", name=op.f("uq_run_source_item_run_id_source_id")),
    )
    op.create_index(
        "ix_run_source_item_run_tier_ordinal", "run_source_item", ["run_id", "tier", "ordinal"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_run_source_item_run_tier_ordinal", table_name="run_source_item")
    op.drop_table("run_source_item")
    op.drop_index(op.f("ix_run_tenant_id"), table_name="run")
    op.drop_index(op.f("ix_run_migration_id"), table_name="run")
    op.drop_table("run")
    op.drop_index("ix_item_record_migration_kind_state", table_name="item_record")
    op.drop_table("item_record")
    op.drop_index(op.f("ix_migration_tenant_id"), table_name="migration")
    op.drop_table("migration")
    op.drop_index(op.f("ix_audit_event_tenant_id"), table_name="audit_event")
    op.drop_index(op.f("ix_audit_event_run_id"), table_name="audit_event")
    op.drop_index(op.f("ix_audit_event_migration_id"), table_name="audit_event")
    op.drop_table("audit_event")
