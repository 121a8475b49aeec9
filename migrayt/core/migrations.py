"""Migrations: create one, and the reads the doors show of it (its runs, scans, previews, failures, audit)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.contracts.runs import RunKind, run_kind
from migrayt.core.ownership import owned
from migrayt.mapping import versions as plan_versions
from migrayt.mapping.plan import MappingPlan
from migrayt.settings import Settings
from migrayt.store.models import AuditEvent, ItemRecord, Migration, Preview, Run, Scan


class Migrations:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], temporal: Client) -> None:
        self.settings = settings
        self.sessions = sessions
        self.temporal = temporal

    async def create_migration(
        self,
        tenant: str,
        name: str,
        source: SourceConnection,
        target: TargetConnection,
        plan: MappingPlan,
        actor: str,
        door: str,
        approved: bool = True,
    ) -> str:
        """`approved`: the given plan is recorded as version 1 approved by `actor` (else a draft to review)."""
        migration_id = f"mig-{uuid.uuid4().hex[:12]}"
        async with self.sessions() as session:
            session.add(
                Migration(
                    id=migration_id,
                    tenant_id=tenant,
                    name=name,
                    source=source.model_dump(),
                    target=target.model_dump(),
                    plan=plan.model_dump(),
                )
            )
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    migration_id=migration_id,
                    action="migration_created",
                    actor=actor,
                    door=door,
                    detail={"name": name},
                )
            )
            await plan_versions.add_version(
                session,
                tenant=tenant,
                migration_id=migration_id,
                plan=plan,
                origin="human",
                actor=actor,
                door=door,
                limits=plan_versions.PlanLimits.of(self.settings),
            )
            if approved:
                await plan_versions.approve(
                    session, tenant=tenant, migration_id=migration_id, version=1, actor=actor, door=door
                )
            await session.commit()
        return migration_id

    async def failures(self, tenant: str, migration_id: str, limit: int = 100) -> list[dict[str, str | None]]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(ItemRecord.kind, ItemRecord.source_key, ItemRecord.error)
                .join(Migration, Migration.id == ItemRecord.migration_id)
                .where(
                    Migration.tenant_id == tenant, ItemRecord.migration_id == migration_id, ItemRecord.state == "failed"
                )
                .order_by(ItemRecord.kind, ItemRecord.source_key)
                .limit(limit)
            )
            return [dict(kind=k, source_key=s, error=e) for k, s, e in rows]

    async def record_counts(self, migration_id: str) -> dict[str, dict[str, int]]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(ItemRecord.kind, ItemRecord.state, func.count())
                .where(ItemRecord.migration_id == migration_id)
                .group_by(ItemRecord.kind, ItemRecord.state)
            )
            out: dict[str, dict[str, int]] = {}
            for kind, state, count in rows:
                out.setdefault(kind, {})[state] = count
            return out

    @staticmethod
    def standing_run(runs: list[Run]) -> Run | None:
        """The run a migration stands at: its latest full run. A delta sync after it carries only the changed items,
        so it does not clear that run's failures (an INCOMPLETE run stays the migration's status); an undo is no
        migration run at all (its COMPLETED means the issues are gone), so it never stands for the migration."""
        full = [r for r in runs if run_kind(r.id) == RunKind.RUN]
        syncs = [r for r in runs if run_kind(r.id) == RunKind.DELTA_SYNC]
        return full[-1] if full else (syncs[-1] if syncs else None)

    async def list_migrations(self, tenant: str) -> list[Migration]:
        async with self.sessions() as session:
            return list(
                await session.scalars(
                    select(Migration).where(Migration.tenant_id == tenant).order_by(Migration.created_at)
                )
            )

    async def get_migration(self, tenant: str, migration_id: str) -> Migration:
        async with self.sessions() as session:
            return await owned(session, Migration, migration_id, tenant, "migration")

    async def list_runs(self, tenant: str, migration_id: str) -> list[Run]:
        await self.get_migration(tenant, migration_id)
        async with self.sessions() as session:
            return list(
                await session.scalars(select(Run).where(Run.migration_id == migration_id).order_by(Run.started_at))
            )

    async def list_scans(self, tenant: str, migration_id: str) -> list[Scan]:
        await self.get_migration(tenant, migration_id)
        async with self.sessions() as session:
            return list(
                await session.scalars(select(Scan).where(Scan.migration_id == migration_id).order_by(Scan.started_at))
            )

    async def list_previews(self, tenant: str, migration_id: str) -> list[Preview]:
        await self.get_migration(tenant, migration_id)
        async with self.sessions() as session:
            return list(
                await session.scalars(
                    select(Preview).where(Preview.migration_id == migration_id).order_by(Preview.started_at)
                )
            )

    async def failures_total(self, migration_id: str) -> int:
        async with self.sessions() as session:
            return (
                await session.scalar(
                    select(func.count())
                    .select_from(ItemRecord)
                    .where(ItemRecord.migration_id == migration_id, ItemRecord.state == "failed")
                )
                or 0
            )

    async def audit_events(
        self,
        tenant: str,
        *,
        migration_id: str | None = None,
        run_id: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[AuditEvent]:
        async with self.sessions() as session:
            stmt = (
                select(AuditEvent)
                .where(AuditEvent.tenant_id == tenant, AuditEvent.id > after_id)
                .order_by(AuditEvent.id)
                .limit(limit)
            )
            if migration_id:
                stmt = stmt.where(AuditEvent.migration_id == migration_id)
            if run_id:
                stmt = stmt.where(AuditEvent.run_id == run_id)
            return list(await session.scalars(stmt))
