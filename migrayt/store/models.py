"""Tables of the run engine. Schema changes go through Alembic only (store/migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB}


class Migration(Base):
    """One ADO project moving into one Jira project; owns its item records across runs."""

    __tablename__ = "migration"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Connection settings with secrets as references (env:NAME, file:PATH), never values.
    source: Mapped[dict[str, Any]]
    target: Mapped[dict[str, Any]]
    plan: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Run(Base):
    __tablename__ = "run"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # = Temporal workflow id
    migration_id: Mapped[str] = mapped_column(ForeignKey("migration.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    original_run_id: Mapped[str | None] = mapped_column(String(100))
    # RUNNING … COMPLETED_WITH_ACCEPTED_EXCEPTIONS (34 characters): room for the longest status.
    status: Mapped[str] = mapped_column(String(40))
    phase: Mapped[str | None] = mapped_column(String(40))
    counters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RunSourceItem(Base):
    """The work list of a run, enumerated once in preflight. Create items' batches are ordinal ranges per tier
    (parents first); the later phases' batches, in runs since content order, ranges of `content_ordinal`."""

    __tablename__ = "run_source_item"
    __table_args__ = (UniqueConstraint("run_id", "source_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    source_id: Mapped[int] = mapped_column(Integer)
    work_item_type: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(Integer)
    # 0: items whose target type stands alone; 1: sub-tasks, created after their parents.
    tier: Mapped[int] = mapped_column(Integer)
    ordinal: Mapped[int] = mapped_column(Integer)
    # The item's place in the later phases, across tiers: the most comments and files first, so that the issues
    # whose per-issue write budget takes longest start first (NULL: a list kept before this column).
    content_ordinal: Mapped[int | None] = mapped_column(Integer)


Index("ix_run_source_item_run_tier_ordinal", RunSourceItem.run_id, RunSourceItem.tier, RunSourceItem.ordinal)
Index("ix_run_source_item_run_content_ordinal", RunSourceItem.run_id, RunSourceItem.content_ordinal)


class ItemRecord(Base):
    """What Migrayt wrote to Jira for one source thing. The exactly-once ledger."""

    __tablename__ = "item_record"
    __table_args__ = (UniqueConstraint("migration_id", "kind", "source_key"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    migration_id: Mapped[str] = mapped_column(ForeignKey("migration.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    source_key: Mapped[str] = mapped_column(String(200))
    target_key: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10))  # pending | done | failed | removed
    error: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    run_id: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


Index("ix_item_record_migration_kind_state", ItemRecord.migration_id, ItemRecord.kind, ItemRecord.state)


class AuditEvent(Base):
    """Who did what to whose Jira, through which door. Never ticket content."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # Set by workflows so that a retried activity records its event once.
    event_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    migration_id: Mapped[str | None] = mapped_column(String(64), index=True)
    run_id: Mapped[str | None] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(60))
    actor: Mapped[str] = mapped_column(String(200))
    door: Mapped[str] = mapped_column(String(20))  # api | cli | web | temporal | schedule | system
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FailureAcceptance(Base):
    """A failed item record the user accepted as a known exception: who, when, why.

    Keyed by the ledger's identity, not the record's row, so it holds while a re-run retries the item: landed, the
    acceptance is moot (the record is done); failed again, it stays accepted."""

    __tablename__ = "failure_acceptance"
    __table_args__ = (UniqueConstraint("migration_id", "kind", "source_key"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    migration_id: Mapped[str] = mapped_column(ForeignKey("migration.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    source_key: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    # The error the record carried when accepted: what exactly was accepted.
    error: Mapped[str | None] = mapped_column(Text)
    accepted_by: Mapped[str] = mapped_column(String(200))
    door: Mapped[str] = mapped_column(String(20))
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --- intake and mapping (issue 5) ---------------------------------------------------------------


class StoredConnection(Base):
    """An ADO or Jira connection, tested when saved; the secret is encrypted, only its hint is readable."""

    __tablename__ = "stored_connection"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # ado | jira_cloud | jira_dc
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    username: Mapped[str | None] = mapped_column(String(200))  # Jira Cloud e-mail
    secret_encrypted: Mapped[str] = mapped_column(Text)
    secret_hint: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what the test call saw (account, org)
    created_by: Mapped[str] = mapped_column(String(200))
    tested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Scan(Base):
    """One scan of a migration's source: the Catalog, its limit lint and the quote priced from it."""

    __tablename__ = "scan"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # = Temporal workflow id
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    migration_id: Mapped[str] = mapped_column(ForeignKey("migration.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # RUNNING | COMPLETED | FAILED
    catalog: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lint: Mapped[dict[str, Any]] = mapped_column(default=dict)
    quote: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PlanVersion(Base):
    """A numbered MappingPlan of a migration; a run only starts from an approved one."""

    __tablename__ = "plan_version"
    __table_args__ = (UniqueConstraint("migration_id", "version"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    migration_id: Mapped[str] = mapped_column(ForeignKey("migration.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    plan: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20))  # draft | approved | superseded
    origin: Mapped[str] = mapped_column(String(20))  # rule | ai | human
    model: Mapped[str | None] = mapped_column(String(100))  # the LLM asked, when AI drafted
    created_by: Mapped[str] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TenantConsent(Base):
    """Explicit per-tenant consent to send schema metadata (never ticket content) to an LLM."""

    __tablename__ = "tenant_consent"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ai_drafting: Mapped[bool] = mapped_column(default=False)
    given_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Preview(Base):
    """A dry run: what a run would send and what would fail, without writing to Jira."""

    __tablename__ = "preview"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # = Temporal workflow id
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    migration_id: Mapped[str] = mapped_column(ForeignKey("migration.id", ondelete="CASCADE"), index=True)
    plan_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- tenants and API tokens (issue 6) -----------------------------------------------------------


class Tenant(Base):
    """A customer account; every migration, connection, scan, preview and run carries its id."""

    __tablename__ = "tenant"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiToken(Base):
    """A bearer token of a tenant. Only its SHA-256 is kept: a leaked table lets no one in."""

    __tablename__ = "api_token"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so a user can tell their tokens apart; not enough to use one.
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A signed-in browser of the web app. The cookie holds a random session id; only its SHA-256 is kept.

    A session with a token acts as that token's tenant, and ends when the token is revoked; one
    without (the local user of a server with auth off) is honoured only while auth is off.
    """

    __tablename__ = "web_session"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    token_id: Mapped[str | None] = mapped_column(ForeignKey("api_token.id", ondelete="CASCADE"), index=True)
    # Every form of this session carries it; a form from another site cannot know it.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Validation(Base):
    """One read-only check of a migration's Jira issues against its ADO source (= Temporal workflow id)."""

    __tablename__ = "validation"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    migration_id: Mapped[str] = mapped_column(ForeignKey("migration.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))  # RUNNING | PAUSED | PASSED | FAILED | CANCELLED | ERROR
    deep: Mapped[bool] = mapped_column(Boolean, default=False)
    tolerances: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {check: {kind: n}}
    items_total: Mapped[int] = mapped_column(Integer, default=0)
    items_checked: Mapped[int] = mapped_column(Integer, default=0)
    # What prepare fixed, so every batch (and a retried one) reads the same: sorted source ids, the Jira
    # keys found by identity per ADO id, the migration's Jira account and its write time.
    scope: Mapped[dict[str, Any]] = mapped_column(default=dict)
    requested_by: Mapped[str] = mapped_column(String(200), default="system")
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ValidationBatch(Base):
    """A batch's stored outcome: written with its differences in one transaction, so a retry replaces, never adds."""

    __tablename__ = "validation_batch"

    validation_id: Mapped[str] = mapped_column(ForeignKey("validation.id", ondelete="CASCADE"), primary_key=True)
    start: Mapped[int] = mapped_column(Integer, primary_key=True)  # -1: the listing (Jira issues of no item)
    items: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    jira_calls: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ValidationDifference(Base):
    __tablename__ = "validation_difference"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    validation_id: Mapped[str] = mapped_column(ForeignKey("validation.id", ondelete="CASCADE"))
    batch_start: Mapped[int] = mapped_column(Integer)
    check: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(20))  # missing | extra | different | changed_after
    ado_id: Mapped[int | None] = mapped_column(Integer)
    jira_key: Mapped[str | None] = mapped_column(String(200))
    expected: Mapped[str | None] = mapped_column(Text)
    actual: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


Index("ix_validation_difference_validation_batch", ValidationDifference.validation_id, ValidationDifference.batch_start)
Index(
    "ix_validation_difference_validation_check_kind",
    ValidationDifference.validation_id,
    ValidationDifference.check,
    ValidationDifference.kind,
)


class SharedKeyFingerprint(Base):
    """A key every API and worker of one namespace and task queue must share, as a fingerprint (an HMAC of a
    fixed text under the key, never the key): the first process to start records it, the next ones compare
    (migrayt/ops/shared_keys.py) and refuse to start with a different key."""

    __tablename__ = "shared_key_fingerprint"

    namespace: Mapped[str] = mapped_column(String(255), primary_key=True)
    task_queue: Mapped[str] = mapped_column(String(255), primary_key=True)
    # "codec:<key id>" (one per MIGRAYT_CODEC_KEYS entry) or "secret_key" (MIGRAYT_SECRET_KEY).
    key_name: Mapped[str] = mapped_column(String(120), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SiteBudget(Base):
    """One Jira site's request budget, a token bucket shared by every worker process that talks to the site.

    Taken from and refilled in one SQL statement (migrayt/connectors/site_budget.py) on the database's clock,
    so processes on different machines agree on time."""

    __tablename__ = "site_budget"

    # SHA-256 of the site's normalised base URL: one row per site whichever tenant's run talks to it.
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Requests per second for this site; NULL: the worker's MIGRAYT_JIRA_SITE_RPS.
    rate: Mapped[float | None] = mapped_column(Float)
    # A 429's Retry-After, for every process: no request to the site before then.
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
