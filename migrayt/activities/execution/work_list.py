"""A run's work list (`run_source_item`), built once here for a full run (preflight) and a delta sync (its
prepare): the source's items the plan migrates, in id order, tier 0 first and sub-tasks in tier 1, created
after their parents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from migrayt.activities.execution.migration_context import MigrationContext
from migrayt.mapping.plan import MappingPlan
from migrayt.store.models import RunSourceItem
from migrayt.translation.issue_fields import TargetCatalog

HIERARCHY_REVERSE = "System.LinkTypes.Hierarchy-Reverse"
READ_CHUNK = 2000
INSERT_CHUNK = 5000


@dataclass
class WorkList:
    tier_sizes: list[int]
    # Items of types the plan does not migrate, by type: left off the list.
    skipped_types: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.tier_sizes)


async def build_work_list(
    sessions: async_sessionmaker[AsyncSession],
    run_id: str,
    ctx: MigrationContext,
    catalog: TargetCatalog,
    *,
    changed_since: datetime | None = None,
    changes_only: bool = False,
) -> WorkList:
    """List the source (only what changed since `changed_since` when given) and keep it as the run's work list,
    replacing any list an earlier attempt kept. `changes_only`: the list is a delta's, so an item's parent may
    be off it; its type is read too, since whether the item is a sub-task depends on it."""
    ids = [i async for i in ctx.ado.iter_work_item_ids(changed_since=changed_since)]
    kinds: dict[int, tuple[str, int | None]] = {}
    for start in range(0, len(ids), READ_CHUNK):
        activity.heartbeat(f"enumerated {start}")
        await _read_kinds(ctx, ids[start : start + READ_CHUNK], kinds)
    if changes_only:
        parents = sorted({p for _, p in kinds.values() if p is not None and p not in kinds})
        if parents:
            await _read_kinds(ctx, parents, kinds)
    skipped: dict[str, int] = {}
    tiers: list[list[tuple[int, str, int | None]]] = [[], []]
    for source_id in ids:
        if source_id not in kinds:
            continue
        work_item_type, parent = kinds[source_id]
        if work_item_type not in ctx.plan.types:
            skipped[work_item_type] = skipped.get(work_item_type, 0) + 1
            continue
        tiers[1 if is_subtask(work_item_type, parent, kinds, ctx.plan, catalog) else 0].append(
            (source_id, work_item_type, parent)
        )
    async with sessions() as session:
        await session.execute(delete(RunSourceItem).where(RunSourceItem.run_id == run_id))
        rows = [
            dict(run_id=run_id, source_id=sid, work_item_type=t, parent_id=p, tier=tier, ordinal=n)
            for tier, items in enumerate(tiers)
            for n, (sid, t, p) in enumerate(items)
        ]
        for start in range(0, len(rows), INSERT_CHUNK):
            await session.execute(insert(RunSourceItem), rows[start : start + INSERT_CHUNK])
        await session.commit()
    return WorkList([len(t) for t in tiers], skipped)


async def _read_kinds(ctx: MigrationContext, ids: list[int], kinds: dict[int, tuple[str, int | None]]) -> None:
    """Each item's type and parent, into `kinds`; an item deleted meanwhile is left out."""
    for wi in await ctx.ado.get_work_items(ids, expand="relations"):
        parent = next((r.target_id for r in wi.relations if r.rel == HIERARCHY_REVERSE), None)
        kinds[wi.id] = (wi.type or "", parent)


def is_subtask(
    work_item_type: str,
    parent: int | None,
    kinds: dict[int, tuple[str, int | None]],
    plan: MappingPlan,
    catalog: TargetCatalog,
) -> bool:
    if work_item_type not in plan.subtask_types or parent is None or parent not in kinds:
        return False
    parent_target = plan.types.get(kinds[parent][0])
    ref = catalog.issue_types.get(parent_target or "")
    return ref is not None and ref.hierarchy_level == 0 and not ref.subtask
