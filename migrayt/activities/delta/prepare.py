"""Delta sync, step 1: which items changed in ADO since the last successful run, as this run's work list."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from migrayt.activities.execution.migration_context import (
    MigrationContext,
    MigrationContexts,
)
from migrayt.activities.execution.preflight import (
    HIERARCHY_REVERSE,
    PreflightActivities,
    is_subtask,
    plan_problems,
)
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.contracts.runs import RunStatus
from migrayt.contracts.schedules import DeltaPlan, DeltaPrepareInput
from migrayt.contracts.undo import UNDO_RUN_PREFIX
from migrayt.core.start_gate import start_refusal
from migrayt.store.models import AuditEvent, Run, RunSourceItem

# ADO's clock and ours are different clocks: look back a little further than the last run's start.
# Items seen twice are harmless, every write is exactly once by its ledger key.
CLOCK_MARGIN = timedelta(minutes=2)
SUCCESSFUL = (RunStatus.COMPLETED.value, RunStatus.INCOMPLETE.value)


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
        tiers = await self._enumerate(input.run_id, ctx, catalog, since)
        if sum(tiers):
            # New items may bring users, areas and iterations the last run did not see (ledger: once each).
            activity.heartbeat("users")
            await self._preflight._resolve_users(ctx)
            if ctx.plan.areas_to_components:
                await self._preflight._ensure_components(ctx)
            if ctx.plan.iterations_to_sprints:
                await self._preflight._ensure_sprints(ctx)
        return DeltaPlan(changed_since=since, tier_sizes=tiers, items_total=sum(tiers))

    async def _claim_run(self, input: DeltaPrepareInput) -> str | None:
        """The run row of this delta, unless another run of the migration is active (then: why not)."""
        async with self._sessions() as session:
            if refusal := await start_refusal(session, input.migration_id, plan_approval=False, this_run=input.run_id):
                return refusal
            await session.execute(
                pg_insert(Run)
                .values(
                    id=input.run_id,
                    migration_id=input.migration_id,
                    tenant_id=input.tenant,
                    status=RunStatus.RUNNING.value,
                    phase="preflight",
                    counters={},
                )
                .on_conflict_do_nothing(index_elements=[Run.id])
            )
            await session.execute(
                pg_insert(AuditEvent)
                .values(
                    event_key=f"{input.run_id}:requested",
                    tenant_id=input.tenant,
                    migration_id=input.migration_id,
                    run_id=input.run_id,
                    action="delta_sync_requested",
                    actor=input.requested_by,
                    door=input.door,
                    detail={},
                )
                .on_conflict_do_nothing(index_elements=[AuditEvent.event_key])
            )
            await session.commit()
        return None

    async def _enumerate(self, run_id: str, ctx: MigrationContext, catalog, since: datetime | None) -> list[int]:
        ids = [i async for i in ctx.ado.iter_work_item_ids(changed_since=since)]
        kinds: dict[int, tuple[str, int | None]] = {}
        for start in range(0, len(ids), 2000):
            activity.heartbeat(f"enumerated {start}")
            for wi in await ctx.ado.get_work_items(ids[start : start + 2000], expand="relations"):
                kinds[wi.id] = (
                    wi.type or "",
                    next((r.target_id for r in wi.relations if r.rel == HIERARCHY_REVERSE), None),
                )
        # Whether a changed item is a sub-task depends on its parent's type, changed or not.
        parents = sorted({p for _, p in kinds.values() if p is not None and p not in kinds})
        for wi in await ctx.ado.get_work_items(parents, expand="relations") if parents else []:
            kinds[wi.id] = (
                wi.type or "",
                next((r.target_id for r in wi.relations if r.rel == HIERARCHY_REVERSE), None),
            )
        tiers: list[list[tuple[int, str, int | None]]] = [[], []]
        for source_id in ids:
            if source_id not in kinds:
                continue
            work_item_type, parent = kinds[source_id]
            if work_item_type not in ctx.plan.types:
                continue
            tiers[1 if is_subtask(work_item_type, parent, kinds, ctx.plan, catalog) else 0].append(
                (source_id, work_item_type, parent)
            )
        async with self._sessions() as session:
            await session.execute(delete(RunSourceItem).where(RunSourceItem.run_id == run_id))
            rows = [
                dict(run_id=run_id, source_id=sid, work_item_type=t, parent_id=p, tier=tier, ordinal=n)
                for tier, items in enumerate(tiers)
                for n, (sid, t, p) in enumerate(items)
            ]
            for start in range(0, len(rows), 5000):
                await session.execute(insert(RunSourceItem), rows[start : start + 5000])
            await session.commit()
        return [len(t) for t in tiers]
