"""7pace Timetracker → Jira worklogs.

Every 7pace work log of a migrated item becomes a worklog on its issue: `started`, `timeSpentSeconds`, and an ADF
comment naming the original author and activity type (Jira records the migrating account as the worklog's author),
posted with `adjustEstimate=leave` and `notifyUsers=false`.

Exactly once per 7pace work log id (kind "worklog", source key "itemid:worklogid"): every worklog carries the
property `migrayt.source` naming its work log, so a pending record (or a write whose answer was lost) is settled by
reading the issue's worklogs before anything is posted again. Jira keeps at most 5,000 worklogs on an issue
(`MIGRAYT_JIRA_WORKLOGS_PER_ISSUE`): the logs past the cap are attached as a file instead, as comments' overflow is
(kind "worklog_overflow"). A work log on an item whose issue was not migrated fails alone, with that reason.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from migrayt.activities.execution import adoption
from migrayt.activities.execution.content_io import AMBIGUOUS_TRIES, IssueFiles, bytes_source
from migrayt.activities.execution.migration_context import MigrationContext
from migrayt.activities.execution.phase_batch import PhaseBatch
from migrayt.activities.execution.write_once import write_once
from migrayt.activities.side_by_side import gather_or_cancel
from migrayt.connectors.adf.nodes import clean_text
from migrayt.connectors.ado import AdoClient, Worklog
from migrayt.connectors.http import ApiError
from migrayt.connectors.jira import JiraClient, JiraWorklog
from migrayt.connectors.xray import XrayClient
from migrayt.contracts.execution import PhaseBatchResult
from migrayt.contracts.record_kinds import ISSUE, WORKLOG, WORKLOG_OVERFLOW
from migrayt.contracts.validation import Difference, DifferenceKind
from migrayt.plugins.contract import Detection, Plugin, PluginFinding, PluginScan
from migrayt.store import item_records
from migrayt.store.item_records import DONE, FAILED, PENDING
from migrayt.store.models import ItemRecord

JIRA_WORKLOG_CAP = 5000
# Worklogs marked pending together: a crash re-checks at most this many against Jira.
PENDING_WINDOW = 25
ITEMS_AT_ONCE = 8
# 7pace's workItemIds filter: ids per request, so a batch's logs come in a few pages, not one per item.
IDS_PER_READ = 50
MAX_LISTED = 20
NOT_INSTALLED = (400, 401, 403, 404)
# What the organisation answers when the extension is not there at all.
NOT_FOUND = (400, 404)


def worklog_cap() -> int:
    """Jira Cloud's per-issue worklog limit; `MIGRAYT_JIRA_WORKLOGS_PER_ISSUE` for sites (and sandboxes)
    configured otherwise."""
    value = os.environ.get("MIGRAYT_JIRA_WORKLOGS_PER_ISSUE", "")
    return int(value) if value.strip().isdigit() and int(value) > 0 else JIRA_WORKLOG_CAP


def record_key(item_id: int, worklog_id: str) -> str:
    return f"{item_id}:{worklog_id}"


def overflow_key(item_id: int) -> str:
    return str(item_id)


def overflow_name(item_id: int) -> str:
    return f"ado-{item_id}-7pace-worklogs-over-cap.txt"


def jira_started(when: datetime | None) -> str:
    """Jira's worklog date format, yyyy-MM-dd'T'HH:mm:ss.SSSZ, in UTC."""
    dt = (when or datetime.now(UTC)).astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def author_of(w: Worklog) -> str:
    name = clean_text(str(w.user.get("name") or "")).strip()
    unique = clean_text(str(w.user_unique_name or "")).strip()
    if name and unique and unique != name:
        return f"{name} ({unique})"
    return name or unique or "an unknown 7pace user"


def activity_of(w: Worklog) -> str:
    return clean_text(str((w.activity_type or {}).get("name") or "")).strip() or "none"


def comment_adf(w: Worklog) -> dict[str, Any]:
    """Who logged it and as what: plain text, not a mention (a mention would notify the person)."""
    head = [
        {"type": "text", "text": author_of(w), "marks": [{"type": "strong"}]},
        {"type": "text", "text": f" logged this in 7pace · activity: {activity_of(w)}", "marks": [{"type": "em"}]},
    ]
    content: list[dict[str, Any]] = [{"type": "paragraph", "content": head}]
    text = clean_text(w.comment or "").strip()
    if text:
        content.append({"type": "paragraph", "content": [{"type": "text", "text": text[:30000]}]})
    return {"type": "doc", "version": 1, "content": content}


def worklog_property(ctx: MigrationContext, item_id: int, worklog_id: str) -> dict[str, Any]:
    return {
        "key": adoption.SOURCE_PROPERTY,
        "value": {**adoption.source_identity(ctx.source, item_id), "worklog": worklog_id},
    }


def overflow_file(item_id: int, logs: Sequence[Worklog], cap: int) -> bytes:
    """The work logs past Jira's cap as a readable page, one line each, in the order 7pace gives them."""
    lines = [
        f"7pace work logs of ADO #{item_id} past Jira's limit of {cap:,} worklogs per issue "
        f"({len(logs):,} log(s), {sum(w.length for w in logs):,} seconds).",
        "started (UTC)\tseconds\tauthor\tactivity\tcomment\t7pace id",
    ]
    for w in logs:
        comment = " ".join(clean_text(w.comment or "").split())
        lines.append(f"{jira_started(w.timestamp)}\t{w.length}\t{author_of(w)}\t{activity_of(w)}\t{comment}\t{w.id}")
    return ("\n".join(lines) + "\n").encode()


def split_at_cap(logs: Sequence[Worklog], cap: int) -> tuple[list[Worklog], list[Worklog]]:
    return list(logs[:cap]), list(logs[cap:])


def not_migrated(item_id: int) -> str:
    return (
        f"work item #{item_id} has no Jira issue (it was not migrated: see its create-items reason), "
        "so its 7pace work log has nowhere to go"
    )


def no_time(w: Worklog) -> str:
    return f"7pace work log {w.id} records {w.length} seconds: Jira takes only a worklog of at least one second"


async def read_worklogs(ado: AdoClient, item_ids: Iterable[int]) -> dict[int, list[Worklog]]:
    """The items' 7pace work logs, by item, each item's in the order 7pace gives them."""
    ids = sorted(set(item_ids))
    out: dict[int, list[Worklog]] = defaultdict(list)
    for start in range(0, len(ids), IDS_PER_READ):
        async for w in ado.iter_worklogs(ids[start : start + IDS_PER_READ]):
            if w.work_item_id is not None:
                out[w.work_item_id].append(w)
    return out


class SevenPace(Plugin):
    billed_kinds = {WORKLOG: "worklog"}

    # --- intake -------------------------------------------------------------------------------------

    async def detect(self, ado: AdoClient, jira: JiraClient | None, xray: XrayClient | None = None) -> Detection:
        try:
            async for _ in ado.iter_worklogs(page_size=1):
                break
        except ApiError as err:
            if err.status not in NOT_INSTALLED:
                raise
            return Detection(
                source_uses=False, reason="7pace Timetracker does not answer in this organization (not installed)"
            )
        return Detection(source_uses=True, target_accepts=True)

    async def scan(
        self, ado: AdoClient, jira: JiraClient | None, limits: Any, xray: XrayClient | None = None
    ) -> PluginScan:
        detection = await self.detect(ado, jira)
        scan = PluginScan(name=self.name, title="7pace worklogs", detection=detection)
        if not detection.source_uses:
            return scan
        per_item: Counter[int] = Counter()
        seconds = 0
        async for w in ado.iter_worklogs():
            if w.work_item_id is not None:
                per_item[w.work_item_id] += 1
                seconds += max(w.length, 0)
        count = sum(per_item.values())
        if count == 0:
            scan.detection = Detection(source_uses=False, reason="7pace Timetracker holds no work logs to carry")
            return scan
        scan.units = {"worklog": count}
        scan.counts = {"work logs": count, "hours logged": seconds // 3600, "work items with logs": len(per_item)}
        cap = int(getattr(limits, "worklogs_per_issue", 0) or worklog_cap())
        over = {i: n for i, n in per_item.items() if n > cap}
        if over:
            listed = sorted(over)[:MAX_LISTED]
            scan.findings.append(
                PluginFinding(
                    rule="many_worklogs",
                    severity="warning",
                    limit=cap,
                    count=len(over),
                    items=listed,
                    figures={i: over[i] for i in listed},
                    message=f"{len(over)} work item(s) with more than Jira's {cap:,} worklogs per issue",
                    action=f"the first {cap:,} become worklogs; the rest are attached to the issue as a file",
                )
            )
        return scan

    # --- the run ------------------------------------------------------------------------------------

    async def write(self, batch: PhaseBatch) -> PhaseBatchResult:
        if not batch.rows:
            return batch.result()
        ctx = batch.ctx
        issues = await batch.target_keys(ISSUE, batch.source_keys())
        adopted = await batch.adopted(issues)
        try:
            logs = await read_worklogs(ctx.ado, [r.source_id for r in batch.rows])
        except ApiError as err:
            if err.status not in NOT_FOUND:
                raise  # refused (401/403): the batch's items fail with the reason (PluginPhase)
            return batch.passed_over()  # 7pace is not installed: nothing to carry (and nothing quoted)
        limit = asyncio.Semaphore(ITEMS_AT_ONCE)

        async def one(item_id: int) -> str:
            its = logs.get(item_id) or []
            if not its:
                return "skipped"
            async with limit:
                issue = issues.get(str(item_id))
                if issue is None:
                    return await self._not_migrated(batch, item_id, its)
                return await ItemWorklogs(batch, item_id, issue, its, adopted=str(item_id) in adopted).run()

        return batch.result(await gather_or_cancel(*(one(r.source_id) for r in batch.rows)))

    async def _not_migrated(self, batch: PhaseBatch, item_id: int, logs: list[Worklog]) -> str:
        async with batch.sessions() as session:
            records = await item_records.load(
                session, batch.migration_id, WORKLOG, [record_key(item_id, w.id) for w in logs]
            )
            for w in logs:
                key = record_key(item_id, w.id)
                if getattr(records.get(key), "state", None) != DONE:
                    await item_records.mark_failed(
                        session, batch.migration_id, WORKLOG, key, not_migrated(item_id), batch.run_id
                    )
            await session.commit()
        return "failed"

    async def preview(self, preview: Any) -> list[str]:
        """`write` as far as it is known without writing: an item with logs and no issue fails each log."""
        ctx = preview.ctx
        try:
            logs = await read_worklogs(ctx.ado, [p.source_id for p in preview.planned])
        except ApiError as err:
            if err.status not in NOT_FOUND:
                raise
            return ["skipped"] * len(preview.planned)
        done = await _done_keys(preview.sessions, ctx.migration_id)
        cap = worklog_cap()
        out = []
        for p in preview.planned:
            its = logs.get(p.source_id) or []
            if not its:
                out.append("skipped")
                continue
            todo = [w for w in its if record_key(p.source_id, w.id) not in done]
            if not todo:
                out.append("skipped")
                continue
            if preview.issue_key(p.source_id) is None:
                for w in todo:
                    preview.fail(self.name, WORKLOG, record_key(p.source_id, w.id), not_migrated(p.source_id))
                out.append("failed")
                continue
            posted, _ = split_at_cap(its, cap)
            refused = [w for w in posted if w.length <= 0 and record_key(p.source_id, w.id) not in done]
            for w in refused:
                preview.fail(self.name, WORKLOG, record_key(p.source_id, w.id), no_time(w))
            out.append("failed" if refused else "created")
        return out

    # --- trust after the run ------------------------------------------------------------------------

    async def check(self, ctx: MigrationContext, wi: Any, issue_key: str) -> list[Difference]:
        return await self.check_batch(ctx, [(wi, issue_key)])

    async def remove(self, ctx: MigrationContext, record: ItemRecord, issue_key: str | None) -> str:
        if record.kind != WORKLOG or issue_key is None or not record.target_key:
            return "already gone"
        try:
            await ctx.jira.delete_worklog(issue_key, record.target_key)
        except ApiError as err:
            if err.status == 404:
                return "already gone"
            raise
        return "deleted"

    async def check_batch(self, ctx: MigrationContext, items: Sequence[tuple[Any, str]]) -> list[Difference]:
        """The seconds this migration logged on each issue equal the source's (up to the cap); the 7pace logs of a
        batch in one read, the issue's worklogs only where the source has some."""
        logs = await read_worklogs(ctx.ado, [wi.id for wi, _ in items])
        cap = worklog_cap()
        found: list[Difference] = []
        for wi, issue_key in items:
            posted, _ = split_at_cap(logs.get(wi.id) or [], cap)
            if not posted:
                continue
            expected = sum(w.length for w in posted if w.length > 0)
            actual = sum(
                int(j.time_spent_seconds or 0)
                for j in await ctx.jira.list_worklogs(issue_key, with_properties=True)
                if ItemWorklogs.ours_of(ctx, wi.id, j) is not None
            )
            if actual != expected:
                found.append(
                    Difference(
                        check="worklogs",
                        kind=DifferenceKind.MISSING if actual < expected else DifferenceKind.DIFFERENT,
                        ado_id=wi.id,
                        jira_key=issue_key,
                        expected=f"{expected} seconds logged",
                        actual=f"{actual} seconds logged",
                    )
                )
        return found


async def _done_keys(sessions: Any, migration_id: str) -> set[str]:
    from sqlalchemy import select

    async with sessions() as session:
        rows = await session.scalars(
            select(ItemRecord.source_key).where(
                ItemRecord.migration_id == migration_id, ItemRecord.kind == WORKLOG, ItemRecord.state == DONE
            )
        )
        return set(rows)


class ItemWorklogs:
    """One item's work logs onto its issue, one after another (items of a batch go side by side)."""

    def __init__(self, batch: PhaseBatch, item_id: int, issue_key: str, logs: list[Worklog], *, adopted: bool) -> None:
        self._batch = batch
        self._ctx = batch.ctx
        self._item_id = item_id
        self._issue_key = issue_key
        self._logs = logs
        # An adopted issue (written by another migration of the same source) may hold these worklogs already.
        self._adopted = adopted
        self._outcomes: list[str] = []

    @staticmethod
    def ours_of(ctx: MigrationContext, item_id: int, jw: JiraWorklog) -> str | None:
        """The 7pace work log id a Jira worklog was migrated from, when it names this source and item."""
        value = jw.property(adoption.SOURCE_PROPERTY)
        if not isinstance(value, dict):
            return None
        identity = adoption.Identity.of(ctx.source)
        org = str(value.get("organization") or "").rstrip("/").lower()
        ours = (
            org == identity.organization
            and str(value.get("project") or "").lower() == identity.project.lower()
            and str(value.get("id")) == str(item_id)
        )
        worklog = value.get("worklog")
        return str(worklog) if ours and isinstance(worklog, str) else None

    def _key(self, w: Worklog) -> str:
        return record_key(self._item_id, w.id)

    def _note(self, outcome: str, record: ItemRecord | None = None) -> None:
        if outcome == "done":
            if record is not None and record.run_id == self._batch.run_id:
                outcome = "adopted" if (record.detail or {}).get("adopted") else "created"
            else:
                outcome = "skipped"
        self._outcomes.append(outcome)

    async def run(self) -> str:
        cap = worklog_cap()
        posted, overflow = split_at_cap(self._logs, cap)
        async with self._batch.sessions() as session:
            records = await item_records.load(session, self._ctx.migration_id, WORKLOG, [self._key(w) for w in posted])
        if self._adopted or any(r.state == PENDING for r in records.values()):
            await self._reconcile(posted, records)
        todo = []
        for w in posted:
            record = records.get(self._key(w))
            if record is not None and record.state == DONE:
                self._note("done", record)
            elif record is not None and record.state == FAILED and record.run_id == self._batch.run_id:
                self._note("failed")  # refused earlier in this very run: the answer will not change
            else:
                todo.append(w)
        for start in range(0, len(todo), PENDING_WINDOW):
            await self._post(todo[start : start + PENDING_WINDOW])
        if overflow:
            await self._overflow(overflow, cap)
        if "failed" in self._outcomes:
            return "failed"
        if "created" in self._outcomes:
            return "created"
        return "adopted" if "adopted" in self._outcomes else "skipped"

    async def _on_jira(self) -> dict[str, str]:
        """7pace work log id → Jira worklog id, for this item's migrated worklogs on the issue (a consistent read)."""
        found: dict[str, str] = {}
        for jw in await self._ctx.jira.list_worklogs(self._issue_key, with_properties=True):
            source = self.ours_of(self._ctx, self._item_id, jw)
            if source is not None:
                found.setdefault(source, jw.id)
        return found

    async def _reconcile(self, posted: list[Worklog], records: dict[str, ItemRecord]) -> None:
        """Pending records (an earlier attempt may have posted them) — or, on an adopted issue, any not done —
        found on the issue are recorded done instead of posted again."""
        on_jira = await self._on_jira()
        async with self._batch.sessions() as session:
            for w in posted:
                key = self._key(w)
                record = records.get(key)
                open_ = (
                    (record is None or record.state != DONE)
                    if self._adopted
                    else (record is not None and record.state == PENDING)
                )
                if not open_ or w.id not in on_jira:
                    continue
                detail: dict[str, Any] = {"adopted": True} if self._adopted and record is None else {"reconciled": True}
                detail.update(seconds=w.length, issue=self._issue_key)
                await item_records.mark_done(
                    session, self._ctx.migration_id, WORKLOG, key, on_jira[w.id], self._batch.run_id, detail
                )
                records[key] = ItemRecord(
                    migration_id=self._ctx.migration_id,
                    kind=WORKLOG,
                    source_key=key,
                    state=DONE,
                    target_key=on_jira[w.id],
                    run_id=self._batch.run_id,
                    detail=detail,
                )
            await session.commit()

    async def _post(self, window: list[Worklog]) -> None:
        async with self._batch.sessions() as session:
            await item_records.mark_pending(
                session, self._ctx.migration_id, WORKLOG, [self._key(w) for w in window], self._batch.run_id
            )
            await session.commit()
        posted: list[tuple[str, str, dict[str, Any]]] = []
        try:
            for w in window:
                if (result := await self._post_one(w)) is not None:
                    posted.append(result)
        finally:
            # One commit per window: a crash before it leaves these pending, and their property lets the retry
            # find them on the issue instead of posting them again.
            if posted:
                async with self._batch.sessions() as session:
                    await item_records.mark_done_many(
                        session, self._ctx.migration_id, WORKLOG, posted, self._batch.run_id
                    )
                    await session.commit()

    async def _post_one(self, w: Worklog) -> tuple[str, str, dict[str, Any]] | None:
        key = self._key(w)
        if w.length <= 0:
            await self._fail(key, no_time(w))
            return None
        detail: dict[str, Any] = {"seconds": w.length, "issue": self._issue_key}

        async def post() -> str:
            created = await self._ctx.jira.add_worklog(
                self._issue_key,
                w.length,
                jira_started(w.timestamp),
                comment_adf=comment_adf(w),
                properties=[worklog_property(self._ctx, self._item_id, w.id)],
            )
            return str(created.id)

        async def find() -> str | None:
            # The answer was lost, not necessarily the worklog: look on the issue before posting again.
            found = (await self._on_jira()).get(w.id)
            if found is not None:
                detail["reconciled"] = True
            return found

        try:
            target = await write_once(post, find, AMBIGUOUS_TRIES)
        except ApiError as err:
            if err.status in (401, 403) or err.status >= 500 or err.retryable:
                raise
            reason = "; ".join(err.messages + [f"{k}: {v}" for k, v in sorted(err.field_errors.items())])
            await self._fail(key, f"Jira refused 7pace work log {w.id} (HTTP {err.status}): {reason or 'no reason'}")
            return None
        self._note("created")
        return key, str(target), detail

    async def _fail(self, key: str, reason: str) -> None:
        async with self._batch.sessions() as session:
            await item_records.mark_failed(session, self._ctx.migration_id, WORKLOG, key, reason, self._batch.run_id)
            await session.commit()
        self._note("failed")

    async def _overflow(self, overflow: list[Worklog], cap: int) -> None:
        key = overflow_key(self._item_id)
        async with self._batch.sessions() as session:
            record = (await item_records.load(session, self._ctx.migration_id, WORKLOG_OVERFLOW, [key])).get(key)
        if record is not None and record.state == DONE:
            self._note("done", record)
            return
        data = overflow_file(self._item_id, overflow, cap)
        files = IssueFiles(self._batch.sessions, self._ctx, self._batch.run_id, self._issue_key, adopted=self._adopted)
        outcome = await files.put(
            WORKLOG_OVERFLOW,
            key,
            overflow_name(self._item_id),
            len(data),
            bytes_source(data),
            record,
            {"worklogs": len(overflow), "seconds": sum(w.length for w in overflow)},
        )
        self._note(outcome.state, record)
