"""manage what you made: accepted failures (who, when, why), and room for the status COMPLETED_WITH_ACCEPTED_EXCEPTIONS

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("run", "status", existing_type=sa.String(length=20), type_=sa.String(length=40))
    op.create_table(
        "failure_acceptance",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("migration_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("accepted_by", sa.String(length=200), nullable=False),
        sa.Column("door", sa.String(length=20), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["migration_id"],
            ["migration.id"],
            name=op.f("fk_failure_acceptance_migration_id_migration"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failure_acceptance")),
        sa.UniqueConstraint(
            "migration_id", "kind", "source_key", name=op.f("uq_failure_acceptance_migration_id_kind_source_key")
        ),
    )
    op.create_index(op.f("ix_failure_acceptance_tenant_id"), "failure_acceptance", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_failure_acceptance_tenant_id"), table_name="failure_acceptance")
    op.drop_table("failure_acceptance")
    op.alter_column("run", "status", existing_type=sa.String(length=40), type_=sa.String(length=20))
