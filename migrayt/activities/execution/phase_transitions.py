"""Phase 6: each issue walks the target workflow, transition by transition, to its mapped status."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.activities.execution.migration_context import MigrationContext, MigrationContexts
from migrayt.activities.execution.phase_batch import BatchPhase, PhaseBatch
from migrayt.activities.execution.phase_links import fails_alone
from migrayt.activities.side_by_side import gather_or_cancel
from migrayt.connectors.http import AmbiguousWriteError, ApiError
from migrayt.connectors.jira import IssueTypeStatuses
from migrayt.contracts.execution import PhaseBatchResult
from migrayt.contracts.record_kinds import ISSUE, TRANSITION
from migrayt.store import item_records
from migrayt.store.item_records import DONE
from migrayt.store.models import ItemRecord
from migrayt.translation.status_walk import Edge, WorkflowGraph

PER_BATCH_CONCURRENCY = 8
# Enough for any real workflow walked end to end, exploration included; a walk longer than this is
# going in circles (conditions that hide the way forward) and fails with the path it tried.
MAX_STEPS = 30
# Unknown or refused steps in one walk before it gives up (the batch retry then starts over).
MAX_SURPRISES = 4

CREATED, SKIPPED, FAILED = "created", "skipped", "failed"


class Unreachable(Exception):
    pass


def no_status(ado_state: str | None, ado_type: str) -> str:
    return f"the mapping plan has no Jira status for ADO state {ado_state!r} of {ado_type}"


def not_in_workflow(
    target: str, workflow: IssueTypeStatuses, project_key: str, issue_key: str, status_name: str
) -> str:
    """Shared with the dry-run preview, which knows these before any issue moves."""
    return (
        f"status {target!r} is not in the workflow of {workflow.name} issues in {project_key} "
        f"(it has {', '.join(st.name for st in workflow.statuses)}); {issue_key} stays {status_name!r}"
    )


class TransitionsPhase(BatchPhase, phase="transitions"):
    def __init__(self, sessions: async_sessionmaker, contexts: MigrationContexts) -> None:
        super().__init__(sessions, contexts)
        # The workflow as learned so far, per migration and issue type: later issues go straight.
        self._graphs: dict[tuple[str, str], WorkflowGraph] = {}

    async def run(self, batch: PhaseBatch) -> PhaseBatchResult:
        ctx, rows = batch.ctx, batch.rows
        keys = await batch.target_keys(ISSUE, batch.source_keys())
        records = await batch.records(TRANSITION, batch.source_keys())

        todo = [
            r
            for r in rows
            if str(r.source_id) in keys
            and (records.get(str(r.source_id)) is None or records[str(r.source_id)].state != DONE)
        ]
        states: dict[int, tuple[str | None, str | None]] = {}
        if todo:
            work_items = await batch.work_items(todo, expand=None, fields=["System.WorkItemType", "System.State"])
            states = {wi.id: (wi.type, wi.state) for wi in work_items.values()}

        # Which statuses each issue type's workflow has: a target outside it fails before any move.
        workflows: dict[str, IssueTypeStatuses] = {}
        if todo:
            workflows = {t.id: t for t in await ctx.jira.get_project_statuses(ctx.target.project_key)}
        limit = asyncio.Semaphore(PER_BATCH_CONCURRENCY)

        async def one(row) -> str:
            source_key = str(row.source_id)
            record = records.get(source_key)
            if record is not None and record.state == DONE:
                return _counted(record, batch.run_id)
            issue_key = keys.get(source_key)
            if not issue_key:
                return SKIPPED  # the item itself failed in create items, with its reason there
            if row.source_id not in states:
                return SKIPPED  # gone from ADO since the run started: nothing to read the state from
            ado_type, ado_state = states[row.source_id]
            target = ctx.plan.target_status(ado_type or row.work_item_type, ado_state or "")
            if not target:
                return await self._fail(
                    ctx, batch.run_id, source_key, no_status(ado_state, ado_type or row.work_item_type)
                )
            async with limit:
                # Pending, then walk: a walk that crashed half way is resumed from the status Jira shows.
                async with self._sessions() as session:
                    await item_records.mark_pending(session, ctx.migration_id, TRANSITION, [source_key], batch.run_id)
                    await session.commit()
                try:
                    start, path, unsure = await self._walk(ctx, issue_key, target, workflows)
                except Unreachable as err:
                    return await self._fail(ctx, batch.run_id, source_key, str(err))
                except ApiError as err:
                    if not fails_alone(err):
                        raise
                    return await self._fail(
                        ctx,
                        batch.run_id,
                        source_key,
                        f"Jira refused a transition of {issue_key} toward {target!r}: {err}",
                    )
            async with self._sessions() as session:
                await item_records.mark_done(
                    session,
                    ctx.migration_id,
                    TRANSITION,
                    source_key,
                    issue_key,
                    batch.run_id,
                    {"from": start, "to": target, "path": path, "ado_state": ado_state, "unsure_steps": unsure},
                )
                await session.commit()
            return CREATED if path else SKIPPED

        return batch.result(await gather_or_cancel(*(one(r) for r in rows)))

    async def _walk(
        self, ctx: MigrationContext, issue_key: str, target: str, workflows: dict[str, IssueTypeStatuses]
    ) -> tuple[str, list[str], int]:
        """Walk `issue_key` to the status named `target`: (start, statuses passed through, steps whose
        outcome had to be read back)."""
        status_id, status_name, type_id = await _current(ctx, issue_key)
        start = status_name
        workflow = workflows.get(type_id)
        if workflow is not None and target.casefold() not in {st.name.casefold() for st in workflow.statuses}:
            raise Unreachable(not_in_workflow(target, workflow, ctx.target.project_key, issue_key, status_name))
        graph = self._graphs.setdefault((ctx.migration_id, type_id), WorkflowGraph())
        walked: list[str] = []
        surprises = 0
        stale = False
        refused: set[tuple[str, str]] = set()
        for _ in range(MAX_STEPS):
            if status_name.casefold() == target.casefold():
                return start, walked, surprises
            # Once a status's way out is known, follow it without asking again; Jira refusing a step
            # (400) shows the knowledge is stale, and from then on this walk asks at every step.
            known = graph.shortest_path(status_id, target) if not stale and graph.seen(status_id) else None
            step: Edge | None
            if known:
                step = known[0]
            else:
                offered = [
                    Edge(t.id, t.name, t.to.id, t.to.name)
                    for t in await ctx.jira.get_transitions(issue_key)
                    if t.is_available and t.to is not None
                ]
                graph.observe(status_id, status_name, offered)
                step = graph.next_step(status_id, target)
            if step is None:
                back = await self._back_to_start(ctx, issue_key, graph, status_id, start)
                raise Unreachable(
                    f"status {target!r} cannot be reached from {start!r}: path tried "
                    f"{' → '.join([start, *walked])}; workflow seen: {graph.describe()}; {back}"
                )
            try:
                await ctx.jira.do_transition(issue_key, step.transition_id)
                status_id, status_name = step.to_id, step.to_name
                walked.append(step.to_name)
                continue
            except AmbiguousWriteError:
                surprises += 1
            except ApiError as err:
                # 400/409: the status moved under us (a dropped answer, another writer): read it again.
                # Refused twice from the same status: not a race but a rule (a required field, a
                # condition), and the item fails with Jira's reason.
                if err.status not in (400, 409):
                    raise
                if (status_id, step.transition_id) in refused:
                    back = await self._back_to_start(ctx, issue_key, graph, status_id, start)
                    raise Unreachable(
                        f"Jira refused transition {step.name!r} from {status_name!r} toward {target!r}: {err}; "
                        f"path tried {' → '.join([start, *walked])}; {back}"
                    ) from err
                refused.add((status_id, step.transition_id))
                surprises += 1
                stale = True
            if surprises > MAX_SURPRISES:
                raise AmbiguousWriteError(
                    "POST", f"issue/{issue_key}/transitions", "outcome unknown several times in a row"
                )
            new_id, new_name, _ = await _current(ctx, issue_key)
            if new_id != status_id:
                walked.append(new_name)
            status_id, status_name = new_id, new_name
        back = await self._back_to_start(ctx, issue_key, graph, status_id, start)
        raise Unreachable(
            f"status {target!r} not reached after {MAX_STEPS} transitions: path tried "
            f"{' → '.join([start, *walked])}; {back}"
        )

    async def _back_to_start(
        self, ctx: MigrationContext, issue_key: str, graph: WorkflowGraph, status_id: str, start: str
    ) -> str:
        """A walk that fails leaves the issue where it started, not wherever exploring took it."""
        path = graph.shortest_path(status_id, start)
        if path is None:
            return f"{issue_key} left in {graph.names.get(status_id, status_id)!r} (no way back to {start!r})"
        for edge in path:
            try:
                await ctx.jira.do_transition(issue_key, edge.transition_id)
            except (AmbiguousWriteError, ApiError):
                _, now, _ = await _current(ctx, issue_key)
                return f"{issue_key} left in {now!r} on the way back to {start!r}"
        return f"{issue_key} left in {start!r}" if not path else f"{issue_key} returned to {start!r}"

    async def _fail(self, ctx: MigrationContext, run_id: str, source_key: str, reason: str) -> str:
        async with self._sessions() as session:
            await item_records.mark_failed(session, ctx.migration_id, TRANSITION, source_key, reason, run_id)
            await session.commit()
        return FAILED


def _counted(record: ItemRecord, run_id: str) -> str:
    """A walk done by an earlier attempt of this run is this run's work, unless it did not move."""
    if record.run_id == run_id and (record.detail or {}).get("path"):
        return CREATED
    return SKIPPED


async def _current(ctx: MigrationContext, issue_key: str) -> tuple[str, str, str]:
    """A consistent read of the issue's status (id, name) and type id."""
    issue = await ctx.jira.get_issue(issue_key, fields=["status", "issuetype"])
    status = issue.fields.get("status") or {}
    return (
        str(status.get("id") or ""),
        str(status.get("name") or ""),
        str((issue.fields.get("issuetype") or {}).get("id") or ""),
    )
