"""Migrations: create one, and the reads the doors show of it (its runs, scans, previews, failures, audit)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.contracts.runs import RunStatus
from migrayt.core import acceptances
from migrayt.core.acceptances import AcceptedFailure, AcceptOutcome, RecordRef
from migrayt.core.errors import InUse, NotFound
from migrayt.core.ownership import owned
from migrayt.mapping import versions as plan_versions
from migrayt.mapping.plan import MappingPlan
from migrayt.scheduling.store import ScheduleRecord
from migrayt.settings import Settings
from migrayt.store import savepoints as savepoint_files
from migrayt.store.models import AuditEvent, ItemRecord, Migration, Preview, Run, Scan, Validation


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
        so it does not clear that run's failures (an INCOMPLETE run stays the migration's status)."""
        return acceptances.standing_run_of(runs)

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

    async def run_trail(self, tenant: str, migration_id: str, run_id: str, limit: int = 200) -> list[AuditEvent]:
        """A run page's audit trail, newest first: this run's events and the migration's own (plan approved,
        migration created...), not those of its other runs — an earlier run's page must not show a re-run's phases."""
        async with self.sessions() as session:
            stmt = (
                select(AuditEvent)
                .where(
                    AuditEvent.tenant_id == tenant,
                    AuditEvent.migration_id == migration_id,
                    or_(AuditEvent.run_id.is_(None), AuditEvent.run_id == run_id),
                )
                .order_by(AuditEvent.id.desc())
                .limit(limit)
            )
            return list(await session.scalars(stmt))

    # --- manage what you made ------------------------------------------------------------------

    async def rename_migration(self, tenant: str, migration_id: str, name: str, actor: str, door: str) -> Migration:
        async with self.sessions() as session:
            migration = await owned(session, Migration, migration_id, tenant, "migration")
            old = migration.name
            migration.name = name
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    migration_id=migration_id,
                    action="migration_renamed",
                    actor=actor,
                    door=door,
                    detail={"from": old, "to": name},
                )
            )
            await session.commit()
            await session.refresh(migration)
            return migration

    async def delete_migration(self, tenant: str, migration_id: str, actor: str, door: str) -> None:
        """Delete a migration with everything kept of it (plan versions, scans, previews, runs, item records,
        validations, schedules, checkouts: their rows go with it; its runs' savepoint files too); its audit trail
        stays, ending with the deletion.
        What it wrote to Jira stays in Jira (undo first to take it out). Refused while anything of it is active."""
        async with self.sessions() as session:
            await owned(session, Migration, migration_id, tenant, "migration")
            # Locked until the delete commits: a run starting meanwhile waits for it, then finds no migration.
            migration = await session.get(Migration, migration_id, with_for_update=True)
            if migration is None:
                raise NotFound(f"migration {migration_id} not found")
            if refusal := await self._deletion_refusal(session, migration_id):
                raise InUse(refusal)
            schedule_ids = list(
                await session.scalars(select(ScheduleRecord.id).where(ScheduleRecord.migration_id == migration_id))
            )
            for schedule_id in schedule_ids:
                # Else a cutover or delta schedule would fire for a migration that is gone.
                try:
                    await self.temporal.get_schedule_handle(schedule_id).delete()
                except RPCError as err:
                    if err.status != RPCStatusCode.NOT_FOUND:
                        raise
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    migration_id=migration_id,
                    action="migration_deleted",
                    actor=actor,
                    door=door,
                    detail={"name": migration.name, "schedules_deleted": len(schedule_ids)},
                )
            )
            run_ids = list(await session.scalars(select(Run.id).where(Run.migration_id == migration_id)))
            await session.delete(migration)
            await session.commit()
        for run_id in run_ids:
            savepoint_files.forget_run(self.settings, run_id)

    @staticmethod
    async def _deletion_refusal(session: AsyncSession, migration_id: str) -> str | None:
        active = (
            await session.execute(
                select(Run.id, Run.status).where(
                    Run.migration_id == migration_id, Run.status.in_([RunStatus.RUNNING.value, RunStatus.PAUSED.value])
                )
            )
        ).first()
        if active is not None:
            return (
                f"migration {migration_id} has a {active.status} run {active.id}: cancel it (or let it end) before "
                "deleting the migration"
            )
        validation = (
            await session.execute(
                select(Validation.id, Validation.status).where(
                    Validation.migration_id == migration_id, Validation.status.in_(["RUNNING", "PAUSED"])
                )
            )
        ).first()
        if validation is not None:
            return (
                f"migration {migration_id} has a {validation.status} validation {validation.id}: cancel it (or let "
                "it end) before deleting the migration"
            )
        for model, what in ((Scan, "scan"), (Preview, "preview")):
            busy = await session.scalar(
                select(model.id).where(model.migration_id == migration_id, model.status == "RUNNING")
            )
            if busy is not None:
                return f"migration {migration_id} has a {what} {busy} under way: wait for it to end before deleting"
        return None

    async def accept_failures(
        self,
        tenant: str,
        id: str,
        *,
        reason: str,
        actor: str,
        door: str,
        records: list[RecordRef] | None = None,
        failure_reason: str | None = None,
        phase: str | None = None,
    ) -> AcceptOutcome:
        """`id`: the migration or one of its runs. See migrayt.core.acceptances."""
        async with self.sessions() as session:
            migration = await self._owned_migration_of(session, tenant, id)
            outcome = await acceptances.accept_failures(
                session,
                migration,
                reason=reason,
                actor=actor,
                door=door,
                records=records,
                failure_reason=failure_reason,
                phase=phase,
            )
            await session.commit()
            return outcome

    async def accepted_failures(self, tenant: str, id: str) -> list[AcceptedFailure]:
        async with self.sessions() as session:
            migration = await self._owned_migration_of(session, tenant, id)
            return await acceptances.accepted_failures(session, migration.id)

    @staticmethod
    async def _owned_migration_of(session: AsyncSession, tenant: str, id: str) -> Migration:
        if id.startswith("mig-"):
            return await owned(session, Migration, id, tenant, "migration")
        run = await owned(session, Run, id, tenant, "run")
        migration = await session.get(Migration, run.migration_id)
        if migration is None:
            raise NotFound(f"run {id} not found")
        return migration
