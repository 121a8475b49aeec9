"""intake and mapping tables: stored connections, scans, plan versions, consent, previews

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSONB = postgresql.JSONB(astext_type=sa.Text())


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=None if nullable else sa.text("now()"), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "stored_connection",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=True),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("secret_hint", sa.String(length=20), nullable=False),
        sa.Column("detail", JSONB, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _ts("tested_at"),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_connection")),
    )
    op.create_index(op.f("ix_stored_connection_tenant_id"), "stored_connection", ["tenant_id"], unique=False)

    op.create_table(
        "scan",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("migration_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("catalog", JSONB, nullable=False),
        sa.Column("lint", JSONB, nullable=False),
        sa.Column("quote", JSONB, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["migration_id"], ["migration.id"], name=op.f("fk_scan_migration_id_migration"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan")),
    )
    op.create_index(op.f("ix_scan_tenant_id"), "scan", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_scan_migration_id"), "scan", ["migration_id"], unique=False)

    op.create_table(
        "plan_version",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("migration_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("plan", JSONB, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        _ts("approved_at", nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["migration_id"], ["migration.id"], name=op.f("fk_plan_version_migration_id_migration"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_version")),
        sa.UniqueConstraint("migration_id", "version", name=op.f("uq_plan_version_migration_id_version")),
    )
    op.create_index(op.f("ix_plan_version_migration_id"), "plan_version", ["migration_id"], unique=False)

    op.create_table(
        "tenant_consent",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("ai_drafting", sa.Boolean(), nullable=False),
        sa.Column("given_by", sa.String(length=200), nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_consent")),
    )

    op.create_table(
        "preview",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("migration_id", sa.String(length=64), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("report", JSONB, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["migration_id"], ["migration.id"], name=op.f("fk_preview_migration_id_migration"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preview")),
    )
    op.create_index(op.f("ix_preview_tenant_id"), "preview", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_preview_migration_id"), "preview", ["migration_id"], unique=False)


def downgrade() -> None:
    op.drop_table("preview")
    op.drop_table("tenant_consent")
    op.drop_table("plan_version")
    op.drop_table("scan")
    op.drop_table("stored_connection")
