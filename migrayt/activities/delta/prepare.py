"""Delta sync, step 1: which items changed in ADO since the last successful run, as this run's work list."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from migrayt.activities.execution.migration_context import (
    MigrationContexts,
)
from migrayt.activities.execution.preflight import PreflightActivities, plan_problems
from migrayt.activities.execution.work_list import build_work_list
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.contracts.runs import RunStatus
from migrayt.contracts.schedules import DeltaPlan, DeltaPrepareInput
from migrayt.contracts.undo import UNDO_RUN_PREFIX
from migrayt.core.start_gate import claim_run, start_refusal
from migrayt.store.models import Run

# ADO's clock and ours are different clocks: look back a little further than the last run's start.
# Items seen twice are harmless, every write is exactly once by its ledger key.
CLOCK_MARGIN = timedelta(minutes=2)
SUCCESSFUL = (
    RunStatus.COMPLETED.value,
    RunStatus.INCOMPLETE.value,
    RunStatus.COMPLETED_WITH_ACCEPTED_EXCEPTIONS.value,
)


async def last_successful_start(sessions: async_sessionmaker, migration_id: str, exclude_run: str) -> datetime | None:
    """When the last successful run started; None when there is none since the migration was last undone
    (an undo took everything out of Jira: the next delta sync has every item to carry, not only changes)."""
    async with sessions() as session:
        finished = select(func.max(Run.started_at)).where(
            Run.migration_id == migration_id, Run.status.in_(SUCCESSFUL), Run.id != exclude_run
        )
        last_run = await session.scalar(finished.where(Run.id.not_like(f"{UNDO_RUN_PREFIX}%")))
        last_undo = await session.scalar(finished.where(Run.id.like(f"{UNDO_RUN_PREFIX}%")))
    if last_run is None or (last_undo is not None and last_undo > last_run):
        return None
    return last_run


class DeltaPrepareActivities:
    def __init__(self, sessions: async_sessionmaker, contexts: MigrationContexts) -> None:
        self._sessions = sessions
        self._contexts = contexts
        self._preflight = PreflightActivities(sessions, contexts)

    @activity.defn(name="delta_prepare")
    @keeps_heartbeat
    async def delta_prepare(self, input: DeltaPrepareInput) -> DeltaPlan:
        ctx = await self._contexts.load(input.migration_id)
        if ctx.tenant_id != input.tenant:
            raise ApplicationError(
                f"migration {input.migration_id} is not tenant {input.tenant}'s",
                type="BadConfiguration",
                non_retryable=True,
            )
        if (busy := await self._claim_run(input)) is not None:
            return DeltaPlan(skipped=busy)
        last = await last_successful_start(self._sessions, input.migration_id, input.run_id)
        since = last - CLOCK_MARGIN if last else None
        catalog = await self._contexts.catalog(ctx, refresh=True)
        if problems := plan_problems(ctx.plan, catalog):
            raise ApplicationError(
                "the mapping plan does not fit Jira: " + "; ".join(problems), type="BadMapping", non_retryable=True
            )
        work = await build_work_list(self._sessions, input.run_id, ctx, catalog, changed_since=since, changes_only=True)
        if work.total:
            # New items may bring users, areas and iterations the last run did not see (ledger: once each).
            activity.heartbeat("users")
            await self._preflight._resolve_users(ctx)
            if ctx.plan.areas_to_components:
                await self._preflight._ensure_components(ctx)
            if ctx.plan.iterations_to_sprints:
                await self._preflight._ensure_sprints(ctx)
        return DeltaPlan(changed_since=since, tier_sizes=work.tier_sizes, items_total=work.total)

    async def _claim_run(self, input: DeltaPrepareInput) -> str | None:
        """The run row of this delta, unless another run of the migration is active (then: why not)."""
        async with self._sessions() as session:
            if refusal := await start_refusal(session, input.migration_id, plan_approval=False, this_run=input.run_id):
                return refusal
            await claim_run(
                session,
                run_id=input.run_id,
                migration_id=input.migration_id,
                tenant=input.tenant,
                phase="preflight",
                action="delta_sync_requested",
                actor=input.requested_by,
                door=input.door,
                detail={},
            )
            await session.commit()
        return None
