"""Runs: start (through the start gate), progress, control, re-run and the run report.

`MigrationService` is the one service every door (HTTP, CLI, web, schedules) goes through for
migrations and their runs; its reads of migrations live in `migrayt.core.migrations`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from migrayt.contracts.phases import run_phases
from migrayt.contracts.runs import (
    FINAL_STATUSES,
    MigrationRunInput,
    PhaseSchedule,
    RunControl,
    RunProgress,
    RunStatus,
)
from migrayt.core.errors import RunConflict
from migrayt.core.migrations import Migrations
from migrayt.core.ownership import owned
from migrayt.core.reports import FailedItem, RunReport, accepted_items, estimate_eta, failed_items
from migrayt.core.run_report import RunReports
from migrayt.core.start_gate import start_refusal
from migrayt.mapping.plan import MappingPlan
from migrayt.store.models import AuditEvent, Migration, Run
from migrayt.temporal.search_attributes import search_attributes
from migrayt.workflows.engine import RunEngine
from migrayt.workflows.migration_run import MigrationRunWorkflow

# A run closed with accepted exceptions may be run again: it retries the accepted items (the cause may be gone).
RERUNNABLE = (
    RunStatus.FAILED,
    RunStatus.INCOMPLETE,
    RunStatus.CANCELLED,
    RunStatus.COMPLETED_WITH_ACCEPTED_EXCEPTIONS,
)


# How long a progress query waits for a worker to answer before the last recorded progress is shown instead.
PROGRESS_QUERY_TIMEOUT = timedelta(seconds=15)
# "no poller seen for task queue recently" (FAILED_PRECONDITION), or no answer within the timeout.
# UNAVAILABLE: among others, "buffered query cleared, please retry" — the query waited for a workflow task that
# then failed or timed out (a CPU-starved worker, seen in CI at load 15: tasks of 5-12 s), as when no worker answers.
_NO_WORKER_ANSWERED = frozenset(
    {
        RPCStatusCode.FAILED_PRECONDITION,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNAVAILABLE,
    }
)


class MigrationService(Migrations, RunReports):
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
            migration = await owned(session, Migration, migration_id, tenant, "migration")
            schedule = MappingPlan.model_fields["phase_schedule"].default
            schedule = PhaseSchedule((migration.plan or {}).get("phase_schedule", schedule))
            if refusal := await start_refusal(session, migration_id):
                raise RunConflict(refusal)
            run_id = f"run-{uuid.uuid4().hex[:12]}"
            session.add(
                Run(
                    id=run_id,
                    migration_id=migration_id,
                    tenant_id=tenant,
                    original_run_id=original_run_id,
                    status=RunStatus.RUNNING,
                    phase="preflight",
                    counters={},
                )
            )
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    migration_id=migration_id,
                    run_id=run_id,
                    action="rerun_requested" if original_run_id else "run_requested",
                    actor=actor,
                    door=door,
                    detail={"original_run_id": original_run_id} if original_run_id else {},
                )
            )
            await session.commit()
        await self.temporal.start_workflow(
            MigrationRunWorkflow.run,
            MigrationRunInput(
                run_id=run_id,
                migration_id=migration_id,
                tenant=tenant,
                original_run_id=original_run_id,
                requested_by=actor,
                door=door,
                batch_size=self.settings.batch_size,
                concurrency=self.settings.concurrency,
                history_event_limit=history_event_limit,
                phases=list(run_phases()),
                savepoint_every_minutes=self.settings.savepoint_every_minutes or None,
                phase_schedule=schedule,
            ),
            id=run_id,
            task_queue=self.settings.task_queue,
            search_attributes=search_attributes(tenant, RunStatus.RUNNING, "preflight"),
        )
        return run_id

    async def get_run(self, tenant: str, run_id: str) -> Run:
        async with self.sessions() as session:
            return await owned(session, Run, run_id, tenant, "run")

    def handle(self, run_id: str) -> WorkflowHandle[Any, Any]:
        return self.temporal.get_workflow_handle(run_id)

    async def progress(self, tenant: str, run_id: str) -> RunProgress:
        run = await self.get_run(tenant, run_id)
        recorded = RunProgress(
            run_id=run.id, status=RunStatus(run.status), phase=run.phase, counters=run.counters or {}
        )
        if recorded.status in FINAL_STATUSES:
            return recorded
        try:
            return await self.handle(run_id).query(RunEngine.progress, rpc_timeout=PROGRESS_QUERY_TIMEOUT)
        except RPCError as err:
            if err.status not in _NO_WORKER_ANSWERED:
                raise
            # Temporal answers a query only through a worker: with none polling (all stopped, or the only one
            # restarting) it refuses at once, or the query waits for one. The run itself is safe and goes on
            # when a worker comes back: show what was last recorded and say so, rather than failing the run
            # page, the API or the CLI's --watch.
            return recorded.model_copy(update={"worker_answered": False})
        except WorkflowQueryFailedError:
            # The worker took the query and failed it: the progress handler only reads fields, so this is the
            # worker's own trouble — on a CPU-starved worker Temporal's deadlock detector fails an activation
            # that does not yield within 2 s. The run's task is retried and the run goes on; the doors show the
            # last recorded progress as when no worker answers. (Not logged with the failure: it is encoded.)
            return recorded.model_copy(update={"worker_answered": False})

    async def control(
        self, tenant: str, run_id: str, action: str, actor: str, door: str, reason: str | None = None
    ) -> None:
        """pause / resume / cancel, refused with RunConflict when the run is not in a fitting state."""
        progress = await self.progress(tenant, run_id)
        await self._signal_if_fitting(progress, run_id, action, actor, door, reason)

    async def _signal_if_fitting(
        self, progress: RunProgress, run_id: str, action: str, actor: str, door: str, reason: str | None
    ) -> None:
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
        if run.status not in RERUNNABLE:
            raise RunConflict(
                f"run {run_id} is {run.status}: only a FAILED, INCOMPLETE, CANCELLED or "
                "COMPLETED_WITH_ACCEPTED_EXCEPTIONS run can be re-run"
            )
        window = timedelta(days=self.settings.rerun_window_days)
        if run.finished_at and datetime.now(UTC) - run.finished_at > window:
            raise RunConflict(
                f"run {run_id} finished more than {self.settings.rerun_window_days} days ago; start a new run"
            )
        return await self.start_run(tenant, run.migration_id, actor, door, original_run_id=run_id)

    async def progress_within(
        self, tenant: str, run_id: str, query_timeout: float = 5.0
    ) -> tuple[Run, RunProgress, bool]:
        """(run row, progress, live): the workflow's answer, or — when no worker answers in time — the
        last state kept in the database (live=False), so a door never hangs on a stopped worker."""
        run = await self.get_run(tenant, run_id)
        last_kept = RunProgress(
            run_id=run.id, status=RunStatus(run.status), phase=run.phase, counters=run.counters or {}
        )
        if RunStatus(run.status) in FINAL_STATUSES:
            return run, last_kept, True
        try:
            return run, await asyncio.wait_for(self.handle(run_id).query(RunEngine.progress), query_timeout), True
        except (TimeoutError, RPCError, WorkflowQueryFailedError):
            return run, last_kept, False

    async def control_within(
        self,
        tenant: str,
        run_id: str,
        action: str,
        actor: str,
        door: str,
        reason: str | None = None,
        query_timeout: float = 5.0,
    ) -> None:
        """`control` for the doors: same rules, judged on the last kept state when no worker answers
        (a signal waits in Temporal until a worker runs the workflow again)."""
        _, progress, _ = await self.progress_within(tenant, run_id, query_timeout)
        await self._signal_if_fitting(progress, run_id, action, actor, door, reason)

    async def run_report(
        self, tenant: str, run_id: str, failures_limit: int = 100, query_timeout: float = 5.0
    ) -> RunReport:
        """Progress with timing, ETA and the migration's failed items (live=False: last kept state)."""
        run, progress, live = await self.progress_within(tenant, run_id, query_timeout)
        if RunStatus(progress.status) in FINAL_STATUSES:
            run = await self.get_run(tenant, run_id)  # the workflow has just written its final row
        end = run.finished_at or datetime.now(UTC)
        elapsed = max((end - run.started_at).total_seconds(), 0.0) if run.started_at else 0.0
        rate, eta = estimate_eta(progress.status, progress.counters, elapsed, progress.phases, progress.phase)
        failures = await self.failure_page(tenant, run_id, limit=failures_limit, with_groups=False)
        users_unmatched = await self.users_unmatched(run.migration_id)
        users_given, issues_given_users = await self.users_given(run.migration_id, run_id)
        return RunReport(
            **progress.model_dump(),
            migration_id=run.migration_id,
            original_run_id=run.original_run_id,
            started_at=run.started_at,
            finished_at=run.finished_at,
            elapsed_seconds=round(elapsed, 2),
            items_per_second=rate,
            eta_seconds=eta,
            error=run.error,
            live=live,
            failed_items=failed_items(progress.counters),
            accepted_items=accepted_items(progress.counters),
            users_unmatched=users_unmatched,
            users_given=users_given,
            issues_given_users=issues_given_users,
            notifications=await self.notifications(run.migration_id, run_id),
            failures_total=failures.total,
            failures=[
                FailedItem(
                    kind=f.kind,
                    source_key=f.source_key,
                    error=f.error,
                    ado_id=f.ado_id,
                    jira_key=f.jira_key,
                    phase=f.phase,
                    what=f.what,
                    reason=f.reason,
                    remedy=f.remedy,
                )
                for f in failures.failures
            ],
            failures_url=f"/api/migrations/{run_id}/failures",
            report_url=f"/api/migrations/{run_id}/report",
        )
