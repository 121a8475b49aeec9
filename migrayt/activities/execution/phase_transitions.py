"""Phase 6: each issue walks the target workflow to its mapped status, the batch's issues together.

Each step is one bulk transition (`POST /bulk/issues/transition`, an asynchronous task) for every issue of
the batch that takes the same transition id from where it stands; the transitions offered are read in bulk
too, per status, only where the workflow is not known yet. Exactly once: the task id is recorded on the
items before it is waited for, so a worker killed meanwhile finds the task and waits for it; a lost answer
(no task id) is settled by reading the issues' statuses, never by sending the step again unread.
One issue at a time (`_walk`) stays for the delta sync, which moves single items.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.activities.execution.migration_context import MigrationContext, MigrationContexts
from migrayt.activities.execution.phase_batch import BatchPhase, PhaseBatch
from migrayt.activities.execution.phase_links import fails_alone
from migrayt.connectors.http import AmbiguousWriteError, ApiError
from migrayt.connectors.jira import BulkTaskProgress, IssueTypeStatuses
from migrayt.contracts.execution import PhaseBatchResult
from migrayt.contracts.record_kinds import ISSUE, TRANSITION
from migrayt.store import item_records
from migrayt.store.item_records import DONE, PENDING
from migrayt.store.models import ItemRecord
from migrayt.translation.status_walk import Edge, WorkflowGraph

# A bulk task is polled this long after it is sent, then at doubling intervals up to the maximum.
TASK_FIRST_POLL_SECONDS = 0.2
TASK_POLL_MAX_SECONDS = 2.0
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

        outcomes: dict[str, str] = {}
        walks: list[Walk] = []
        for row in rows:
            source_key = str(row.source_id)
            record = records.get(source_key)
            if record is not None and record.state == DONE:
                outcomes[source_key] = _counted(record, batch.run_id)
                continue
            issue_key = keys.get(source_key)
            if not issue_key:
                outcomes[source_key] = SKIPPED  # the item itself failed in create items, with its reason there
                continue
            if row.source_id not in states:
                outcomes[source_key] = SKIPPED  # gone from ADO since the run started: nothing to read the state from
                continue
            ado_type, ado_state = states[row.source_id]
            target = ctx.plan.target_status(ado_type or row.work_item_type, ado_state or "")
            if not target:
                reason = no_status(ado_state, ado_type or row.work_item_type)
                outcomes[source_key] = await self._fail(ctx, batch.run_id, source_key, reason)
                continue
            walks.append(Walk(source_key, issue_key, target, ado_state))

        if walks:
            # A task an earlier attempt sent (its worker killed while it ran) ends before any status is read.
            await _wait_for_recorded_tasks(ctx, [records[w.source_key] for w in walks if w.source_key in records])
            async with self._sessions() as session:
                await item_records.mark_pending(
                    session, ctx.migration_id, TRANSITION, [w.source_key for w in walks], batch.run_id
                )
                await session.commit()
            await self._walk_together(ctx, walks, workflows)
            for w in walks:
                outcomes[w.source_key] = await self._settle(ctx, batch.run_id, w)
        return batch.result(outcomes[str(r.source_id)] for r in rows)

    def _graph(self, ctx: MigrationContext, type_id: str) -> WorkflowGraph:
        return self._graphs.setdefault((ctx.migration_id, type_id), WorkflowGraph())

    async def _walk_together(
        self, ctx: MigrationContext, walks: list[Walk], workflows: dict[str, IssueTypeStatuses]
    ) -> None:
        """Step the walks toward their targets, one bulk transition per transition id and round, until each has
        arrived or failed (`Walk.failure`)."""
        active = list(walks)
        read = True
        for _ in range(MAX_STEPS):
            if read:
                await _read_statuses(ctx, active)
                read = False
            going: list[Walk] = []
            for w in active:
                if w.type_id is None:
                    w.failure = f"{w.issue_key} is not in Jira any more"
                    continue
                workflow = workflows.get(w.type_id)
                if workflow is not None and w.target.casefold() not in {st.name.casefold() for st in workflow.statuses}:
                    w.failure = not_in_workflow(w.target, workflow, ctx.target.project_key, w.issue_key, w.status_name)
                elif w.status_name.casefold() != w.target.casefold():
                    going.append(w)
            active = going
            if not active:
                return
            await self._learn(ctx, active)

            sending: dict[str, list[Walk]] = {}
            for w in active:
                step = self._next_step(ctx, w)
                if step is None:
                    graph = self._graph(ctx, w.type_id or "")
                    w.failure = (
                        f"status {w.target!r} cannot be reached from {w.start!r}: path tried "
                        f"{' → '.join([w.start or '', *w.walked])}; workflow seen: {graph.describe()}"
                    )
                    w.back = True
                elif (w.status_id, step.transition_id) in w.refused:
                    # Refused before from this very status, and offered still: a rule (a validator, a required
                    # field), not a race; the item fails with Jira's reason.
                    w.failure = (
                        f"Jira refused transition {step.name!r} from {w.status_name!r} toward {w.target!r}: "
                        f"{w.refused[(w.status_id, step.transition_id)]}; path tried "
                        f"{' → '.join([w.start or '', *w.walked])}"
                    )
                    w.back = True
                else:
                    w.step = step
                    sending.setdefault(step.transition_id, []).append(w)
            for w in active:
                if w.failure and w.back:
                    w.failure += "; " + await self._back_to_start(
                        ctx, w.issue_key, self._graph(ctx, w.type_id or ""), w.status_id, w.start or ""
                    )
            active = [w for w in active if not w.failure]
            if sending:
                read = await self._send_step(ctx, sending)
            if any(w.unsure > MAX_SURPRISES for w in active):
                raise AmbiguousWriteError("POST", "bulk/issues/transition", "outcome unknown several times in a row")
        for w in active:
            w.failure = (
                f"status {w.target!r} not reached after {MAX_STEPS} transitions: path tried "
                f"{' → '.join([w.start or '', *w.walked])}; {w.issue_key} left in {w.status_name!r}"
            )

    def _next_step(self, ctx: MigrationContext, w: Walk) -> Edge | None:
        graph = self._graph(ctx, w.type_id or "")
        known = graph.shortest_path(w.status_id, w.target) if not w.stale else None
        return known[0] if known else graph.next_step(w.status_id, w.target)

    async def _learn(self, ctx: MigrationContext, walks: list[Walk]) -> None:
        """Ask Jira what leaves each status no walk has stood on yet (and where a refusal made what we knew
        stale): one bulk read per status, as Jira lists only the transitions all the issues asked about share."""
        asking: dict[tuple[str, str], list[Walk]] = {}
        for w in walks:
            graph = self._graph(ctx, w.type_id or "")
            if w.stale or not graph.seen(w.status_id):
                asking.setdefault((w.type_id or "", w.status_id), []).append(w)
        for (type_id, status_id), group in asking.items():
            offered: dict[str, Edge] = {}
            for workflow in await ctx.jira.bulk_available_transitions([w.issue_key for w in group]):
                for t in workflow.transitions:
                    if t.to_id:
                        edge = Edge(str(t.transition_id), t.name, t.to_id, t.to_name)
                        offered[edge.transition_id] = edge
            self._graph(ctx, type_id).observe(status_id, group[0].status_name, list(offered.values()))
            for w in group:
                w.stale = False

    async def _send_step(self, ctx: MigrationContext, sending: dict[str, list[Walk]]) -> bool:
        """One bulk transition for these walks, grouped by transition id; the task recorded before it is waited
        for. True when some outcome is unknown and the statuses must be read again."""
        walks = [w for group in sending.values() for w in group]
        try:
            task_id = await ctx.jira.submit_bulk_transition(
                {tid: [w.issue_key for w in group] for tid, group in sending.items()}
            )
        except AmbiguousWriteError:
            for w in walks:
                w.unsure += 1
            return True
        except ApiError as err:
            # The whole request refused: which issue Jira minded is not said. Each walk reads where it stands
            # and learns again; refused a second time from there, it fails with this reason.
            if not fails_alone(err):
                raise
            for w in walks:
                assert w.step is not None
                w.refused[(w.status_id, w.step.transition_id)] = str(err)
                w.stale = True
            return True
        async with self._sessions() as session:
            await session.execute(
                update(ItemRecord)
                .where(
                    ItemRecord.migration_id == ctx.migration_id,
                    ItemRecord.kind == TRANSITION,
                    ItemRecord.source_key.in_([w.source_key for w in walks]),
                    ItemRecord.state != DONE,
                )
                .values(detail={"task": task_id})
            )
            await session.commit()
        progress = await _finished(ctx, task_id)
        moved = {str(i) for i in progress.processed}
        read = False
        for w in walks:
            assert w.step is not None
            w.tasks.append(task_id)
            if w.issue_id in moved:
                w.status_id, w.status_name = w.step.to_id, w.step.to_name
                w.walked.append(w.step.to_name)
            elif w.issue_id in progress.failed:
                w.refused[(w.status_id, w.step.transition_id)] = "; ".join(progress.failed[w.issue_id])
                w.stale = True
                read = True
            else:  # neither moved nor refused (a task that died, an issue it could not see): read it
                w.unsure += 1
                read = True
        return read

    async def _settle(self, ctx: MigrationContext, run_id: str, w: Walk) -> str:
        if w.failure:
            return await self._fail(ctx, run_id, w.source_key, w.failure)
        async with self._sessions() as session:
            await item_records.mark_done(
                session,
                ctx.migration_id,
                TRANSITION,
                w.source_key,
                w.issue_key,
                run_id,
                {
                    "from": w.start,
                    "to": w.target,
                    "path": w.walked,
                    "ado_state": w.ado_state,
                    "unsure_steps": w.unsure,
                    "tasks": w.tasks,
                },
            )
            await session.commit()
        return CREATED if w.walked else SKIPPED

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


@dataclass
class Walk:
    """One issue on its way to its mapped status, as far as this batch has taken it."""

    source_key: str
    issue_key: str
    target: str
    ado_state: str | None
    issue_id: str = ""
    type_id: str | None = ""
    status_id: str = ""
    status_name: str = ""
    start: str | None = None
    walked: list[str] = field(default_factory=list)
    unsure: int = 0  # steps whose outcome had to be read back
    refused: dict[tuple[str, str], str] = field(default_factory=dict)  # (status, transition) → Jira's reason
    stale: bool = False
    step: Edge | None = None
    tasks: list[str] = field(default_factory=list)
    failure: str | None = None
    back: bool = False


async def _read_statuses(ctx: MigrationContext, walks: list[Walk]) -> None:
    """Where each issue stands now, in bulk; a status that changed since the last read is a step taken."""
    issues = {i.key: i for i in await ctx.jira.bulk_fetch_issues([w.issue_key for w in walks], ["status", "issuetype"])}
    for w in walks:
        issue = issues.get(w.issue_key)
        if issue is None:
            w.type_id = None
            continue
        status = issue.fields.get("status") or {}
        status_id, status_name = str(status.get("id") or ""), str(status.get("name") or "")
        w.issue_id, w.type_id = issue.id, str((issue.fields.get("issuetype") or {}).get("id") or "")
        if w.start is None:
            w.start = status_name
        elif status_id != w.status_id:
            w.walked.append(status_name)
        w.status_id, w.status_name = status_id, status_name


async def _finished(ctx: MigrationContext, task_id: str) -> BulkTaskProgress:
    """The task once Jira has run it: polled after a short wait, then less and less often."""
    wait = TASK_FIRST_POLL_SECONDS
    while True:
        await asyncio.sleep(wait)
        progress = await ctx.jira.bulk_task(task_id)
        if progress.finished:
            return progress
        wait = min(wait * 2, TASK_POLL_MAX_SECONDS)


async def _wait_for_recorded_tasks(ctx: MigrationContext, records: list[ItemRecord]) -> None:
    tasks = {str((r.detail or {}).get("task")) for r in records if r.state == PENDING and (r.detail or {}).get("task")}
    for task_id in sorted(tasks):
        try:
            await _finished(ctx, task_id)
        except ApiError as err:
            if err.status != 404:  # gone (Jira keeps tasks 14 days): long over, and the statuses say the rest
                raise
