"""Undo: what a migration added to Jira, taken out again — the plan (dry run), the batches, the ledger sweep.

What goes: the issues the migration created (bulk delete, 1,000 a request, an asynchronous task);
on issues it did not create (adopted) only what it added there — links, remote links, files,
comments; the sprints and components it created, once no issue uses them. Everything it sends is a
delete, and a delete of what is already gone counts as removed, so a batch retried after a crash
simply runs again: nothing needs reconciling. Each removal marks its item record "removed"
(store/item_records.py), which a new run treats as never written.

The point of no return: an issue the migration created is held back when others built on it —
edited by someone else after the migration wrote it, comments or work logged by others — unless
that category is forced; the plan lists what forcing would lose.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity

from migrayt.activities.execution import adoption
from migrayt.activities.execution.content_io import FILE_KINDS
from migrayt.activities.execution.migration_context import MigrationContext, MigrationContexts
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.connectors.http import ApiError
from migrayt.connectors.jira import JiraClient
from migrayt.contracts.record_kinds import (
    COMMENT,
    COMPONENT,
    ISSUE,
    LINK,
    NOT_CONTENT,
    PROVENANCE_FIELD,
    REMOTE_LINK,
    SPRINT,
)
from migrayt.contracts.runs import PhaseCounters
from migrayt.contracts.undo import (
    CATEGORIES,
    EDITED_ISSUES,
    OTHERS_COMMENTS,
    OTHERS_WORKLOGS,
    SAMPLE,
    TIER_CONTAINERS,
    TIER_CONTENT,
    TIER_ISSUES,
    Blocker,
    UndoBatchInput,
    UndoBatchResult,
    UndoPlan,
    UndoPlanInput,
    UndoSweepInput,
    UndoSweepResult,
)
from migrayt.core.start_gate import claim_run, start_refusal
from migrayt.plugins import plugin_of_kind
from migrayt.store import item_records
from migrayt.store.item_records import DONE, PENDING, REMOVED
from migrayt.store.models import AuditEvent, ItemRecord, RunSourceItem

WORKLOG = "worklog"
CATEGORY_OF_KIND = {
    ISSUE: "issues",
    LINK: "links",
    REMOTE_LINK: "remote_links",
    COMMENT: "comments",
    WORKLOG: "worklogs",
    SPRINT: "sprints",
    COMPONENT: "components",
    PROVENANCE_FIELD: "provenance_fields",
    **{k: "attachments" for k in FILE_KINDS},
}
# Reads of a plan at once: three per created issue (changelog, comments, worklogs).
READS_AT_ONCE = 16
# Deletes of one content batch at once.
DELETES_AT_ONCE = 8


def _author(entry: Any) -> str | None:
    author = getattr(entry, "author", None) or {}
    return author.get("accountId") if isinstance(author, dict) else None


def _ado_id(record: ItemRecord) -> str:
    return record.source_key.split(":", 1)[0]


def _gone(err: ApiError) -> bool:
    return err.status == 404


class UndoActivities:
    def __init__(self, sessions: async_sessionmaker, contexts: MigrationContexts, poll_seconds: float = 0.25) -> None:
        self._sessions = sessions
        self._contexts = contexts
        self._poll = poll_seconds

    # --- the plan -------------------------------------------------------------------------------

    @activity.defn(name="undo_plan")
    @keeps_heartbeat
    async def undo_plan(self, input: UndoPlanInput) -> UndoPlan:
        """What would go (dry run); for a confirmed undo also the run's row and its work list."""
        if not input.dry_run:
            async with self._sessions() as session:
                if refusal := await start_refusal(
                    session, input.migration_id, plan_approval=False, this_run=input.run_id
                ):
                    return UndoPlan(refused=refusal)
        ctx = await self._contexts.load(input.migration_id)
        me = (await ctx.jira.myself()).account_id
        records = await self._records(input.migration_id)
        await self._settle_pending_issues(ctx, records)
        issues = [(r.target_key, r) for r in records if r.kind == ISSUE and r.state == DONE and r.target_key]
        created = {key: r for key, r in issues if not (r.detail or {}).get("adopted")}
        adopted = {key for key, r in issues if (r.detail or {}).get("adopted")}
        issue_of_item = {r.source_key: key for key, r in issues}

        blockers = await self._blockers(ctx.jira, me, created)
        forced = set(input.force)
        held: set[str] = set()
        plan = UndoPlan()
        for b in blockers:
            (plan.forced if b.category in forced else plan.blocked).append(b)
            if b.category not in forced:
                held.add(b.issue_key)

        tiers: list[list[ItemRecord]] = [[], [], []]
        for r in records:
            if r.state != DONE or not r.target_key or (r.detail or {}).get("adopted"):
                continue  # not written by this migration (adopted), or nothing in Jira to take out
            where = self._tier(r, created, adopted, issue_of_item, held)
            if where is not None:
                tiers[where].append(r)
        for tier in tiers:
            for r in tier:
                category = CATEGORY_OF_KIND.get(r.kind, r.kind)
                plan.counts[category] = plan.counts.get(category, 0) + 1
                sample = plan.samples.setdefault(category, [])
                if len(sample) < SAMPLE:
                    sample.append(r.target_key or "")
        plan.counts = {c: plan.counts.get(c, 0) for c in CATEGORIES} | plan.counts
        plan.total = sum(len(t) for t in tiers)
        plan.tier_sizes = [len(t) for t in tiers]
        if input.dry_run:
            return plan
        if input.confirm != plan.total:
            plan.refused = (
                f"the undo would remove {plan.total} items now, not the {input.confirm} confirmed: "
                "run the dry run again and confirm its count"
            )
            return plan
        await self._write_work_list(input, tiers, plan)
        return plan

    async def _records(self, migration_id: str) -> list[ItemRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ItemRecord).where(
                    ItemRecord.migration_id == migration_id,
                    ItemRecord.kind.not_in(NOT_CONTENT),
                    ItemRecord.state.in_((DONE, PENDING)),
                )
            )
            return list(rows)

    async def _settle_pending_issues(self, ctx: MigrationContext, records: list[ItemRecord]) -> None:
        """An issue write left pending may have reached Jira: found by its label, it is the migration's to remove."""
        pending = [r for r in records if r.kind == ISSUE and r.state == PENDING and r.source_key.isdigit()]
        if not pending:
            return
        hits = await adoption.find_by_label(ctx.jira, ctx.target.project_key, [int(r.source_key) for r in pending])
        identity = adoption.Identity.of(ctx.source)
        async with self._sessions() as session:
            for r in pending:
                keys = adoption.reconcilable(identity, int(r.source_key), hits.get(int(r.source_key)) or [])
                if keys:
                    detail = {**(r.detail or {}), "reconciled": True}
                    await item_records.mark_done(
                        session, r.migration_id, ISSUE, r.source_key, keys[0], r.run_id or "undo", detail
                    )
                    r.state, r.target_key, r.detail = DONE, keys[0], detail
            await session.commit()

    async def _blockers(self, jira: JiraClient, me: str, created: dict[str, ItemRecord]) -> list[Blocker]:
        limit = asyncio.Semaphore(READS_AT_ONCE)
        out: list[Blocker] = []

        async def look(key: str, record: ItemRecord) -> None:
            async with limit:
                try:
                    changes, comments, worklogs = await asyncio.gather(
                        jira.issue_changelog(key), jira.list_comments(key), jira.list_worklogs(key)
                    )
                except ApiError as err:
                    if _gone(err):
                        return  # already gone: nothing of anyone's to lose
                    raise
            # Every change of an issue the migration created came after its write: only the author matters.
            edits = [c for c in changes if _author(c) not in (None, me)]
            if edits:
                by = sorted({_author(c) or "" for c in edits})
                out.append(
                    Blocker(category=EDITED_ISSUES, issue_key=key, by=by, lost=f"{len(edits)} edit(s) by others")
                )
            others = [c for c in comments if _author(c) not in (None, me)]
            if others:
                by = sorted({_author(c) or "" for c in others})
                out.append(
                    Blocker(category=OTHERS_COMMENTS, issue_key=key, by=by, lost=f"{len(others)} comment(s) by others")
                )
            logged = [w for w in worklogs if _author(w) not in (None, me)]
            if logged:
                by = sorted({_author(w) or "" for w in logged})
                seconds = sum(w.time_spent_seconds or 0 for w in logged)
                out.append(
                    Blocker(
                        category=OTHERS_WORKLOGS,
                        issue_key=key,
                        by=by,
                        lost=f"{len(logged)} worklog(s) by others ({seconds // 60} min)",
                    )
                )
            activity.heartbeat()

        await asyncio.gather(*(look(k, r) for k, r in created.items()))
        return sorted(out, key=lambda b: (b.category, adoption.issue_number(b.issue_key)))

    @staticmethod
    def _tier(
        r: ItemRecord, created: dict[str, ItemRecord], adopted: set[str], issue_of_item: dict[str, str], held: set[str]
    ) -> int | None:
        """Where this record's write goes in the work list; None when it goes with its issue, or stays with it."""
        detail = r.detail or {}
        if r.kind == ISSUE:
            return TIER_ISSUES if r.target_key in created and r.target_key not in held else None
        if r.kind in (SPRINT, COMPONENT, PROVENANCE_FIELD):
            return TIER_CONTAINERS if detail.get("created") else None
        if r.kind == LINK:
            ends = {detail.get("subject"), detail.get("object")}
            # A link to an issue held back stays with it; a link to an issue deleted goes with it.
            return TIER_CONTENT if not (ends & (held | set(created))) else None
        issue: str | None
        if r.kind == REMOTE_LINK:
            issue = (r.target_key or "").rsplit(":", 1)[0]
        elif r.kind in FILE_KINDS:
            issue = detail.get("issue")  # None (recorded before files named their issue): removed on its own
        elif r.kind in (COMMENT, WORKLOG) or plugin_of_kind(r.kind) is not None:
            issue = issue_of_item.get(_ado_id(r))
        else:
            return None  # fields, statuses, parents: they live and die with their issue
        if issue is None or (issue in adopted and issue not in held):
            return TIER_CONTENT
        return None  # on an issue that goes (with it), that stays as others built on it, or is no longer known

    async def _write_work_list(self, input: UndoPlanInput, tiers: list[list[ItemRecord]], plan: UndoPlan) -> None:
        async with self._sessions() as session:
            await claim_run(
                session,
                run_id=input.run_id,
                migration_id=input.migration_id,
                tenant=input.tenant,
                phase="undo",
                action="undo_requested",
                actor=input.requested_by,
                door=input.door,
                # Counts, keys and account ids only: never ticket content.
                detail={
                    "counts": plan.counts,
                    "total": plan.total,
                    "force": input.force,
                    "blocked": [b.model_dump() for b in plan.blocked],
                    "forced": [b.model_dump() for b in plan.forced],
                },
            )
            await session.execute(delete(RunSourceItem).where(RunSourceItem.run_id == input.run_id))
            rows = [
                dict(run_id=input.run_id, source_id=r.id, work_item_type=r.kind, parent_id=None, tier=t, ordinal=n)
                for t, items in enumerate(tiers)
                for n, r in enumerate(sorted(items, key=lambda r: r.id))
            ]
            for start in range(0, len(rows), 5000):
                await session.execute(insert(RunSourceItem), rows[start : start + 5000])
            await session.commit()

    # --- the batches ----------------------------------------------------------------------------

    @activity.defn(name="undo_batch")
    @keeps_heartbeat
    async def undo_batch(self, input: UndoBatchInput) -> UndoBatchResult:
        ctx = await self._contexts.load(input.migration_id)
        async with self._sessions() as session:
            ids = list(
                await session.scalars(
                    select(RunSourceItem.source_id)
                    .where(
                        RunSourceItem.run_id == input.run_id,
                        RunSourceItem.tier == input.tier,
                        RunSourceItem.ordinal >= input.start,
                        RunSourceItem.ordinal < input.end,
                    )
                    .order_by(RunSourceItem.ordinal)
                )
            )
            records = list(await session.scalars(select(ItemRecord).where(ItemRecord.id.in_(ids))))
        counters = PhaseCounters(total=len(ids))
        # Removed by an earlier attempt of this batch (a retry after a crash): counted, not sent again.
        todo = [r for r in records if r.state != REMOVED]
        counters.skipped += len(records) - len(todo)
        if input.tier == TIER_ISSUES:
            outcomes = await self._delete_issues(ctx, todo)
        else:
            limit = asyncio.Semaphore(DELETES_AT_ONCE)

            async def one(r: ItemRecord) -> tuple[ItemRecord, str]:
                async with limit:
                    return r, await self._delete_one(ctx, r)

            outcomes = list(await asyncio.gather(*(one(r) for r in todo)))
        by_outcome: dict[str, list[int]] = defaultdict(list)
        for r, outcome in outcomes:
            by_outcome[outcome].append(r.id)
        async with self._sessions() as session:
            for outcome in ("deleted", "already gone"):
                await item_records.mark_removed(
                    session, by_outcome[outcome], input.run_id, {"undo": input.run_id, "removal": outcome}
                )
            for outcome, ids_ in by_outcome.items():
                if outcome.startswith(("in use", "refused")):
                    await session.execute(
                        update(ItemRecord)
                        .where(ItemRecord.id.in_(ids_))
                        .values(error=f"undo {input.run_id}: {outcome}", updated_at=func.now())
                    )
            await session.commit()
        counters.created += len(by_outcome["deleted"])
        # A sprint or component still in use stays by design (counted with what needed no removal);
        # what Jira refused to delete is a failure, each with Jira's reason on its record.
        counters.skipped += len(by_outcome["already gone"]) + sum(
            len(v) for k, v in by_outcome.items() if k.startswith("in use")
        )
        counters.failed += sum(len(v) for k, v in by_outcome.items() if k.startswith("refused"))
        return UndoBatchResult(counters=counters)

    async def _delete_issues(self, ctx: MigrationContext, records: list[ItemRecord]) -> list[tuple[ItemRecord, str]]:
        if not records:
            return []
        keys = [r.target_key or "" for r in records]
        try:
            task_id = await ctx.jira.bulk_delete_issues(keys)
        except ApiError as err:
            if err.status != 400:
                raise
            # Jira refuses a bulk delete whose issues are all gone: then each is looked at on its own.
            return [(r, await self._gone_already(ctx, r.target_key or "")) for r in records]
        while True:
            progress = await ctx.jira.bulk_task(task_id)
            if progress.finished:
                break
            activity.heartbeat(f"bulk delete {task_id}: {progress.status}")
            await asyncio.sleep(self._poll)
        if progress.status != "COMPLETE" and not progress.processed:
            raise RuntimeError(f"Jira's bulk delete task {task_id} ended {progress.status}")
        if not progress.failed:
            return [(r, "deleted") for r in records]
        return [(r, await self._after_refusal(ctx, r.target_key or "", progress.failed)) for r in records]

    @staticmethod
    async def _exists(ctx: MigrationContext, key: str) -> str | None:
        """The issue's id while it is in Jira, None once it is gone."""
        try:
            return (await ctx.jira.get_issue(key, fields=["summary"])).id
        except ApiError as err:
            if _gone(err):
                return None
            raise

    async def _gone_already(self, ctx: MigrationContext, key: str) -> str:
        if await self._exists(ctx, key) is not None:
            raise RuntimeError(f"Jira refused the bulk delete though {key} is still there")
        return "already gone"

    async def _after_refusal(self, ctx: MigrationContext, key: str, failed: dict[str, list[str]]) -> str:
        issue_id = await self._exists(ctx, key)
        if issue_id is None:
            return "deleted"
        return f"refused: Jira did not delete {key}: {'; '.join(failed.get(issue_id) or ['no reason given'])}"

    async def _delete_one(self, ctx: MigrationContext, r: ItemRecord) -> str:
        jira, detail, target = ctx.jira, r.detail or {}, r.target_key or ""
        try:
            if r.kind == LINK:
                link_id = await self._link_id(jira, detail)
                if link_id is None:
                    return "already gone"
                await jira.delete_issue_link(link_id)
            elif r.kind == REMOTE_LINK:
                issue, link_id = target.rsplit(":", 1)
                await jira.delete_remote_link(issue, link_id)
            elif r.kind in FILE_KINDS:
                await jira.delete_attachment(target)
            elif r.kind in (COMMENT, WORKLOG):
                on = await self._issue_key(r)
                if on is None:
                    return "already gone"
                await (jira.delete_comment if r.kind == COMMENT else jira.delete_worklog)(on, target)
            elif r.kind == COMPONENT:
                if (used := await jira.component_issue_count(target)) > 0:
                    return f"in use: component {target} is still used by {used} issue(s)"
                await jira.delete_component(target)
            elif r.kind == SPRINT:
                if (used := await jira.sprint_issue_count(int(target))) > 0:
                    return f"in use: sprint {target} still holds {used} issue(s)"
                await jira.delete_sprint(int(target))
            elif r.kind == PROVENANCE_FIELD:
                # Other projects' issues (or a later migration's) may carry it too: it goes only when none does.
                if (used := await jira.field_issue_count(target)) > 0:
                    return f"in use: field {target} still has a value on {used} issue(s)"
                await jira.delete_field(target)
            elif (plugin := plugin_of_kind(r.kind)) is not None:
                # What a plugin wrote, it removes (migrayt/plugins/contract.py Plugin.remove).
                return await plugin.remove(ctx, r, await self._issue_key(r))
            else:
                return "already gone"
        except ApiError as err:
            if _gone(err):
                return "already gone"
            raise
        return "deleted"

    async def _issue_key(self, r: ItemRecord) -> str | None:
        async with self._sessions() as session:
            keys = await item_records.target_keys(session, r.migration_id, ISSUE, [_ado_id(r)])
        return keys.get(_ado_id(r))

    @staticmethod
    async def _link_id(jira: JiraClient, detail: dict[str, Any]) -> str | None:
        """The Jira id of the link the record describes (subject —type→ object), None when it is gone."""
        subject, obj, type_name = detail.get("subject"), detail.get("object"), detail.get("type")
        if not subject or not obj:
            return None
        try:
            issue = await jira.get_issue(subject, fields=["issuelinks"])
        except ApiError as err:
            if _gone(err):
                return None
            raise
        for link in issue.fields.get("issuelinks") or []:
            other = (link.get("outwardIssue") or link.get("inwardIssue") or {}).get("key")
            if other == obj and (link.get("type") or {}).get("name") == type_name:
                return str(link.get("id"))
        return None

    # --- the ledger after the last batch ----------------------------------------------------------

    @activity.defn(name="undo_sweep")
    @keeps_heartbeat
    async def undo_sweep(self, input: UndoSweepInput) -> UndoSweepResult:
        """Every record whose write left Jira with its issue (or never reached it) is removed too:
        a new run starts clean. Records tied to an issue or container the undo kept stay as they are."""
        async with self._sessions() as session:
            records = list(
                await session.scalars(
                    select(ItemRecord).where(
                        ItemRecord.migration_id == input.migration_id,
                        ItemRecord.kind.not_in(NOT_CONTENT),
                        ItemRecord.state != REMOVED,
                    )
                )
            )
            # What an undo left in Jira: issues held back (others built on them) or refused by Jira.
            kept = [r for r in records if r.kind == ISSUE and r.state == DONE and not (r.detail or {}).get("adopted")]
            kept_items, kept_keys = {r.source_key for r in kept}, {r.target_key for r in kept}
            release = [
                r.id
                for r in records
                if not self._tied_to(r, kept_items, kept_keys)
                and not (r.kind in (SPRINT, COMPONENT) and r.state == DONE)
                # A field it created and kept (still in use) stays recorded; where it found one, it looked only.
                and not (r.kind == PROVENANCE_FIELD and r.state == DONE and (r.detail or {}).get("created"))
            ]
            await item_records.mark_removed(
                session, release, input.run_id, {"undo": input.run_id, "removal": "with its issue"}
            )
            # The trail of what this undo took out of Jira: counts per kind and how, never content.
            removal = ItemRecord.detail["removal"].astext
            rows = await session.execute(
                select(ItemRecord.kind, removal, func.count())
                .where(ItemRecord.migration_id == input.migration_id, ItemRecord.run_id == input.run_id)
                .where(ItemRecord.state == REMOVED)
                .group_by(ItemRecord.kind, removal)
            )
            removed: dict[str, dict[str, int]] = {}
            for kind, how, n in rows:
                removed.setdefault(str(how), {})[kind] = n
            await session.execute(
                pg_insert(AuditEvent)
                .values(
                    event_key=f"{input.run_id}:removed",
                    tenant_id=input.tenant,
                    migration_id=input.migration_id,
                    run_id=input.run_id,
                    action="undo_removed",
                    actor="system",
                    door="system",
                    detail={"records": removed},
                )
                .on_conflict_do_nothing(index_elements=[AuditEvent.event_key])
            )
            await session.commit()
        return UndoSweepResult(released=len(release))

    @staticmethod
    def _tied_to(r: ItemRecord, items: set[str], keys: set[str | None]) -> bool:
        """Whether the record's write is on (or links to) an issue that stays."""
        if not items:
            return False
        detail, parts = r.detail or {}, r.source_key.split(":")
        ends = parts[:2] if r.kind == LINK else parts[:1]
        on = {detail.get("issue"), detail.get("subject"), detail.get("object")}
        if r.kind == REMOTE_LINK:
            on.add((r.target_key or "").rsplit(":", 1)[0])
        return any(e in items for e in ends) or bool((on - {None}) & keys)
