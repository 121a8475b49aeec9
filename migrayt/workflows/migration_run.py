"""MigrationRunWorkflow: the run's phases, in order, batch by batch, on the run engine. Orchestration only."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from migrayt.contracts.phases import run_phases
    from migrayt.contracts.runs import (
        LEGACY_RUN_PHASES,
        MigrationRunInput,
        MigrationRunResult,
        PhaseSchedule,
        RunCheckpoint,
    )
    from migrayt.workflows.engine import (  # noqa: F401 (re-exported for tests)
        BATCH_RETRY,
        BOOKKEEPING_RETRY,
        CANCELLATION,
        HEARTBEAT,
        RESTORE_RETRY,
        EngineRun,
        RunEngine,
        fresh_counters,
    )

# Runs started since this patch stop in-flight batches of phases 2-8 on pause/cancel (engine._run_phase_batches).
CUT_BATCHES = "pause-cuts-batches"
# Runs started since this patch go through the phases their input names; those started before (and
# their continued executions) through the eight phases every run had then.
PHASES_BY_NAME = "phases-by-name"
# Runs started since this patch write savepoints (engine._savepoint); recorded histories before it replay without.
SAVEPOINTS = "savepoints"
# Runs started since this patch mute the Jira project's notifications once preflight passed (its checks, read-only,
# fail a run before any write) and put its own scheme back when they end (activities/execution/notifications.py).
MUTES_NOTIFICATIONS = "mute-notifications"
# Runs started since this patch with the side-by-side schedule run the registry's `beside` phases at once, each on
# its own cursor (engine._run_side_by_side); runs before it, and sequential ones, go one phase after the other.
PHASES_SIDE_BY_SIDE = "phases-side-by-side"
# Runs started since this patch take the phases after create items heaviest first (RunCheckpoint.content_order): the
# longest comment threads start first. Runs before it, and their continued executions, keep the order by tier.
CONTENT_ORDER = "content-order"
# Runs started since this patch begin each content-ordered range with a batch of one item (engine.batch_end,
# RunCheckpoint.ramped_batches): the heaviest item alone first, so its comments start seconds into the phase. Runs
# before it, and their continued executions, keep batches of `batch_size`, the bounds their cursors hold.
RAMPED_BATCHES = "ramped-batches"


@workflow.defn
class MigrationRunWorkflow(RunEngine):
    def __init__(self) -> None:
        super().__init__()
        self._input: MigrationRunInput | None = None

    @workflow.run
    async def run(self, input: MigrationRunInput) -> MigrationRunResult:
        self._cuts_batches = workflow.patched(CUT_BATCHES)
        by_name = workflow.patched(PHASES_BY_NAME)
        self._savepoints = workflow.patched(SAVEPOINTS)
        self._mutes = workflow.patched(MUTES_NOTIFICATIONS)
        self._side_by_side = input.phase_schedule == PhaseSchedule.SIDE_BY_SIDE and workflow.patched(
            PHASES_SIDE_BY_SIDE
        )
        fresh = input.checkpoint is None
        if input.phases:
            names = list(input.phases)
        elif by_name and fresh:
            names = list(run_phases())
        else:
            names = list(LEGACY_RUN_PHASES)
        self._input = input.model_copy(update={"phases": names})
        self._phases = names
        self._run = EngineRun(
            run_id=input.run_id,
            migration_id=input.migration_id,
            tenant=input.tenant,
            batch_size=input.batch_size,
            concurrency=input.concurrency,
            history_event_limit=input.history_event_limit,
            requested_by=input.requested_by,
            door=input.door,
            original_run_id=input.original_run_id,
            savepoint_every_minutes=input.savepoint_every_minutes,
        )
        self._cp = input.checkpoint or RunCheckpoint(counters=fresh_counters(names))
        if fresh:
            self._cp.content_order = workflow.patched(CONTENT_ORDER)
            self._cp.ramped_batches = workflow.patched(RAMPED_BATCHES)
        status, error = await self._drive(fresh)
        return MigrationRunResult(run_id=input.run_id, status=status, counters=self._cp.counters, error=error)

    def _continued_input(self) -> MigrationRunInput:
        assert self._input is not None
        return self._input.model_copy(update={"checkpoint": self._cp})

    async def _after_preflight(self) -> None:
        await self._mute_notifications()
