"""Workflows that Temporal Schedules start: a cutover run at a set time, and a delta sync.

A delta sync is a run (row in `run`, workflow id = run id, same search attributes, same `progress`
query and pause/resume/cancel signals as MigrationRunWorkflow) whose work list is the items changed
in ADO since the last successful run. It reuses the run's phase activities over that list, so new
items, links, attachments and comments land exactly as in a run, and adds `source_changes` for
edits to issues that already exist. Orchestration only.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from migrayt.activities.execution.models import CreateItemsInput, CreateItemsResult, PhaseBatchInput, PhaseBatchResult, RunEventInput
    from migrayt.scheduling.models import (
        DELTA_PHASES,
        DeltaPlan,
        DeltaPrepareInput,
        DeltaSyncInput,
        DeltaSyncResult,
        ScheduledRunInput,
        ScheduledRunResult,
        SourceChangesInput,
    )
    from migrayt.workflows.migration_run import BATCH_RETRY, BOOKKEEPING_RETRY, HEARTBEAT, PHASE, STATUS
    from migrayt.workflows.run_models import PhaseCounters, RunControl, RunProgress, RunStatus


@workflow.defn
class ScheduledRunWorkflow:
    """The cutover: starts a normal run through the service, as any door would (door "schedule")."""

    @workflow.run
    async def run(self, input: ScheduledRunInput) -> ScheduledRunResult:
        return await workflow.execute_activity(
            "start_scheduled_run",
            input,
            result_type=ScheduledRunResult,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=BOOKKEEPING_RETRY,
        )


@workflow.defn
class DeltaSyncWorkflow:
    def __init__(self) -> None:
        self._run_id = ""
        self._status = RunStatus.RUNNING
        self._phase: str | None = "preflight"
        self._counters: dict[str, PhaseCounters] = {}
        self._pause_requested = False
        self._cancel_requested = False
        self._seq = 0
        self._input: DeltaSyncInput | None = None

    @workflow.signal
    def pause(self, control: RunControl | None = None) -> None:
        if not self._cancel_requested:
            self._pause_requested = True

    @workflow.signal
    def resume(self, control: RunControl | None = None) -> None:
        self._pause_requested = False

    @workflow.signal
    def cancel(self, control: RunControl | None = None) -> None:
        self._cancel_requested = True

    @workflow.query
    def progress(self) -> RunProgress:
        return RunProgress(
            run_id=self._run_id or workflow.info().workflow_id, status=self._status, phase=self._phase,
            pause_requested=self._pause_requested, cancel_requested=self._cancel_requested, counters=self._counters,
        )

    @workflow.run
    async def run(self, input: DeltaSyncInput) -> DeltaSyncResult:
        self._input = input
        self._run_id = workflow.info().workflow_id
        plan: DeltaPlan = await workflow.execute_activity(
            "delta_prepare",
            DeltaPrepareInput(run_id=self._run_id, migration_id=input.migration_id, tenant=input.tenant, requested_by=input.requested_by, door=input.door),
            result_type=DeltaPlan,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=BATCH_RETRY,
        )
        if plan.skipped:
            return DeltaSyncResult(run_id=self._run_id, skipped=plan.skipped)
        self._counters = {p: PhaseCounters(total=plan.items_total) for p in DELTA_PHASES}
        try:
            await self._record("run_started", actor=input.requested_by, door=input.door)
            for phase in DELTA_PHASES:
                if not plan.items_total:
                    break
                self._set_phase(phase)
                await self._batches(phase, plan)
                if self._cancel_requested:
                    return await self._finish(RunStatus.CANCELLED, plan)
            failed = sum(c.failed for c in self._counters.values())
            return await self._finish(RunStatus.INCOMPLETE if failed else RunStatus.COMPLETED, plan)
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            await self._finish(RunStatus.FAILED, plan, error=message)
            raise ApplicationError(f"delta sync failed in phase {self._phase}: {message}", non_retryable=True) from err

    async def _batches(self, phase: str, plan: DeltaPlan) -> None:
        assert self._input is not None
        for tier, size in enumerate(plan.tier_sizes):
            starts = list(range(0, size, self._input.batch_size))
            for i in range(0, len(starts), self._input.concurrency):
                await workflow.wait_condition(lambda: not self._pause_requested or self._cancel_requested)
                if self._cancel_requested:
                    return
                group = starts[i : i + self._input.concurrency]
                results = await asyncio.gather(*(self._batch(phase, tier, s, min(s + self._input.batch_size, size), plan) for s in group))
                for result in results:
                    self._counters[phase].add(result.counters)

    async def _batch(self, phase: str, tier: int, start: int, end: int, plan: DeltaPlan) -> PhaseBatchResult:
        assert self._input is not None
        common = dict(run_id=self._run_id, migration_id=self._input.migration_id, tier=tier, start=start, end=end)
        timeouts = dict(start_to_close_timeout=timedelta(minutes=30), heartbeat_timeout=HEARTBEAT, retry_policy=BATCH_RETRY)
        if phase == "create_items":
            result: CreateItemsResult = await workflow.execute_activity(
                "create_items", CreateItemsInput(**common), result_type=CreateItemsResult, **timeouts
            )
            return PhaseBatchResult(counters=result.counters, reconciled=result.reconciled)
        if phase == "source_changes":
            return await workflow.execute_activity(
                "delta_source_changes", SourceChangesInput(**common, changed_since=plan.changed_since), result_type=PhaseBatchResult, **timeouts
            )
        return await workflow.execute_activity(
            "run_phase_batch", PhaseBatchInput(phase=phase, **common), result_type=PhaseBatchResult, **timeouts
        )

    def _set_phase(self, phase: str) -> None:
        self._phase = phase
        workflow.upsert_search_attributes([STATUS.value_set(self._status.value), PHASE.value_set(phase)])

    async def _record(self, action: str, actor: str = "system", door: str = "system", error: str | None = None, finished: bool = False) -> None:
        assert self._input is not None
        self._seq += 1
        await workflow.execute_activity(
            "record_run_event",
            RunEventInput(
                run_id=self._run_id, migration_id=self._input.migration_id, tenant=self._input.tenant,
                event_key=f"{self._run_id}:{self._seq}", action=action, actor=actor, door=door,
                status=self._status.value, phase=self._phase, counters=self._counters, error=error, finished=finished,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=BOOKKEEPING_RETRY,
        )

    async def _finish(self, status: RunStatus, plan: DeltaPlan, error: str | None = None) -> DeltaSyncResult:
        self._status = status
        workflow.upsert_search_attributes([STATUS.value_set(status.value), PHASE.value_set(self._phase or "preflight")])
        await self._record("run_finished", error=error, finished=True)
        return DeltaSyncResult(run_id=self._run_id, status=status, changed_since=plan.changed_since, counters=self._counters, error=error)
