"""Undo workflows: the dry run (what would go) and the undo itself, on the run engine. Orchestration only.

The undo is a run (row in `run`, workflow id = run id) with the run's controls — pause, resume,
cancel, the `progress` query, search attributes, audit events, continue-as-new — whose one phase
("undo") goes through the work list its plan wrote: what the migration added to issues that stay,
then its issues (a bulk delete per batch), then its sprints and components. After the last batch
the ledger is swept, so a new run of the migration starts clean.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from migrayt.activities.undo.removal import UndoActivities
    from migrayt.contracts.runs import RunCheckpoint, RunStatus
    from migrayt.contracts.undo import (
        UNDO_PHASE,
        UndoInput,
        UndoPlan,
        UndoPlanInput,
        UndoResult,
        UndoSweepInput,
    )
    from migrayt.workflows.engine import BATCH_RETRY, BOOKKEEPING_RETRY, HEARTBEAT, EngineRun, RunEngine, fresh_counters

PLAN_TIMEOUT = timedelta(minutes=30)


@workflow.defn
class UndoPreviewWorkflow:
    """The dry run: what an undo would remove and what it would hold back. Writes nothing."""

    @workflow.run
    async def run(self, input: UndoPlanInput) -> UndoPlan:
        return await workflow.execute_activity_method(
            UndoActivities.undo_plan,
            input.model_copy(update={"dry_run": True}),
            start_to_close_timeout=PLAN_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=BATCH_RETRY,
        )


@workflow.defn
class UndoWorkflow(RunEngine):
    noun = "undo"

    def __init__(self) -> None:
        super().__init__()
        self._input: UndoInput | None = None
        self._swept = False

    @workflow.run
    async def run(self, input: UndoInput) -> UndoResult:
        self._cuts_batches = True
        self._run = EngineRun(
            run_id=input.run_id,
            migration_id=input.migration_id,
            tenant=input.tenant,
            batch_size=input.batch_size,
            concurrency=input.concurrency,
            history_event_limit=input.history_event_limit,
            requested_by=input.requested_by,
            door=input.door,
        )
        self._phase = UNDO_PHASE
        self._phases = [UNDO_PHASE]
        fresh = input.checkpoint is None
        if input.plan is None:
            plan = await workflow.execute_activity_method(
                UndoActivities.undo_plan,
                UndoPlanInput(
                    run_id=input.run_id,
                    migration_id=input.migration_id,
                    tenant=input.tenant,
                    requested_by=input.requested_by,
                    door=input.door,
                    force=input.force,
                    confirm=input.confirm,
                    dry_run=False,
                ),
                start_to_close_timeout=PLAN_TIMEOUT,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=BATCH_RETRY,
            )
            if plan.refused:
                # Refused before anything was removed: the run's row says why.
                self._cp = RunCheckpoint(counters=fresh_counters(self._phases))
                status, error = await self._finish(RunStatus.FAILED, error=f"undo refused: {plan.refused}")
                return UndoResult(run_id=input.run_id, status=status.value, plan=plan, error=error)
            input = input.model_copy(update={"plan": plan})
        assert input.plan is not None
        self._input = input
        self._cp = input.checkpoint or RunCheckpoint(
            counters=fresh_counters(self._phases, input.plan.total), tier_sizes=input.plan.tier_sizes
        )
        status, error = await self._drive(fresh)
        c = self._cp.counters[UNDO_PHASE]
        return UndoResult(
            run_id=input.run_id,
            status=status.value,
            plan=input.plan,
            removed=c.created,
            already_gone=c.skipped,
            failed=c.failed,
            error=error,
        )

    async def _finish(
        self, status: RunStatus, error: str | None = None, actor: str = "system", door: str = "system"
    ) -> tuple[RunStatus, str | None]:
        if status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE) and not self._swept:
            assert self._run is not None
            await workflow.execute_activity_method(
                UndoActivities.undo_sweep,
                UndoSweepInput(run_id=self._run.run_id, migration_id=self._run.migration_id, tenant=self._run.tenant),
                start_to_close_timeout=timedelta(minutes=10),
                # A dead worker's sweep is retried in seconds, not after the 10 minutes a large ledger may take.
                heartbeat_timeout=HEARTBEAT,
                retry_policy=BOOKKEEPING_RETRY,
            )
            self._swept = True
        return await super()._finish(status, error=error, actor=actor, door=door)

    def _continued_input(self) -> UndoInput:
        assert self._input is not None
        return self._input.model_copy(update={"checkpoint": self._cp})
