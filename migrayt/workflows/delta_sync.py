"""Workflows that Temporal Schedules start: a cutover run at a set time, and a delta sync.

A delta sync is a run (row in `run`, workflow id = run id, same search attributes, same `progress`
query and pause/resume/cancel signals as MigrationRunWorkflow: both are built on the run engine)
whose work list is the items changed in ADO since the last successful run. It goes through the
registry's delta phases over that list — the run's phase activities, so new items, links,
attachments and comments land exactly as in a run, plus `source_changes` for edits to issues that
already exist. Orchestration only.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from migrayt.activities.delta.prepare import DeltaPrepareActivities
    from migrayt.activities.delta.scheduled import ScheduledRunActivities
    from migrayt.contracts.phases import delta_phases
    from migrayt.contracts.phases import phase as registered
    from migrayt.contracts.runs import RunCheckpoint, RunStatus
    from migrayt.contracts.schedules import (
        DeltaPlan,
        DeltaPrepareInput,
        DeltaSyncInput,
        DeltaSyncResult,
        ScheduledRunInput,
        ScheduledRunResult,
    )
    from migrayt.workflows.engine import BATCH_RETRY, BOOKKEEPING_RETRY, HEARTBEAT, EngineRun, RunEngine, fresh_counters

# Delta syncs started since this patch run on the run engine (pause cuts batches, PAUSED, control
# events, continue-as-new); those started before finish the way they began (`_unpatched_run`).
DELTA_ON_RUN_ENGINE = "delta-on-run-engine"
# Delta syncs started since this patch mute the Jira project's notifications before their first phase (a delta has
# no preflight) and put its own scheme back when they end, sharing the mute with a run into the same project.
DELTA_MUTES_NOTIFICATIONS = "delta-mutes-notifications"
# The delta phases of syncs started before the patch.
UNPATCHED_DELTA_PHASES = (
    "create_items",
    "hierarchy",
    "links",
    "attachments",
    "source_changes",
    "transitions",
    "comments",
    "plugins",
)


@workflow.defn
class ScheduledRunWorkflow:
    """The cutover: starts a normal run through the service, as any door would (door "schedule")."""

    @workflow.run
    async def run(self, input: ScheduledRunInput) -> ScheduledRunResult:
        return await workflow.execute_activity_method(
            ScheduledRunActivities.start_scheduled_run,
            input,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=BOOKKEEPING_RETRY,
        )


@workflow.defn
class DeltaSyncWorkflow(RunEngine):
    noun = "delta sync"

    def __init__(self) -> None:
        super().__init__()
        self._input: DeltaSyncInput | None = None

    @workflow.run
    async def run(self, input: DeltaSyncInput) -> DeltaSyncResult:
        run_id = workflow.info().workflow_id
        self._run = EngineRun(
            run_id=run_id,
            migration_id=input.migration_id,
            tenant=input.tenant,
            batch_size=input.batch_size,
            concurrency=input.concurrency,
            history_event_limit=input.history_event_limit,
            requested_by=input.requested_by,
            door=input.door,
        )
        self._phase = "preflight"
        if not workflow.patched(DELTA_ON_RUN_ENGINE):
            return await self._unpatched_run(input)
        self._cuts_batches = True
        self._mutes = workflow.patched(DELTA_MUTES_NOTIFICATIONS)
        checkpoint = input.checkpoint
        fresh = checkpoint is None
        if checkpoint is None or input.plan is None:
            plan = await self._prepare(input)
            if plan.skipped:
                return DeltaSyncResult(run_id=run_id, skipped=plan.skipped)
            names = list(input.phases or delta_phases())
            checkpoint = RunCheckpoint(counters=fresh_counters(names, plan.items_total), tier_sizes=plan.tier_sizes)
            if not plan.items_total:
                checkpoint.phase_index = len(names)  # nothing changed: no phase to go through
            input = input.model_copy(update={"phases": names, "plan": plan, "checkpoint": None})
        assert input.plan is not None and input.phases is not None
        self._input = input
        self._phases = list(input.phases)
        self._cp = checkpoint
        status, error = await self._drive(fresh)
        return DeltaSyncResult(
            run_id=run_id,
            status=status,
            changed_since=input.plan.changed_since,
            counters=self._cp.counters,
            error=error,
        )

    async def _prepare(self, input: DeltaSyncInput) -> DeltaPlan:
        assert self._run is not None
        return await workflow.execute_activity_method(
            DeltaPrepareActivities.delta_prepare,
            DeltaPrepareInput(
                run_id=self._run.run_id,
                migration_id=input.migration_id,
                tenant=input.tenant,
                requested_by=input.requested_by,
                door=input.door,
            ),
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=BATCH_RETRY,
        )

    async def _before_phases(self) -> None:
        # Nothing changed in ADO: no phase writes, so the project's scheme is left alone.
        if self._cp.phase_index < len(self._phases):
            await self._mute_notifications()

    def _batch_fields(self) -> dict[str, Any]:
        assert self._input is not None and self._input.plan is not None
        return {"changed_since": self._input.plan.changed_since}

    def _continued_input(self) -> DeltaSyncInput:
        assert self._input is not None
        return self._input.model_copy(update={"checkpoint": self._cp})

    # --- syncs started before DELTA_ON_RUN_ENGINE: their commands, unchanged -----------------------
    # Delete once no such sync can be in flight (they are short: no continue-as-new, no long pause).

    async def _unpatched_run(self, input: DeltaSyncInput) -> DeltaSyncResult:
        assert self._run is not None
        self._input = input
        plan = await self._prepare(input)
        self._input = input.model_copy(update={"plan": plan})
        if plan.skipped:
            return DeltaSyncResult(run_id=self._run.run_id, skipped=plan.skipped)
        self._phases = list(UNPATCHED_DELTA_PHASES)
        self._cp.counters = fresh_counters(self._phases, plan.items_total)
        try:
            await self._record("run_started", actor=input.requested_by, door=input.door)
            for name in self._phases:
                if not plan.items_total:
                    break
                self._set_phase(name)
                await self._unpatched_batches(name, plan)
                if self._cancel_requested:
                    return await self._unpatched_finish(RunStatus.CANCELLED, plan)
            failed = sum(c.failed for c in self._cp.counters.values())
            return await self._unpatched_finish(RunStatus.INCOMPLETE if failed else RunStatus.COMPLETED, plan)
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            await self._unpatched_finish(RunStatus.FAILED, plan, error=message)
            raise ApplicationError(f"delta sync failed in phase {self._phase}: {message}", non_retryable=True) from err

    async def _unpatched_batches(self, name: str, plan: DeltaPlan) -> None:
        assert self._run is not None
        size_of, batch_size, concurrency = plan.tier_sizes, self._run.batch_size, self._run.concurrency
        for tier, size in enumerate(size_of):
            starts = list(range(0, size, batch_size))
            for i in range(0, len(starts), concurrency):
                await workflow.wait_condition(lambda: not self._pause_requested or self._cancel_requested)
                if self._cancel_requested:
                    return
                group = starts[i : i + concurrency]
                results = await asyncio.gather(
                    *(self._batch(registered(name), tier, s, min(s + batch_size, size)) for s in group)
                )
                for result in results:
                    self._cp.counters[name].add(result.counters)

    async def _unpatched_finish(self, status: RunStatus, plan: DeltaPlan, error: str | None = None) -> DeltaSyncResult:
        assert self._run is not None
        self._status = status
        self._upsert_search_attributes()
        await self._record("run_finished", error=error, finished=True)
        return DeltaSyncResult(
            run_id=self._run.run_id,
            status=status,
            changed_since=plan.changed_since,
            counters=self._cp.counters,
            error=error,
        )
