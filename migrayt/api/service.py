"""The one service module every door (HTTP, CLI, web, schedules) goes through."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from migrayt.billing import gate as billing_gate
from migrayt.intake.verdict import preview_refusal
from migrayt.connections import SourceConnection, TargetConnection
from migrayt.mapping import versions as plan_versions
from migrayt.mapping.plan import MappingPlan
from migrayt.api.run_report import FailedItem, RunReport, estimate_eta
from migrayt.settings import Settings
from migrayt.store.models import AuditEvent, ItemRecord, Migration, Preview, Run, Scan
from migrayt.phases import run_phases
from migrayt.workflows.engine import RunEngine
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
            await plan_versions.add_version(
                session, tenant=tenant, migration_id=migration_id, plan=plan, origin="human", actor=actor, door=door,
                limits=plan_versions.PlanLimits.of(self.settings),
            )
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
            if refused := await preview_refusal(session, migration_id):  # it would stop in preflight as FAILED
                raise RunConflict(refused)
            if unpaid := await billing_gate.unpaid_reason(session, migration_id):  # MIGRAYT_BILLING=stripe: checkout first
                raise RunConflict(unpaid)
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
                phases=list(run_phases()),
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
        return await self.handle(run_id).query(RunEngine.progress)

    async def control(self, tenant: str, run_id: str, action: str, actor: str, door: str, reason: str | None = None) -> None:
        """pause / resume / cancel, refused with RunConflict when the run is not in a fitting state."""
        progress = await self.progress(tenant, run_id)
        await self._signal_if_fitting(progress, run_id, action, actor, door, reason)

    async def _signal_if_fitting(self, progress: RunProgress, run_id: str, action: str, actor: str, door: str, reason: str | None) -> None:
        status = progress.status
        if status == RunStatus.CANCELLED or status in FINAL_STATUSES:
            raise RunConflict(f"run {run_id} is {status.value}: nothing to {action}")
        if action == "pause" and (status != RunStatus.RUNNING or progress.pause_requested):
            raise RunConflict(f"run {run_id} is {status.value}: only a RUNNING run can be paused")
        if action == "resume" and status != RunStatus.PAUSED and not progress.pause_requested:
            raise RunConflict(f"run {run_id} is {status.value}: only a PAUSED run can be resumed")
        # A run and a delta sync answer the same signals (both are built on the run engine).
        signal = {"pause": RunEngine.pause, "resume": RunEngine.resume, "cancel": RunEngine.cancel}[action]
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

    # --- reads for the doors (issue 6) ----------------------------------------------------------

    async def list_migrations(self, tenant: str) -> list[Migration]:
        async with self.sessions() as session:
            return list(await session.scalars(select(Migration).where(Migration.tenant_id == tenant).order_by(Migration.created_at)))

    async def get_migration(self, tenant: str, migration_id: str) -> Migration:
        async with self.sessions() as session:
            migration = await session.get(Migration, migration_id)
        if migration is None or migration.tenant_id != tenant:
            raise NotFound(f"migration {migration_id} not found")
        return migration

    async def list_runs(self, tenant: str, migration_id: str) -> list[Run]:
        await self.get_migration(tenant, migration_id)
        async with self.sessions() as session:
            return list(await session.scalars(select(Run).where(Run.migration_id == migration_id).order_by(Run.started_at)))

    async def list_scans(self, tenant: str, migration_id: str) -> list[Scan]:
        await self.get_migration(tenant, migration_id)
        async with self.sessions() as session:
            return list(await session.scalars(select(Scan).where(Scan.migration_id == migration_id).order_by(Scan.started_at)))

    async def list_previews(self, tenant: str, migration_id: str) -> list[Preview]:
        await self.get_migration(tenant, migration_id)
        async with self.sessions() as session:
            return list(await session.scalars(select(Preview).where(Preview.migration_id == migration_id).order_by(Preview.started_at)))

    async def failures_total(self, migration_id: str) -> int:
        async with self.sessions() as session:
            return await session.scalar(
                select(func.count()).select_from(ItemRecord).where(ItemRecord.migration_id == migration_id, ItemRecord.state == "failed")
            ) or 0

    async def progress_within(self, tenant: str, run_id: str, query_timeout: float = 5.0) -> tuple[Run, RunProgress, bool]:
        """(run row, progress, live): the workflow's answer, or — when no worker answers in time — the
        last state kept in the database (live=False), so a door never hangs on a stopped worker."""
        run = await self.get_run(tenant, run_id)
        last_kept = RunProgress(run_id=run.id, status=RunStatus(run.status), phase=run.phase, counters=run.counters or {})
        if RunStatus(run.status) in FINAL_STATUSES:
            return run, last_kept, True
        try:
            return run, await asyncio.wait_for(self.handle(run_id).query(RunEngine.progress), query_timeout), True
        except (asyncio.TimeoutError, RPCError):
            return run, last_kept, False

    async def control_within(
        self, tenant: str, run_id: str, action: str, actor: str, door: str, reason: str | None = None, query_timeout: float = 5.0
    ) -> None:
        """`control` for the doors: same rules, judged on the last kept state when no worker answers
        (a signal waits in Temporal until a worker runs the workflow again)."""
        _, progress, _ = await self.progress_within(tenant, run_id, query_timeout)
        await self._signal_if_fitting(progress, run_id, action, actor, door, reason)

    async def run_report(self, tenant: str, run_id: str, failures_limit: int = 100, query_timeout: float = 5.0) -> RunReport:
        """Progress with timing, ETA and the migration's failed items (live=False: last kept state)."""
        run, progress, live = await self.progress_within(tenant, run_id, query_timeout)
        if RunStatus(progress.status) in FINAL_STATUSES:
            run = await self.get_run(tenant, run_id)  # the workflow has just written its final row
        end = run.finished_at or datetime.now(timezone.utc)
        elapsed = max((end - run.started_at).total_seconds(), 0.0) if run.started_at else 0.0
        rate, eta = estimate_eta(progress.status, progress.counters, elapsed)
        failures = await self.failures(tenant, run.migration_id, limit=failures_limit)
        return RunReport(
            **progress.model_dump(), migration_id=run.migration_id, original_run_id=run.original_run_id,
            started_at=run.started_at, finished_at=run.finished_at, elapsed_seconds=round(elapsed, 2),
            items_per_second=rate, eta_seconds=eta, error=run.error, live=live,
            failures_total=len(failures) if len(failures) < failures_limit else await self.failures_total(run.migration_id),
            failures=[FailedItem(**f) for f in failures],
        )

    async def audit_events(
        self, tenant: str, *, migration_id: str | None = None, run_id: str | None = None, after_id: int = 0, limit: int = 100
    ) -> list[AuditEvent]:
        async with self.sessions() as session:
            stmt = select(AuditEvent).where(AuditEvent.tenant_id == tenant, AuditEvent.id > after_id).order_by(AuditEvent.id).limit(limit)
            if migration_id:
                stmt = stmt.where(AuditEvent.migration_id == migration_id)
            if run_id:
                stmt = stmt.where(AuditEvent.run_id == run_id)
            return list(await session.scalars(stmt))
