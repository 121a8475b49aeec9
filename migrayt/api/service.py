"""The one service module every door (HTTP, CLI, web, schedules) goes through."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio.client import Client, WorkflowHandle

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.mapping import versions as plan_versions
from migrayt.mapping.plan import MappingPlan
from migrayt.settings import Settings
from migrayt.store.models import AuditEvent, ItemRecord, Migration, Run
from migrayt.workflows.migration_run import MigrationRunWorkflow, search_attributes
from migrayt.workflows.run_models import FINAL_STATUSES, MigrationRunInput, RunControl, RunProgress, RunStatus


class RunConflict(Exception):
    """The run is in a state where this action makes no sense; nothing was changed."""


class NotFound(Exception):
    pass


class MigrationService:
    def __init__(self, settings: Settings, sessions: async_sessionmaker, temporal: Client) -> None:
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
                    id=migration_id, tenant_id=tenant, name=name, source=source.model_dump(),
                    target=target.model_dump(), plan=plan.model_dump(),
                )
            )
            session.add(AuditEvent(tenant_id=tenant, migration_id=migration_id, action="migration_created", actor=actor, door=door, detail={"name": name}))
            await plan_versions.add_version(session, tenant=tenant, migration_id=migration_id, plan=plan, origin="human", actor=actor, door=door)
            if approved:
                await plan_versions.approve(session, tenant=tenant, migration_id=migration_id, version=1, actor=actor, door=door)
            await session.commit()
        return migration_id

    async def start_run(
        self,
        tenant: str,
        migration_id: str,
        actor: str,
        door: str,
        *,
        original_run_id: str | None = None,
        history_event_limit: int | None = None,
    ) -> str:
        async with self.sessions() as session:
            migration = await session.get(Migration, migration_id)
            if migration is None or migration.tenant_id != tenant:
                raise NotFound(f"migration {migration_id} not found")
            active = await session.scalar(
                select(Run.id).where(Run.migration_id == migration_id, Run.status.in_([RunStatus.RUNNING, RunStatus.PAUSED]))
            )
            if active:
                raise RunConflict(f"migration {migration_id} already has an active run {active}")
            try:
                await plan_versions.require_approved(session, migration_id)
            except plan_versions.PlanNotApproved as err:
                raise RunConflict(str(err)) from None
            run_id = f"run-{uuid.uuid4().hex[:12]}"
            session.add(Run(id=run_id, migration_id=migration_id, tenant_id=tenant, original_run_id=original_run_id, status=RunStatus.RUNNING, phase="preflight", counters={}))
            session.add(
                AuditEvent(
                    tenant_id=tenant, migration_id=migration_id, run_id=run_id,
                    action="rerun_requested" if original_run_id else "run_requested", actor=actor, door=door,
                    detail={"original_run_id": original_run_id} if original_run_id else {},
                )
            )
            await session.commit()
        await self.temporal.start_workflow(
            MigrationRunWorkflow.run,
            MigrationRunInput(
                run_id=run_id, migration_id=migration_id, tenant=tenant, original_run_id=original_run_id,
                requested_by=actor, door=door, batch_size=self.settings.batch_size,
                concurrency=self.settings.concurrency, history_event_limit=history_event_limit,
            ),
            id=run_id,
            task_queue=self.settings.task_queue,
            search_attributes=search_attributes(tenant, RunStatus.RUNNING, "preflight"),
        )
        return run_id

    async def get_run(self, tenant: str, run_id: str) -> Run:
        async with self.sessions() as session:
            run = await session.get(Run, run_id)
        if run is None or run.tenant_id != tenant:
            raise NotFound(f"run {run_id} not found")
        return run

    def handle(self, run_id: str) -> WorkflowHandle:
        return self.temporal.get_workflow_handle(run_id)

    async def progress(self, tenant: str, run_id: str) -> RunProgress:
        run = await self.get_run(tenant, run_id)
        if RunStatus(run.status) in FINAL_STATUSES:
            return RunProgress(run_id=run.id, status=RunStatus(run.status), phase=run.phase, counters=run.counters or {})
        return await self.handle(run_id).query(MigrationRunWorkflow.progress)

    async def control(self, tenant: str, run_id: str, action: str, actor: str, door: str, reason: str | None = None) -> None:
        """pause / resume / cancel, refused with RunConflict when the run is not in a fitting state."""
        progress = await self.progress(tenant, run_id)
        status = progress.status
        if status == RunStatus.CANCELLED or status in FINAL_STATUSES:
            raise RunConflict(f"run {run_id} is {status.value}: nothing to {action}")
        if action == "pause" and (status != RunStatus.RUNNING or progress.pause_requested):
            raise RunConflict(f"run {run_id} is {status.value}: only a RUNNING run can be paused")
        if action == "resume" and status != RunStatus.PAUSED and not progress.pause_requested:
            raise RunConflict(f"run {run_id} is {status.value}: only a PAUSED run can be resumed")
        signal = {"pause": MigrationRunWorkflow.pause, "resume": MigrationRunWorkflow.resume, "cancel": MigrationRunWorkflow.cancel}[action]
        await self.handle(run_id).signal(signal, RunControl(actor=actor, door=door, reason=reason))

    async def rerun(self, tenant: str, run_id: str, actor: str, door: str) -> str:
        run = await self.get_run(tenant, run_id)
        if run.status not in (RunStatus.FAILED, RunStatus.INCOMPLETE, RunStatus.CANCELLED):
            raise RunConflict(f"run {run_id} is {run.status}: only a FAILED, INCOMPLETE or CANCELLED run can be re-run")
        window = timedelta(days=self.settings.rerun_window_days)
        if run.finished_at and datetime.now(timezone.utc) - run.finished_at > window:
            raise RunConflict(f"run {run_id} finished more than {self.settings.rerun_window_days} days ago; start a new run")
        return await self.start_run(tenant, run.migration_id, actor, door, original_run_id=run_id)

    async def failures(self, tenant: str, migration_id: str, limit: int = 100) -> list[dict]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(ItemRecord.kind, ItemRecord.source_key, ItemRecord.error)
                .join(Migration, Migration.id == ItemRecord.migration_id)
                .where(Migration.tenant_id == tenant, ItemRecord.migration_id == migration_id, ItemRecord.state == "failed")
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
