"""A run's work list (`run_source_item`), built once here for a full run (preflight) and a delta sync (its
prepare): the source's items the plan migrates, in tiers the engine runs one after the other, in id order within
a tier.

An item's tier is `2 × depth + 1 if it becomes a sub-task`, where depth counts its ADO ancestors on the list
(Epic 0, Feature 1, Story 2 …): every parent is created in an earlier tier than its children, so create items
can set the Jira parent in the create payload. An odd tier holds sub-tasks only, so "is a sub-task" survives in
the tier alone. With parents at create time off every depth is 0: tier 0 holds the issues, tier 1 the sub-tasks.

The later phases (hierarchy … plugins) need no parents first; they take the list in its content order instead
(`content_ordinal`, across tiers): the items with the most comments and files first. Jira spaces out the writes
to one issue, so the longest thread takes longest whatever else runs: started last, it alone would hold the phase
open long after the others; started first, the rest of the list runs beside it. First also means early: a batch ends
with its slowest item, and side by side an item's comments wait for its batch's files, so a first batch of the 50
heaviest would start that thread only once all their files are up. The engine's first batch over this order is
therefore the heaviest item alone, then `batch_size` each (workflows/engine.py `batch_end`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from migrayt.activities.execution.migration_context import MigrationContext
from migrayt.mapping.plan import MappingPlan
from migrayt.store.models import RunSourceItem
from migrayt.translation.issue_fields import TargetCatalog

HIERARCHY_REVERSE = "System.LinkTypes.Hierarchy-Reverse"
ATTACHED_FILE = "AttachedFile"
COMMENT_COUNT = "System.CommentCount"
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
    parents_at_create: bool = True,
) -> WorkList:
    """List the source (only what changed since `changed_since` when given) and keep it as the run's work list,
    replacing any list an earlier attempt kept. `changes_only`: the list is a delta's, so an item's parent may
    be off it; its type is read too, since whether the item is a sub-task depends on it."""
    ids = [i async for i in ctx.ado.iter_work_item_ids(changed_since=changed_since)]
    kinds: dict[int, tuple[str, int | None]] = {}
    writes: dict[int, int] = {}
    for start in range(0, len(ids), READ_CHUNK):
        activity.heartbeat(f"enumerated {start}")
        await _read_kinds(ctx, ids[start : start + READ_CHUNK], kinds, writes)
    if changes_only:
        parents = sorted({p for _, p in kinds.values() if p is not None and p not in kinds})
        if parents:
            await _read_kinds(ctx, parents, kinds, {})
    skipped: dict[str, int] = {}
    listed: dict[int, int | None] = {}
    for source_id in ids:
        if source_id not in kinds:
            continue
        work_item_type, parent = kinds[source_id]
        if work_item_type not in ctx.plan.types:
            skipped[work_item_type] = skipped.get(work_item_type, 0) + 1
            continue
        listed[source_id] = parent
    depth = depths(listed) if parents_at_create else dict.fromkeys(listed, 0)
    tiers: list[list[tuple[int, str, int | None]]] = [[], []]
    for source_id, parent in listed.items():
        work_item_type = kinds[source_id][0]
        tier = tier_of(depth[source_id], is_subtask(work_item_type, parent, kinds, ctx.plan, catalog))
        tiers.extend([] for _ in range(tier + 1 - len(tiers)))
        tiers[tier].append((source_id, work_item_type, parent))
    rows = [
        dict(run_id=run_id, source_id=sid, work_item_type=t, parent_id=p, tier=tier, ordinal=n)
        for tier, items in enumerate(tiers)
        for n, (sid, t, p) in enumerate(items)
    ]
    for place, row in enumerate(content_order(rows, writes)):
        row["content_ordinal"] = place
    async with sessions() as session:
        await session.execute(delete(RunSourceItem).where(RunSourceItem.run_id == run_id))
        for start in range(0, len(rows), INSERT_CHUNK):
            await session.execute(insert(RunSourceItem), rows[start : start + INSERT_CHUNK])
        await session.commit()
    return WorkList([len(t) for t in tiers], skipped)


def content_order(rows: list[dict[str, Any]], writes: dict[int, int]) -> list[dict[str, Any]]:
    """The rows heaviest first (most comments and files), the work-list order among equals."""
    return sorted(rows, key=lambda r: (-writes.get(r["source_id"], 0), r["tier"], r["ordinal"]))


def tier_of(depth: int, subtask: bool) -> int:
    return 2 * depth + (1 if subtask else 0)


def is_subtask_tier(tier: int) -> bool:
    return tier % 2 == 1


def depths(parents: dict[int, int | None]) -> dict[int, int]:
    """Each listed item's number of listed ancestors. A parent off the list (not migrated, deleted, another
    project) ends the chain; a cycle (ADO forbids one, but data is data) is cut where the walk meets it again."""
    depth: dict[int, int] = {}
    for start in parents:
        path: list[int] = []
        on_path: set[int] = set()
        node = start
        while node not in depth:
            parent = parents.get(node)
            if node in on_path or parent is None or parent not in parents:
                depth[node] = 0
                break
            path.append(node)
            on_path.add(node)
            node = parent
        for node in reversed(path):
            if node not in depth:
                depth[node] = depth[parents[node]] + 1  # type: ignore[index]
    return depth


async def _read_kinds(
    ctx: MigrationContext, ids: list[int], kinds: dict[int, tuple[str, int | None]], writes: dict[int, int]
) -> None:
    """Each item's type and parent, into `kinds`, and into `writes` how many comments and files it will write to
    its issue (the relations expand brings every field, `System.CommentCount` among them); an item deleted
    meanwhile is left out."""
    for wi in await ctx.ado.get_work_items(ids, expand="relations"):
        parent = next((r.target_id for r in wi.relations if r.rel == HIERARCHY_REVERSE), None)
        kinds[wi.id] = (wi.type or "", parent)
        files = sum(1 for r in wi.relations if r.rel == ATTACHED_FILE)
        writes[wi.id] = int(wi.fields.get(COMMENT_COUNT) or 0) + files


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
