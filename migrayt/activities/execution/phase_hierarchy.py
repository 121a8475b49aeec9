"""Phase 3: each source parent/child lands as Jira `parent`, or as a link where Jira cannot nest them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from sqlalchemy import select

from migrayt.activities.execution.migration_context import MigrationContext
from migrayt.activities.execution.phase_batch import BatchPhase, PhaseBatch
from migrayt.activities.execution.work_list import is_subtask_tier
from migrayt.activities.execution.write_once import write_once
from migrayt.activities.side_by_side import gather_or_cancel
from migrayt.connectors.jira import Issue
from migrayt.contracts.execution import PhaseBatchResult
from migrayt.contracts.record_kinds import HIERARCHY, ISSUE
from migrayt.store import item_records
from migrayt.store.item_records import DONE, PENDING
from migrayt.store.models import RunSourceItem

HIERARCHY_LINK_TYPE = "Relates"
# Writes of one batch in flight at once; the HTTP client's limiter still caps the whole process.
PER_BATCH_CONCURRENCY = 8


class HierarchyPhase(BatchPhase, phase="hierarchy"):
    async def run(self, batch: PhaseBatch) -> PhaseBatchResult:
        ctx = batch.ctx
        catalog = await batch.catalog()
        with_parent = batch.keep([r for r in batch.rows if r.parent_id])
        keys = await batch.target_keys(ISSUE, batch.source_keys(with_parent) + [str(r.parent_id) for r in with_parent])
        done = await batch.records(HIERARCHY, batch.source_keys(with_parent))
        adopted = await batch.adopted(batch.source_keys(with_parent))
        async with self._sessions() as session:
            parent_types = dict(
                (
                    await session.execute(
                        select(RunSourceItem.source_id, RunSourceItem.work_item_type).where(
                            RunSourceItem.run_id == batch.run_id,
                            RunSourceItem.source_id.in_([r.parent_id for r in with_parent]),
                        )
                    )
                ).all()
            )
        missing = await self._missing_parents(ctx, batch.migration_id, keys, parent_types, with_parent)
        at_create = await self._set_at_create(batch, with_parent, keys, done)
        # What an earlier write may have left (an adopted issue, a link whose answer was lost): one bulk read
        # for the batch instead of one read per item.
        to_read = [
            keys[str(r.source_id)]
            for r in with_parent
            if str(r.source_id) not in at_create
            and str(r.source_id) in keys
            and (str(r.source_id) in adopted or getattr(done.get(str(r.source_id)), "state", None) == PENDING)
        ]
        seen = (
            {i.key: i for i in await ctx.jira.bulk_fetch_issues(to_read, ["parent", "issuelinks"])} if to_read else {}
        )

        async def one(row) -> str:
            source_key = str(row.source_id)
            if source_key in at_create:
                return "created"
            record = done.get(source_key)
            if record is not None and record.state == DONE:
                # Done by an earlier attempt of this same run still counts as this run's work.
                if record.run_id != batch.run_id:
                    return "skipped"
                return "adopted" if (record.detail or {}).get("adopted") else "created"
            child_key, parent_key = keys.get(source_key), keys.get(str(row.parent_id))
            if not child_key:
                return "skipped"  # the item itself failed in create items, with its reason there
            async with self._sessions() as session:
                if not parent_key:
                    await item_records.mark_failed(
                        session,
                        ctx.migration_id,
                        HIERARCHY,
                        source_key,
                        missing.get(row.parent_id) or f"parent ADO #{row.parent_id} has no Jira issue",
                        batch.run_id,
                    )
                    await session.commit()
                    return "failed"
                if source_key in adopted and _nested(seen.get(child_key), parent_key):
                    # Another migration set this parent (or made the sub-task, or the link) already.
                    await item_records.mark_done(
                        session, ctx.migration_id, HIERARCHY, source_key, parent_key, batch.run_id, {"adopted": True}
                    )
                    await session.commit()
                    return "adopted"
                child_type = catalog.issue_types.get(_jira_type(ctx, row.work_item_type, row.tier))
                parent_type = catalog.issue_types.get(ctx.plan.types.get(parent_types.get(row.parent_id, ""), ""))
                if child_type is not None and child_type.subtask:
                    await item_records.mark_done(
                        session, ctx.migration_id, HIERARCHY, source_key, parent_key, batch.run_id, {"as": "sub-task"}
                    )
                elif child_type and parent_type and parent_type.hierarchy_level == child_type.hierarchy_level + 1:
                    await ctx.jira.edit_issue(child_key, {"parent": {"key": parent_key}})
                    await item_records.mark_done(
                        session, ctx.migration_id, HIERARCHY, source_key, parent_key, batch.run_id, {"as": "parent"}
                    )
                else:
                    linked_before = _linked_in(seen.get(child_key), parent_key)
                    await self._link_instead(
                        ctx, session, batch.run_id, source_key, child_key, parent_key, record, linked_before
                    )
                await session.commit()
            return "created"

        limit = asyncio.Semaphore(PER_BATCH_CONCURRENCY)

        async def limited(row) -> str:
            async with limit:
                return await one(row)

        return batch.result(await gather_or_cancel(*(limited(r) for r in with_parent)))

    async def _missing_parents(
        self, ctx: MigrationContext, migration_id: str, keys, parent_types, rows
    ) -> dict[int, str]:
        absent = sorted({r.parent_id for r in rows if str(r.parent_id) not in keys})
        in_run = [p for p in absent if p in parent_types]
        errors: dict[int, str | None] = {}
        if in_run:
            async with self._sessions() as session:
                issues = await item_records.load(session, migration_id, ISSUE, [str(p) for p in in_run])
            errors = {p: getattr(issues.get(str(p)), "error", None) for p in in_run}
        return await missing_parent_reasons(ctx, absent, errors)

    async def _set_at_create(self, batch: PhaseBatch, rows, keys: dict[str, str], done) -> set[str]:
        """The items create items already gave this parent (in its payload): recorded here, nothing written.
        Sub-tasks keep their own path below (recorded "as": "sub-task", which a delta's parent move reads)."""
        issues = await batch.records(ISSUE, batch.source_keys(rows))
        now = [
            (str(r.source_id), keys[str(r.parent_id)], {"as": "parent", "at_create": True})
            for r in rows
            if not is_subtask_tier(r.tier)
            and str(r.source_id) not in done
            and keys.get(str(r.parent_id))
            and (getattr(issues.get(str(r.source_id)), "detail", None) or {}).get("parent") == keys[str(r.parent_id)]
        ]
        if now:
            async with self._sessions() as session:
                await item_records.mark_done_many(session, batch.migration_id, HIERARCHY, now, batch.run_id)
                await session.commit()
        return {source_key for source_key, _, _ in now}

    async def _link_instead(
        self, ctx: MigrationContext, session, run_id, source_key, child_key, parent_key, record, linked_before: bool
    ) -> None:
        """Jira cannot nest these types: keep the relation as an issue link, reported in the record.

        `linked_before`: the batch's read found the link already (from an earlier attempt whose answer was lost)."""
        if record is not None and record.state == PENDING and linked_before:
            await item_records.mark_done(
                session, ctx.migration_id, HIERARCHY, source_key, parent_key, run_id, {"as": "link", "reconciled": True}
            )
            return
        await item_records.mark_pending(session, ctx.migration_id, HIERARCHY, [source_key], run_id)
        await session.commit()

        async def find() -> bool | None:
            return True if await _linked(ctx, child_key, parent_key) else None

        async def write() -> bool:
            await ctx.jira.create_issue_link(HIERARCHY_LINK_TYPE, inward_key=child_key, outward_key=parent_key)
            return True

        await write_once(write, find)
        await item_records.mark_done(
            session,
            ctx.migration_id,
            HIERARCHY,
            source_key,
            parent_key,
            run_id,
            {"as": "link", "reason": "Jira cannot make this issue type a child of that one"},
        )


def _jira_type(ctx: MigrationContext, ado_type: str, tier: int) -> str:
    if is_subtask_tier(tier) and ado_type in ctx.plan.subtask_types:
        return ctx.plan.subtask_types[ado_type]
    return ctx.plan.types.get(ado_type, "")


def _nested(issue: Issue | None, parent_key: str) -> bool:
    """The child has this parent in Jira already, as its parent or as the link kept instead (one consistent read)."""
    if issue is None:
        return False
    return ((issue.fields.get("parent") or {}).get("key")) == parent_key or _linked_in(issue, parent_key)


def _linked_in(issue: Issue | None, parent_key: str) -> bool:
    return issue is not None and any(
        (link.get("outwardIssue") or link.get("inwardIssue") or {}).get("key") == parent_key
        for link in issue.fields.get("issuelinks") or []
    )


async def _linked(ctx: MigrationContext, child_key: str, parent_key: str) -> bool:
    issue = await ctx.jira.get_issue(child_key, fields=["issuelinks"])
    for link in issue.fields.get("issuelinks") or []:
        other = (link.get("outwardIssue") or link.get("inwardIssue") or {}).get("key")
        if other == parent_key:
            return True
    return False


async def missing_parent_reasons(
    ctx: MigrationContext, absent: Sequence[int], in_run: Mapping[int, str | None]
) -> dict[int, str]:
    """Why each parent without a Jira issue has none, in words a user can act on.

    `in_run`: the absent parents the run lists, each with its create-items error (None if unknown);
    the others are read from ADO once. Shared with the preview, so it predicts the very words.
    """
    reasons = {
        p: f"parent ADO #{p} was not migrated" + (f": {error}" if error else " (it failed in create items)")
        for p, error in in_run.items()
    }
    outside = [p for p in absent if p not in in_run]
    if outside:
        # A parent the run never listed: deleted since, in another project, or of a type the plan leaves out.
        found = {wi.id: wi for wi in await ctx.ado.get_work_items(outside, expand="none")}
        for p in outside:
            wi = found.get(p)
            project = wi.fields.get("System.TeamProject") if wi else None
            if wi is None:
                reasons[p] = (
                    f"parent ADO #{p} no longer exists in Azure DevOps (deleted, or the PAT cannot read it); "
                    "the item was migrated without a parent"
                )
            elif project and project.lower() != ctx.ado.project.lower():
                reasons[p] = f"parent ADO #{p} is in another Azure DevOps project ({project}), outside this migration"
            elif wi.type and wi.type not in ctx.plan.types:
                reasons[p] = f"parent ADO #{p} is a {wi.type}, which the mapping plan does not migrate"
            else:
                reasons[p] = f"parent ADO #{p} is not part of this run (it appeared after the run listed the project)"
    return reasons
