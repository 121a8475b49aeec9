"""Delta sync: changed fields and status changes of items that already have a Jira issue.

Exactly once per ADO revision (kind "source_change", source key "id:rev"). What changed is the
difference between the issue fields built from the item as it is now and as it was at the delta's
`changed_since` (ADO's asOf), so only fields someone edited are sent, never the whole issue again:
a description Migrayt rewrote (images re-hosted) stays as it is unless the description changed.
Setting fields is idempotent, and the status walk starts from the status Jira shows, so a pending
record is simply done again.

The same revision also carries what phases 3–5 cannot see on an issue that already exists: a
changed description is rendered as phase 5 renders it (ADO-hosted images uploaded to the issue and
shown inline, each once), a move to another ADO parent moves the Jira issue (parent_moves), and a
link removed in ADO is deleted from Jira if Migrayt made it (removed_links). Both compare the
ledger with ADO now, so doing them again finds nothing left to do.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from migrayt.activities.delta.parent_moves import (
    MoveRefused,
    ParentMove,
    ParentMoves,
    parent_move,
)
from migrayt.activities.delta.removed_links import (
    RemovedLinks,
    gone_links,
    link_records_touching,
)
from migrayt.activities.execution.content_io import (
    IssueFiles,
    RichText,
    bytes_source,
)
from migrayt.activities.execution.create_items import SourceRow
from migrayt.activities.execution.migration_context import MigrationContext, MigrationContexts
from migrayt.activities.execution.phase_batch import PhaseBatch
from migrayt.activities.execution.phase_links import fails_alone
from migrayt.activities.execution.phase_transitions import TransitionsPhase, Unreachable
from migrayt.activities.execution.work_list import is_subtask_tier
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.activities.side_by_side import gather_or_cancel
from migrayt.connectors.adf import fit_adf
from migrayt.connectors.http import ApiError
from migrayt.contracts.execution import PhaseBatchResult
from migrayt.contracts.record_kinds import ATTACHMENT, DESCRIPTION_ORIGINAL, HIERARCHY, ISSUE, SOURCE_CHANGE
from migrayt.contracts.schedules import SourceChangesInput
from migrayt.store import item_records
from migrayt.store.db import engine_of
from migrayt.store.item_locks import ItemsBusy, claimed
from migrayt.store.item_records import DONE
from migrayt.store.models import RunSourceItem
from migrayt.translation.content_text import (
    ado_attachment_src,
    description_file_name,
    description_note,
    description_parts,
    image_sources,
    original_html_file,
)
from migrayt.translation.issue_fields import (
    TEXT_LIMIT,
    ItemRejected,
    Lookups,
    build_issue_fields,
    fallback_note_html,
    with_provenance_panel,
)

# Fields that place the issue: the type stays, and the parent moves through the hierarchy record
# (parent_moves), which knows what Jira holds for it (parent field, sub-task, or stand-in link).
NOT_EDITED = frozenset({"project", "issuetype", "parent"})
PER_BATCH_CONCURRENCY = 8
CREATED, SKIPPED, FAILED = "created", "skipped", "failed"


def changed_fields(before: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, Any]:
    """Jira fields whose value differs; a field gone from the item is cleared (None)."""
    before = before or {}
    out = {k: v for k, v in now.items() if k not in NOT_EDITED and before.get(k) != v}
    out.update({k: None for k in before if k not in now and k not in NOT_EDITED})
    return out


class SourceChangesActivities:
    def __init__(self, sessions: async_sessionmaker, contexts: MigrationContexts) -> None:
        self._sessions = sessions
        self._contexts = contexts
        self._transitions = TransitionsPhase(sessions, contexts)

    @activity.defn(name="delta_source_changes")
    @keeps_heartbeat
    async def delta_source_changes(self, input: SourceChangesInput) -> PhaseBatchResult:
        batch = await PhaseBatch.open(self._sessions, self._contexts, input)
        ctx = batch.ctx
        issues = await batch.issues()
        issue_key = {k: rec.target_key for k, rec in issues.items() if rec.target_key}
        with_issue = batch.keep([r for r in batch.rows if str(r.source_id) in issue_key])
        if not with_issue:
            return batch.result()
        now = await batch.work_items(with_issue)
        # Issues this very delta created hold this revision already: recorded as such, so the next
        # delta does not take them for changed.
        fresh = [r for r in with_issue if issues[str(r.source_id)].run_id == input.run_id and r.source_id in now]
        if fresh:
            async with self._sessions() as session:
                seen = await item_records.load(
                    session, ctx.migration_id, SOURCE_CHANGE, [f"{r.source_id}:{now[r.source_id].rev}" for r in fresh]
                )
                await item_records.mark_done_many(
                    session,
                    ctx.migration_id,
                    SOURCE_CHANGE,
                    [
                        (key, issue_key[str(r.source_id)], {"rev": now[r.source_id].rev, "created": True})
                        for r in fresh
                        if (key := f"{r.source_id}:{now[r.source_id].rev}") not in seen
                    ],
                    input.run_id,
                )
                await session.commit()
        existing = [r for r in with_issue if r not in fresh]
        keys = {str(r.source_id): f"{r.source_id}:{now[r.source_id].rev}" for r in existing if r.source_id in now}
        batch.counters.skipped += len(with_issue) - len(keys)  # created by this delta, or gone from ADO since
        if not keys:
            return batch.result()
        try:
            async with claimed(engine_of(self._sessions), ctx.migration_id, SOURCE_CHANGE, list(keys.values())):
                outcomes = await self._apply(
                    ctx, input, [r for r in existing if str(r.source_id) in keys], now, keys, issues
                )
        except ItemsBusy as err:
            raise ApplicationError(str(err), type="ItemsBusy") from err
        return batch.result(outcomes)

    async def _apply(
        self,
        ctx: MigrationContext,
        input: SourceChangesInput,
        rows: list[SourceRow],
        now: dict,
        keys: dict[str, str],
        issues,
    ) -> list[str]:
        async with self._sessions() as session:
            records = await item_records.load(session, ctx.migration_id, SOURCE_CHANGE, keys.values())
        todo = [r for r in rows if (rec := records.get(keys[str(r.source_id)])) is None or rec.state != DONE]
        outcomes = [
            CREATED if records[keys[str(r.source_id)]].run_id == input.run_id else SKIPPED
            for r in rows
            if r not in todo
        ]
        if not todo:
            return outcomes
        before: dict[int, Any] = {}
        if input.changed_since is not None:
            before = {
                wi.id: wi
                for wi in await ctx.ado.get_work_items(
                    [r.source_id for r in todo], expand="relations", as_of=input.changed_since
                )
            }
        catalog = await self._contexts.catalog(ctx)
        lookups = await self._contexts.lookups(ctx)
        async with self._sessions() as session:
            parent_keys = await item_records.target_keys(
                session, ctx.migration_id, ISSUE, {str(r.parent_id) for r in todo if r.parent_id}
            )
            kinship = await item_records.load(session, ctx.migration_id, HIERARCHY, [str(r.source_id) for r in todo])
            link_records = await link_records_touching(session, ctx.migration_id, [r.source_id for r in todo])
            ends = {e for rec in link_records for e in map(int, rec.source_key.split(":", 2)[:2])}
            in_work_list = (
                set(
                    await session.scalars(
                        select(RunSourceItem.source_id).where(
                            RunSourceItem.run_id == input.run_id, RunSourceItem.source_id.in_(ends)
                        )
                    )
                )
                if ends
                else set()
            )
        gone = gone_links(link_records, {r.source_id: now[r.source_id] for r in todo}, in_work_list)
        removals = RemovedLinks(
            self._sessions, ctx, input.run_id, {rec.source_key for recs in gone.values() for rec in recs}
        )
        moves = ParentMoves(self._sessions, ctx, catalog, input.run_id)
        workflows = {t.id: t for t in await ctx.jira.get_project_statuses(ctx.target.project_key)}
        limit = asyncio.Semaphore(PER_BATCH_CONCURRENCY)

        async def one(row: SourceRow) -> str:
            source_key, issue_key = keys[str(row.source_id)], issues[str(row.source_id)].target_key
            wi, old = now[row.source_id], before.get(row.source_id)
            parent_key = parent_keys.get(str(row.parent_id)) if row.parent_id else None
            as_subtask = is_subtask_tier(row.tier) and parent_key is not None
            try:
                fields_now = build_issue_fields(
                    wi.id, wi.fields, ctx.plan, catalog, lookups, as_subtask=as_subtask, parent_key=parent_key
                ).fields
                fields_before = (
                    build_issue_fields(
                        old.id, old.fields, ctx.plan, catalog, lookups, as_subtask=as_subtask, parent_key=parent_key
                    ).fields
                    if old
                    else None
                )
            except ItemRejected as err:
                return await self._fail(ctx, input.run_id, source_key, f"the changed item cannot be mapped: {err}")
            edits = changed_fields(fields_before, fields_now) if fields_before is not None else {}
            state_now, state_before = wi.state or "", (old.state if old else None)
            target = (
                ctx.plan.target_status(wi.type or row.work_item_type, state_now) if state_now != state_before else None
            )
            move = parent_move(row.source_id, issue_key, kinship.get(str(row.source_id)), row.parent_id, parent_key)
            if move is None and await moves.taken_for_subtask(
                kinship.get(str(row.source_id)), issues[str(row.source_id)], row.source_id, row.parent_id
            ):
                # Phase 3 judged the type by the item's new place; the issue, made before, is not one.
                move = ParentMove(row.source_id, issue_key, None, "none", row.parent_id, parent_key)
            unlinked = gone.get(row.source_id, [])
            if not edits and not target and not move and not unlinked:
                return await self._done(
                    ctx, input.run_id, source_key, issue_key, {"rev": wi.rev, "fields": [], "status": None}
                )
            async with limit:
                async with self._sessions() as session:
                    await item_records.mark_pending(
                        session, ctx.migration_id, SOURCE_CHANGE, [source_key], input.run_id
                    )
                    await session.commit()
                detail: dict[str, Any] = {"rev": wi.rev, "fields": sorted(edits), "status": None}
                try:
                    if "description" in edits:
                        # Rendered as phase 5 does: ADO-hosted images uploaded to the issue and shown inline.
                        edits["description"], detail["description"] = await self._description(
                            ctx, lookups, input.run_id, issue_key, wi
                        )
                    if edits:
                        await ctx.jira.edit_issue(issue_key, edits)
                    if move:
                        detail["parent"] = await moves.apply(move, wi.rev)
                    if unlinked:
                        detail["links_removed"] = [await removals.remove(rec, wi.rev) for rec in unlinked]
                    if target:
                        start, path, _ = await self._transitions._walk(ctx, issue_key, target, workflows)
                        detail["status"] = {"from": start, "to": target, "path": path, "ado_state": state_now}
                except Unreachable as err:
                    return await self._fail(ctx, input.run_id, source_key, f"status change of {issue_key}: {err}")
                except MoveRefused as err:
                    return await self._fail(ctx, input.run_id, source_key, f"parent change of {issue_key}: {err}")
                except ApiError as err:
                    if not fails_alone(err):
                        raise
                    return await self._fail(
                        ctx, input.run_id, source_key, f"Jira refused the changes to {issue_key}: {err}"
                    )
            moved = (
                bool(edits)
                or bool(detail["status"] and detail["status"]["path"])
                or bool(move)
                or any(r["deleted"] for r in detail.get("links_removed", ()))
            )
            await self._done(ctx, input.run_id, source_key, issue_key, detail)
            return CREATED if moved else SKIPPED

        return outcomes + list(await gather_or_cancel(*(one(r) for r in todo)))

    async def _description(
        self, ctx: MigrationContext, lookups: Lookups, run_id: str, issue_key: str, wi
    ) -> tuple[dict, dict]:
        """The changed description with its images on the Jira issue (each uploaded once) and #refs as keys."""
        parts = description_parts(wi.fields)
        source = "\n".join(parts)
        org = ctx.source.organization_url
        guids = {g for src, _ in image_sources(source) if (g := ado_attachment_src(src, org))}
        async with self._sessions() as session:
            own = await item_records.target_keys(session, ctx.migration_id, ATTACHMENT, guids)
        files = IssueFiles(self._sessions, ctx, run_id, issue_key)
        rich = RichText(self._sessions, ctx, lookups, files, wi.id, own)
        await rich.prepare(parts)
        rev = wi.rev or 0  # ADO always sends one; 0 keeps the name apart from the migration's file
        stand_in = fallback_note_html(wi.fields, lookups, ctx.plan.fields)
        doc, truncated = fit_adf(
            with_provenance_panel(rich.render_parts(stand_in + parts), wi.id, wi.fields, lookups),
            limit=TEXT_LIMIT,
            note=description_note(wi.id, TEXT_LIMIT, rev),
        )
        about: dict[str, Any] = {"images_uploaded": rich.uploaded, "truncated": truncated}
        if rich.failures:
            about["image_failures"] = rich.failures
        if truncated:
            # The file attached by the migration holds the old text: this revision's full text gets its own.
            key, name = f"{wi.id}@{rev}", description_file_name(wi.id, rev)
            async with self._sessions() as session:
                record = (await item_records.load(session, ctx.migration_id, DESCRIPTION_ORIGINAL, [key])).get(key)
            data = original_html_file(wi.id, source)
            outcome = await files.put(
                DESCRIPTION_ORIGINAL, key, name, len(data), bytes_source(data), record, {"rev": rev}
            )
            about["original_file"] = outcome.error or name
        return doc, about

    async def _done(self, ctx: MigrationContext, run_id: str, source_key: str, issue_key: str, detail: dict) -> str:
        async with self._sessions() as session:
            await item_records.mark_done(
                session, ctx.migration_id, SOURCE_CHANGE, source_key, issue_key, run_id, detail
            )
            await session.commit()
        return SKIPPED

    async def _fail(self, ctx: MigrationContext, run_id: str, source_key: str, reason: str) -> str:
        async with self._sessions() as session:
            await item_records.mark_failed(session, ctx.migration_id, SOURCE_CHANGE, source_key, reason, run_id)
            await session.commit()
        return FAILED
