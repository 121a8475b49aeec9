"""Test Cases into Xray as Tests through Xray's bulk test import, an asynchronous job, inside create items.

Where: create items hands its Test Case rows here when the target has Xray and the plan maps Test Case to Xray's
"Test" type (and leaves the Xray plugin in). The tests are made in phase 2, with every other issue, so phases 3–7
(parents, "Tested By" links, files, statuses, comments) find them through their `issue` records like any item's,
and the run counts and shows them as items. The Xray phase later adds what the import cannot carry (the dataset)
and the Test Set / Test Plan memberships, reading the imported steps back (equal: nothing written).

Each element imported carries the issue's fields as create items builds them (so the `ado-id-N` label), the manual
steps in order with shared steps expanded; the `migrayt.source` property is put on each Test once the job names it
(Xray's import takes Jira fields, not entity properties), before its record is done.

Exactly once, per `issue` record (the ledger create items uses):
- pending and committed before the import is sent; the job's id (and each test's element number in it) is
  committed into the records as soon as Xray answers, before the job is polled;
- a pending record with a job id: the job's status is read and each test's key taken from its result — never
  imported again blind. A job Xray no longer knows (expired) and a pending record without a job id (the answer to
  the import was lost, or the worker died before committing it) are settled by the label search, after the index
  lag grace, as create items settles a lost bulk create; only what is not found is imported again.
- A job whose status names errors for some tests fails those items with Xray's reason; the others are done.

Xray runs one import job per user at a time: an import refused because one is in progress is sent again later
(nothing was created). Limit: a job whose answer was lost and that is still queued after the grace would not be
seen by the label search; Xray offers no list of a user's jobs to close that window.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.activities.execution import adoption
from migrayt.activities.execution.drafts import draft_rows, issue_detail
from migrayt.connectors.http import AmbiguousWriteError, ApiError
from migrayt.connectors.xray import JOB_FINISHED, MAX_IMPORT, XrayClient
from migrayt.contracts.record_kinds import ISSUE
from migrayt.plugins.xray import TEST_CASE, desired_steps, read_steps
from migrayt.store import item_records
from migrayt.store.item_records import FAILED, PENDING
from migrayt.translation.issue_fields import build_issue_fields
from migrayt.translation.test_steps import StepsError

if TYPE_CHECKING:
    from migrayt.activities.execution.create_items import SourceRow
    from migrayt.activities.execution.migration_context import MigrationContext, MigrationContexts
    from migrayt.store.models import ItemRecord

XRAY_TEST_TYPE = "Test"
PHASE = "xray"
# Import rounds in one attempt when answers to the import are lost, before the activity's own retry takes over.
IMPORT_ROUNDS = 4
POLL_FIRST_SECONDS = 0.2
POLL_MAX_SECONDS = 5.0
# Another job of ours runs (Xray takes one per user at a time): how long before asking again.
BUSY_SECONDS = 1.0


def imports_tests(ctx: MigrationContext) -> bool:
    """Test cases become Xray Tests through the import: Xray on the target, Test Case mapped to Xray's Test type,
    and the Xray plugin not left out of the plan."""
    plan = ctx.plan
    return (
        ctx.xray is not None
        and plan.types.get(TEST_CASE) == XRAY_TEST_TYPE
        and PHASE not in (getattr(plan, "skip_phases", None) or ())
    )


def is_test_case(row: SourceRow) -> bool:
    return row.work_item_type == TEST_CASE


class JobBusy(Exception):
    """Xray refused the import because a job of this user is in progress: nothing was created."""


class TestImport:
    """One create-items batch's test cases, into Xray through import jobs."""

    def __init__(
        self,
        ctx: MigrationContext,
        contexts: MigrationContexts,
        sessions: async_sessionmaker,
        grace: float,
        run_id: str,
    ) -> None:
        assert ctx.xray is not None
        self._ctx, self._contexts, self._sessions, self._grace, self._run_id = ctx, contexts, sessions, grace, run_id
        self._xray: XrayClient = ctx.xray

    async def run(self, to_write: list[SourceRow], pending: list[tuple[SourceRow, ItemRecord]]) -> tuple[int, int, int]:
        """(created, failed, reconciled) of the rows given: `to_write` new, `pending` left by an earlier attempt."""
        created = failed = reconciled = 0
        by_job: dict[str, list[tuple[SourceRow, int]]] = defaultdict(list)
        blind: list[SourceRow] = []
        for row, record in pending:
            detail = record.detail or {}
            job, element = detail.get("xray_job"), detail.get("xray_element")
            if isinstance(job, str) and isinstance(element, int):
                by_job[job].append((row, element))
            else:
                blind.append(row)
        for job, members in by_job.items():
            status = await self._finished(job)
            if status is None:  # Xray no longer knows the job: its tests, if any, are found by their label
                blind.extend(row for row, _ in members)
                continue
            done, refused = await self._record(job, status, members, {})
            created, failed, reconciled = created + done, failed + refused, reconciled + done

        to_write = list(to_write)
        # Every earlier attempt has ended (create items holds the item locks): its import was sent before now.
        settled_at = time.time()
        for round_ in range(IMPORT_ROUNDS):
            if blind:
                found, missing = await self._reconcile(blind, settled_at)
                created, reconciled = created + found, reconciled + found
                to_write.extend(missing)
                blind = []
            if not to_write:
                break
            try:
                done, refused = await self._import(to_write)
            except AmbiguousWriteError:
                settled_at = time.time()  # the lost import, if Xray took it, was queued before this
                if round_ == IMPORT_ROUNDS - 1:
                    raise  # records stay pending; the activity's retry settles them
                async with self._sessions() as session:
                    fresh = await item_records.load(
                        session, self._ctx.migration_id, ISSUE, [str(r.source_id) for r in to_write]
                    )
                states = {r.source_id: getattr(fresh.get(str(r.source_id)), "state", None) for r in to_write}
                blind = [r for r in to_write if states[r.source_id] == PENDING]
                failed += sum(1 for r in to_write if states[r.source_id] == FAILED)
                to_write = []
                continue
            created, failed = created + done, failed + refused
            break
        return created, failed, reconciled

    # --- writing ------------------------------------------------------------------------------------

    async def _import(self, rows: list[SourceRow]) -> tuple[int, int]:
        ctx = self._ctx
        catalog = await self._contexts.catalog(ctx)
        lookups = await self._contexts.lookups(ctx)
        work_items = {wi.id: wi for wi in await ctx.ado.get_work_items([r.source_id for r in rows], expand="relations")}
        drafted, failed = await draft_rows(
            self._sessions,
            ctx.migration_id,
            self._run_id,
            rows,
            work_items,
            lambda _row, wi: build_issue_fields(wi.id, wi.fields, ctx.plan, catalog, lookups),
        )
        elements: list[tuple[SourceRow, dict[str, Any], dict[str, Any]]] = []
        for row, wi, draft in drafted:
            try:
                steps = desired_steps(await read_steps(ctx.ado, wi.fields))
            except StepsError:
                steps = []  # the test is made; the Xray phase fails its steps with the reason
            element = {
                # Xray sets the Test type itself; the rest are the fields create items would send.
                "fields": {k: v for k, v in draft.fields.items() if k != "issuetype"},
                "testtype": "Manual",
                "steps": [{"action": a, "data": d, "result": r} for a, d, r in steps],
            }
            elements.append((row, element, issue_detail(draft)))
        created = 0
        for start in range(0, len(elements), MAX_IMPORT):
            chunk = elements[start : start + MAX_IMPORT]
            done, refused = await self._one_job(chunk)
            created, failed = created + done, failed + refused
        return created, failed

    async def _one_job(self, chunk: Sequence[tuple[SourceRow, dict[str, Any], dict[str, Any]]]) -> tuple[int, int]:
        ctx = self._ctx
        keys = [str(row.source_id) for row, _, _ in chunk]
        async with self._sessions() as session:
            # Intent first, committed; a job id an earlier import left in these records is not this one's.
            await item_records.mark_pending(session, ctx.migration_id, ISSUE, keys, self._run_id)
            await item_records.note_pending(session, ctx.migration_id, ISSUE, {k: {"xray_job": None} for k in keys})
            await session.commit()
        # A pause or cancel may not cut between Xray's answer and its job id committed: that would leave the
        # records to the slower label search.
        started = asyncio.ensure_future(self._start(chunk))
        try:
            job = await asyncio.shield(started)
        except asyncio.CancelledError:
            await started
            raise
        except ApiError as err:
            if err.status in (401, 403) or err.status >= 500 or err.retryable:
                raise
            async with self._sessions() as session:
                for key in keys:
                    await item_records.mark_failed(
                        session, ctx.migration_id, ISSUE, key, f"Xray refused the import: {err}", self._run_id
                    )
                await session.commit()
            return 0, len(keys)
        status = await self._finished(job)
        if status is None:
            # Gone before we read it (expired): settle by label as a lost answer is settled.
            raise AmbiguousWriteError("GET", f"/api/v2/import/test/bulk/{job}/status", "Xray no longer knows the job")
        members = [(row, n) for n, (row, _, _) in enumerate(chunk)]
        return await self._record(job, status, members, {str(row.source_id): d for row, _, d in chunk})

    async def _start(self, chunk: Sequence[tuple[SourceRow, dict[str, Any], dict[str, Any]]]) -> str:
        """Send the import (again while another job of ours runs) and commit its id into the records."""
        while True:
            try:
                job = await self._xray.import_tests([element for _, element, _ in chunk])
                break
            except ApiError as err:
                if err.status != 400 or not any("in progress" in m for m in err.messages):
                    raise
            await asyncio.sleep(BUSY_SECONDS)
        async with self._sessions() as session:
            await item_records.note_pending(
                session,
                self._ctx.migration_id,
                ISSUE,
                {str(row.source_id): {"xray_job": job, "xray_element": n} for n, (row, _, _) in enumerate(chunk)},
            )
            await session.commit()
        return job

    # --- reading back -------------------------------------------------------------------------------

    async def _finished(self, job: str) -> dict[str, Any] | None:
        """The job's status once it has finished (None when Xray does not know it)."""
        wait = POLL_FIRST_SECONDS
        while True:
            status = await self._xray.import_status(job)
            if status is None or status.get("status") in JOB_FINISHED:
                return status
            await asyncio.sleep(wait)
            wait = min(wait * 2, POLL_MAX_SECONDS)

    async def _record(
        self,
        job: str,
        status: dict[str, Any],
        members: list[tuple[SourceRow, int]],
        details: dict[str, dict[str, Any]],
    ) -> tuple[int, int]:
        """Each test's key from the job's result (its source property put on first), or its failure with Xray's
        reason."""
        ctx = self._ctx
        result = status.get("result") or {}
        made = {int(i["elementNumber"]): i for i in result.get("issues") or [] if "elementNumber" in i}
        errors = {int(e["elementNumber"]): e.get("errors") for e in result.get("errors") or [] if "elementNumber" in e}
        found = [(row, made[n]["key"]) for row, n in members if n in made and made[n].get("key")]
        await asyncio.gather(
            *(
                ctx.jira.set_issue_property(
                    key, adoption.SOURCE_PROPERTY, adoption.source_identity(ctx.source, row.source_id)
                )
                for row, key in found
            )
        )
        done = [
            (str(row.source_id), key, {**details.get(str(row.source_id), {}), "xray_job": job}) for row, key in found
        ]
        refused = [(row, n) for row, n in members if not (n in made and made[n].get("key"))]
        async with self._sessions() as session:
            await item_records.mark_done_many(session, ctx.migration_id, ISSUE, done, self._run_id)
            for row, n in refused:
                reason = refusal(row.source_id, errors.get(n), str(status.get("status")))
                await item_records.mark_failed(
                    session, ctx.migration_id, ISSUE, str(row.source_id), reason, self._run_id
                )
            await session.commit()
        return len(done), len(refused)

    async def _reconcile(self, rows: list[SourceRow], settled_at: float) -> tuple[int, list[SourceRow]]:
        """An import may have made these tests: look for their label before importing again (see create items)."""
        ctx = self._ctx
        wait = settled_at + self._grace - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        hits = await adoption.find_by_label(ctx.jira, ctx.target.project_key, [r.source_id for r in rows])
        identity = adoption.Identity.of(ctx.source)
        missing: list[SourceRow] = []
        done: list[tuple[SourceRow, str, dict[str, Any]]] = []
        for row in rows:
            keys = adoption.reconcilable(identity, row.source_id, hits.get(row.source_id) or [])
            if not keys:
                missing.append(row)
                continue
            detail: dict[str, Any] = {"reconciled": True}
            if len(keys) > 1:
                detail["duplicates"] = keys[1:]
            done.append((row, keys[0], detail))
        # A test the job made before its property was put on carries none yet.
        await asyncio.gather(
            *(
                ctx.jira.set_issue_property(
                    key, adoption.SOURCE_PROPERTY, adoption.source_identity(ctx.source, row.source_id)
                )
                for row, key, _ in done
            )
        )
        async with self._sessions() as session:
            await item_records.mark_done_many(
                session, ctx.migration_id, ISSUE, [(str(r.source_id), k, d) for r, k, d in done], self._run_id
            )
            await session.commit()
        return len(done), missing


def refusal(item_id: int, errors: Any, job_status: str) -> str:
    """Why the job did not make this test, worded as create items words Jira's refusals when Jira refused it (so a
    preview's prediction reads the same), else as Xray's."""
    if isinstance(errors, dict):
        messages = errors.get("jira") or []
        fields = {str(k): str(v) for k, v in errors.items() if k not in ("jira", "xray") and v}
        parts = [str(m) for m in (messages if isinstance(messages, list) else [messages]) if m]
        parts += [f"{k}: {v}" for k, v in sorted(fields.items())]
        if parts:
            return "Jira refused the issue: " + "; ".join(parts)
        if errors.get("xray"):
            return f"Xray refused test case #{item_id}: {errors['xray']}"
    if isinstance(errors, list) and errors:
        return f"Xray refused test case #{item_id}: " + "; ".join(str(e) for e in errors)
    return f"Xray refused test case #{item_id}: the import job ended {job_status!r} without it"
