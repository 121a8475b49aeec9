"""Phase 2: create one batch of issues, exactly once (skip done, reconcile pending, write new)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from migrayt.activities.execution import adoption
from migrayt.activities.execution.drafts import draft_rows, issue_detail
from migrayt.activities.execution.migration_context import (
    MigrationContext,
    MigrationContexts,
)
from migrayt.activities.execution.work_list import is_subtask_tier
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.connectors.adf import work_item_refs
from migrayt.connectors.ado import WorkItem
from migrayt.connectors.http import AmbiguousWriteError, ApiError
from migrayt.contracts.execution import CreateItemsInput, CreateItemsResult
from migrayt.contracts.record_kinds import ISSUE
from migrayt.contracts.runs import PhaseCounters
from migrayt.mapping.plan import MappingPlan
from migrayt.plugins.xray_import import TestImport, imports_tests, is_test_case
from migrayt.store import item_records
from migrayt.store.db import engine_of
from migrayt.store.item_locks import ItemsBusy, claimed
from migrayt.store.item_records import DONE, FAILED, PENDING, REMOVED
from migrayt.store.models import ItemRecord, RunSourceItem
from migrayt.translation.content_text import description_parts
from migrayt.translation.issue_fields import (
    Lookups,
    TargetCatalog,
    build_issue_fields,
)

log = logging.getLogger(__name__)

# Unknown outcomes of a bulk create handled inside one attempt before the activity itself fails.
AMBIGUOUS_ROUNDS = 4


@dataclass
class SourceRow:
    source_id: int
    work_item_type: str
    parent_id: int | None
    tier: int


async def batch_rows(sessions: async_sessionmaker, run_id: str, tier: int, start: int, end: int) -> list[SourceRow]:
    async with sessions() as session:
        rows = await session.execute(
            select(RunSourceItem.source_id, RunSourceItem.work_item_type, RunSourceItem.parent_id, RunSourceItem.tier)
            .where(
                RunSourceItem.run_id == run_id,
                RunSourceItem.tier == tier,
                RunSourceItem.ordinal >= start,
                RunSourceItem.ordinal < end,
            )
            .order_by(RunSourceItem.ordinal)
        )
        return [SourceRow(*r) for r in rows]


class IndexLagging(Exception):
    """A pending write is younger than the search index lag bound: its absence proves nothing yet."""


class CreateItemsActivities:
    def __init__(
        self,
        sessions: async_sessionmaker,
        contexts: MigrationContexts,
        index_lag_grace_seconds: float,
        *,
        parents_at_create: bool = True,
    ) -> None:
        self._sessions = sessions
        self._contexts = contexts
        self._grace = index_lag_grace_seconds
        self._parents_at_create = parents_at_create

    @activity.defn(name="create_items")
    @keeps_heartbeat
    async def create_items(self, input: CreateItemsInput) -> CreateItemsResult:
        ctx = await self._contexts.load(input.migration_id)
        rows = await batch_rows(self._sessions, input.run_id, input.tier, input.start, input.end)
        keys = [str(r.source_id) for r in rows]
        try:
            async with claimed(engine_of(self._sessions), ctx.migration_id, ISSUE, keys):
                result = await self._create(ctx, input, rows)
        except ItemsBusy as err:
            raise ApplicationError(str(err), type="ItemsBusy") from err
        c = result.counters
        # What an operator reads in the worker's log per batch (its tenant, run and phase come with the line).
        log.info(
            "batch of tier %d, items %d-%d: %d created, %d already there, %d adopted, %d failed",
            input.tier,
            input.start,
            input.end,
            c.created,
            c.skipped,
            c.adopted,
            c.failed,
        )
        return result

    async def _create(self, ctx: MigrationContext, input: CreateItemsInput, rows: list[SourceRow]) -> CreateItemsResult:
        counters = PhaseCounters(total=len(rows))
        by_key = {str(r.source_id): r for r in rows}
        async with self._sessions() as session:
            records = await item_records.load(session, ctx.migration_id, ISSUE, by_key)

        to_write: list[SourceRow] = []
        pending: list[tuple[SourceRow, ItemRecord]] = []
        for row in rows:
            record = records.get(str(row.source_id))
            if record is None or record.state in (FAILED, REMOVED):
                to_write.append(row)
            elif record.state == DONE:
                # Done by an earlier attempt of this same run still counts as created by this run.
                if record.run_id == input.run_id and (record.detail or {}).get("adopted"):
                    counters.adopted += 1
                elif record.run_id == input.run_id:
                    counters.created += 1
                else:
                    counters.skipped += 1
            else:
                pending.append((row, record))

        if to_write:
            # Already in Jira from another migration of the same source: recorded, not created again.
            adopted, to_write = await self._adopt(ctx, input.run_id, to_write)
            counters.adopted += adopted

        reconciled = 0
        if imports_tests(ctx):
            # Test cases become Xray Tests through Xray's import job instead of Jira's bulk create.
            tests = TestImport(ctx, self._contexts, self._sessions, self._grace, input.run_id)
            created, failed, reconciled = await tests.run(
                [r for r in to_write if is_test_case(r)], [(r, rec) for r, rec in pending if is_test_case(r)]
            )
            counters.created, counters.failed = counters.created + created, counters.failed + failed
            to_write = [r for r in to_write if not is_test_case(r)]
            pending = [(r, rec) for r, rec in pending if not is_test_case(r)]

        # Every earlier attempt has ended (we hold the item locks), so its writes happened before now.
        settled_at = time.time()
        for round_ in range(AMBIGUOUS_ROUNDS):
            if pending:
                found, missing = await self._reconcile(ctx, input.run_id, pending, settled_at)
                reconciled += found
                counters.created += found
                to_write.extend(missing)
                pending = []
            if not to_write:
                break
            try:
                created, failed = await self._write(ctx, input, to_write)
            except AmbiguousWriteError:
                settled_at = time.time()  # the unknown write, if applied at all, was applied before this
                if round_ == AMBIGUOUS_ROUNDS - 1:
                    raise  # records stay pending; the activity's retry reconciles them
                # Jira may have created some or all: look before writing again, in this same attempt.
                async with self._sessions() as session:
                    fresh = await item_records.load(
                        session, ctx.migration_id, ISSUE, [str(r.source_id) for r in to_write]
                    )
                pending = [
                    (r, fresh[str(r.source_id)])
                    for r in to_write
                    if fresh.get(str(r.source_id)) and fresh[str(r.source_id)].state == PENDING
                ]
                counters.failed += sum(
                    1 for r in to_write if fresh.get(str(r.source_id)) and fresh[str(r.source_id)].state == FAILED
                )
                to_write = []
                continue
            counters.created += created
            counters.failed += failed
            break
        return CreateItemsResult(counters=counters, reconciled=reconciled)

    async def _reconcile(
        self, ctx: MigrationContext, run_id: str, pending: list[tuple[SourceRow, ItemRecord]], settled_at: float
    ) -> tuple[int, list[SourceRow]]:
        """An earlier attempt may have reached Jira: look for the label before writing again.

        A search only proves absence once the index has had `grace` seconds since the last moment
        the write could have been applied (`settled_at`).
        """
        wait = settled_at + self._grace - time.time()
        if wait > 0:
            # The search index may not show a write this young; wait out the bound instead of guessing.
            activity.heartbeat(f"waiting {wait:.1f}s for the search index")
            await asyncio.sleep(wait)
        rows = [row for row, _ in pending]
        hits = await adoption.find_by_label(ctx.jira, ctx.target.project_key, [r.source_id for r in rows])
        identity = adoption.Identity.of(ctx.source)
        found = 0
        missing: list[SourceRow] = []
        async with self._sessions() as session:
            for row in rows:
                # Another organisation's or project's issue with the same label is never this write.
                keys = adoption.reconcilable(identity, row.source_id, hits.get(row.source_id) or [])
                if keys:
                    detail: dict[str, Any] = {"reconciled": True}
                    if len(keys) > 1:
                        detail["duplicates"] = keys[1:]
                    await item_records.mark_done(
                        session, ctx.migration_id, ISSUE, str(row.source_id), keys[0], run_id, detail
                    )
                    found += 1
                else:
                    missing.append(row)
            await session.commit()
        return found, missing

    async def _adopt(self, ctx: MigrationContext, run_id: str, rows: list[SourceRow]) -> tuple[int, list[SourceRow]]:
        """Record as done the items whose issue the target project already holds, by source identity.

        Nothing is written to Jira, so a crash here leaves nothing to reconcile: the retry searches again.
        """
        async with self._sessions() as session:
            await adoption.wait_for_index(session, ctx.migration_id, ctx.target, self._grace, activity.heartbeat)
        found = await adoption.find_by_label(ctx.jira, ctx.target.project_key, [r.source_id for r in rows])
        decided = adoption.decide(adoption.Identity.of(ctx.source), found)
        if decided.legacy:
            work_items = await ctx.ado.get_work_items(list(decided.legacy), expand="none")
            adoption.settle_legacy(decided, {wi.id: adoption.expected_summary(wi.id, wi.fields) for wi in work_items})
        if not decided.keys:
            return 0, rows
        done = [
            (str(r.source_id), decided.keys[r.source_id], adoption.adopted_detail(decided, r.source_id))
            for r in rows
            if r.source_id in decided.keys
        ]
        async with self._sessions() as session:
            await item_records.mark_done_many(session, ctx.migration_id, ISSUE, done, run_id)
            await session.commit()
        return len(done), [r for r in rows if r.source_id not in decided.keys]

    async def _write(self, ctx: MigrationContext, input: CreateItemsInput, rows: list[SourceRow]) -> tuple[int, int]:
        catalog = await self._contexts.catalog(ctx)
        lookups = await self._contexts.lookups(ctx)
        subtasks = is_subtask_tier(input.tier)
        parent_keys: dict[str, str] = {}
        parent_types: dict[int, str] = {}
        if subtasks or self._parents_at_create:
            async with self._sessions() as session:
                parent_keys = await item_records.target_keys(
                    session, ctx.migration_id, ISSUE, {str(r.parent_id) for r in rows if r.parent_id}
                )
                if not subtasks:
                    parent_types = await listed_types(session, input.run_id, [r.parent_id for r in rows if r.parent_id])
        work_items = {wi.id: wi for wi in await ctx.ado.get_work_items([r.source_id for r in rows], expand="relations")}
        lookups = await self._as_second_pass(ctx, lookups, work_items.values())

        def draft(row: SourceRow, wi: WorkItem) -> tuple[dict, dict]:
            parent_key = parent_keys.get(str(row.parent_id)) if row.parent_id else None
            issue = build_issue_fields(
                wi.id,
                wi.fields,
                ctx.plan,
                catalog,
                lookups,
                as_subtask=subtasks and parent_key is not None,
                parent_key=parent_key,
            )
            detail = issue_detail(issue)
            parent_type = parent_types.get(row.parent_id) if row.parent_id else None
            if not subtasks and parent_key and nests(ctx.plan, catalog, row.work_item_type, parent_type):
                # The parent exists already and Jira nests this pair: set it now, one write fewer
                # in the hierarchy phase, which sees `parent` here and only records it.
                issue.fields["parent"] = {"key": parent_key}
            if "parent" in issue.fields:
                detail["parent"] = issue.fields["parent"]["key"]
            return issue.fields, detail

        drafted, failed = await draft_rows(self._sessions, ctx.migration_id, input.run_id, rows, work_items, draft)
        drafts = [(row, fields, detail) for row, _, (fields, detail) in drafted]
        if not drafts:
            return 0, failed
        # A pause or cancel (the activity's cancellation) may cut the batch up to here, not during the
        # write: a bulk create cut in flight leaves pending records that take the index-lag grace to
        # settle, so the one under way finishes and is recorded first.
        write = asyncio.ensure_future(self._send(ctx, input, drafts))
        try:
            created, refused = await asyncio.shield(write)
        except asyncio.CancelledError:
            await write
            raise
        return created, failed + refused

    async def _as_second_pass(self, ctx: MigrationContext, lookups: Lookups, work_items: Iterable[WorkItem]) -> Lookups:
        """The lookups to render descriptions as the attachments phase's second pass will: `#123` of items created
        already as their keys (one read for the batch), as links to the Jira site. Where the second pass then
        renders the same document, it does not write it again (one PUT per item fewer)."""
        refs = {
            str(n)
            for wi in work_items
            for part in description_parts(wi.fields)
            if "#" in part or "_workitems" in part
            for n in work_item_refs(part)
        }
        keys: dict[str, str] = {}
        if refs:
            async with self._sessions() as session:
                keys = await item_records.target_keys(session, ctx.migration_id, ISSUE, refs)
        return replace(
            lookups,
            issue_keys={int(k): v for k, v in keys.items()},
            jira_site_url=ctx.target.base_url.rstrip("/"),
        )

    async def _send(
        self, ctx: MigrationContext, input: CreateItemsInput, drafts: list[tuple[SourceRow, dict, dict]]
    ) -> tuple[int, int]:
        """Pending, bulk create, done or failed: one write, recorded on both sides of it."""
        failed = 0
        async with self._sessions() as session:
            # Intent first, committed, so a crash after the write is reconciled rather than repeated.
            await item_records.mark_pending(
                session, ctx.migration_id, ISSUE, [str(r.source_id) for r, _, _ in drafts], input.run_id
            )
            await session.commit()
        try:
            result = await ctx.jira.bulk_create_issues(
                [
                    {"fields": fields, "properties": [adoption.source_property(ctx.source, row.source_id)]}
                    for row, fields, _ in drafts
                ]
            )
        except AmbiguousWriteError:
            raise  # pending records stay pending; the retry reconciles them by label
        except ApiError as err:
            if err.status in (401, 403):
                raise
            # The whole call was refused (e.g. every element invalid): each item fails with the reason.
            async with self._sessions() as session:
                for row, _, _ in drafts:
                    await item_records.mark_failed(
                        session, ctx.migration_id, ISSUE, str(row.source_id), f"Jira refused: {err}", input.run_id
                    )
                await session.commit()
            return 0, len(drafts)

        done: list[tuple[str, str, dict]] = []
        async with self._sessions() as session:
            for index, (row, _, detail) in enumerate(drafts):
                key = result.key_for(index)
                if key:
                    done.append((str(row.source_id), key, detail))
                else:
                    error = result.errors.get(index)
                    reason = "Jira refused the issue: " + (error.describe() if error else "no reason given")
                    await item_records.mark_failed(
                        session, ctx.migration_id, ISSUE, str(row.source_id), reason, input.run_id
                    )
                    failed += 1
            await item_records.mark_done_many(session, ctx.migration_id, ISSUE, done, input.run_id)
            await session.commit()
        return len(done), failed


async def listed_types(session, run_id: str, source_ids: list[int]) -> dict[int, str]:
    """The ADO type of each of these items the run lists (a parent off the list is left out)."""
    if not source_ids:
        return {}
    rows = await session.execute(
        select(RunSourceItem.source_id, RunSourceItem.work_item_type).where(
            RunSourceItem.run_id == run_id, RunSourceItem.source_id.in_(sorted(set(source_ids)))
        )
    )
    return dict(rows.all())


def nests(plan: MappingPlan, catalog: TargetCatalog, child_ado_type: str, parent_ado_type: str | None) -> bool:
    """Whether the plan's types put the child's issue type one level under its parent's, so Jira takes the
    parent as `parent` (a pair it cannot nest stays for the hierarchy phase, which links them instead)."""
    child = catalog.issue_types.get(plan.types.get(child_ado_type, ""))
    parent = catalog.issue_types.get(plan.types.get(parent_ado_type or "", ""))
    return (
        child is not None
        and parent is not None
        and not child.subtask
        and parent.hierarchy_level == child.hierarchy_level + 1
    )


def issue_number(key: str) -> int:
    tail = key.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0
