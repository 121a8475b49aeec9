"""Phase 7: every ADO comment as a Jira comment, in the original order, headed with its author and
date (Jira stamps the migrating account and the time of the move), up to Jira's per-issue cap;
the rest of a very long discussion is attached as files: as many parts as Jira's upload limit needs,
in order, each a readable page (kind "comment_overflow": part 1 keyed by the ADO id, part k by
"id:k").

Exactly once per comment (kind "comment", source key "itemid:commentid"): the header carries the
ADO comment id, so a pending comment (or one whose response was lost) is found by listing the
issue's comments before it is posted again. One item's comments are posted one after another,
which is what keeps their order; the batch's issues take turns (`issue_writes.in_turn`), so an issue
whose write budget is spent waits alone. Pending marks and results go a window at a time for the
whole batch (`write_ledger`), and the batch's records are read once: few SQL statements per item.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import quote

from sqlalchemy import or_, select

from migrayt.activities.execution import adoption
from migrayt.activities.execution.content_io import (
    AMBIGUOUS_TRIES,
    IssueFiles,
    KnownRecords,
    RichText,
    bytes_source,
    wanted_by,
)
from migrayt.activities.execution.create_items import SourceRow
from migrayt.activities.execution.issue_writes import in_turn, item_outcome
from migrayt.activities.execution.migration_context import MigrationContext
from migrayt.activities.execution.phase_batch import BatchPhase, PhaseBatch
from migrayt.activities.execution.write_ledger import WriteLedger
from migrayt.activities.execution.write_once import write_once
from migrayt.activities.side_by_side import gather_or_cancel
from migrayt.connectors.adf import fit_adf
from migrayt.connectors.ado import WorkItem
from migrayt.connectors.http import ApiError
from migrayt.connectors.jira import API, JiraComment
from migrayt.contracts.execution import PhaseBatchResult
from migrayt.contracts.record_kinds import (
    ATTACHMENT,
    COMMENT,
    COMMENT_ORIGINAL,
    COMMENT_OVERFLOW,
    INLINE_IMAGE,
    ISSUE,
)
from migrayt.settings import get_settings
from migrayt.store import item_records
from migrayt.store.item_records import DONE, PENDING
from migrayt.store.models import ItemRecord
from migrayt.translation import content_text
from migrayt.translation.content_text import (
    SourceComment,
    attachment_guid,
    comment_file_name,
    comment_original_file,
    marker_of,
    overflow_file,
    overflow_file_name,
    overflow_record_key,
    source_comment,
    split_at_cap,
    split_overflow,
    with_header,
)
from migrayt.translation.issue_fields import TEXT_LIMIT, Lookups

# Comments (and the ADO reads before them) in flight at once, over the batch's issues.
ITEMS_AT_ONCE = 8


# Newest comments read to settle one lost response: ours are posted one at a time per issue, so the lost
# one can only be among the last few on the issue.
RECENT = 20


async def upload_limit(ctx: MigrationContext) -> int:
    """The site's upload limit, read as the scan and the preview read it; the settings' default
    (`MIGRAYT_JIRA_ATTACHMENT_LIMIT_BYTES`) when Jira will not say."""
    limit = get_settings().jira_attachment_limit_bytes
    try:
        meta = await ctx.jira.http.get_json("/rest/api/3/attachment/meta")
        return int((meta or {}).get("uploadLimit") or limit)
    except (ApiError, ValueError, TypeError):
        return limit


def comment_cap() -> int:
    """Jira Cloud's per-issue comment limit; `MIGRAYT_JIRA_COMMENTS_PER_ISSUE` for sites (and
    sandboxes) configured otherwise."""
    value = os.environ.get("MIGRAYT_JIRA_COMMENTS_PER_ISSUE", "")
    return int(value) if value.strip().isdigit() else content_text.JIRA_COMMENT_CAP


class CommentsPhase(BatchPhase, phase="comments"):
    async def run(self, batch: PhaseBatch) -> PhaseBatchResult:
        if not batch.rows:
            return batch.result()
        ctx = batch.ctx
        issues = await batch.target_keys(ISSUE, batch.source_keys())
        adopted = await batch.adopted(issues)
        migrated = batch.keep([r for r in batch.rows if str(r.source_id) in issues])
        if not migrated:
            return batch.result()
        lookups = await batch.lookups()
        work_items = await batch.work_items(migrated)
        known: asyncio.Task[int] | None = None

        async def file_limit() -> int:
            # Read once per batch, and only when an item overflows.
            nonlocal known
            if known is None:
                known = asyncio.ensure_future(upload_limit(ctx))
            return await asyncio.shield(known)

        ledger = WriteLedger(self._sessions, ctx.migration_id, batch.run_id)
        # The longest threads first: their first comments go first, so the one with most to post starts at once.
        items = [
            ItemComments(
                self._sessions,
                ctx,
                lookups,
                batch.run_id,
                wi,
                issues[str(row.source_id)],
                file_limit,
                adopted=str(row.source_id) in adopted,
                ledger=ledger,
            )
            for row in longest_threads_first(migrated, work_items)
            if (wi := work_items.get(row.source_id)) is not None
        ]
        outcomes = ["skipped"] * (len(migrated) - len(items))  # gone from ADO since it was created
        reading = asyncio.Semaphore(ITEMS_AT_ONCE)

        async def read(item: ItemComments) -> None:
            async with reading:
                await item.read()

        await gather_or_cancel(*(read(i) for i in items))
        # Every record the batch needs, in one read.
        records = await KnownRecords.read(self._sessions, ctx.migration_id, wanted_by(*(i.wanted() for i in items)))
        for item in items:
            item.know(records)
        try:
            # One comment at a time per issue (their order), the issues in turn: an issue whose write budget is
            # spent waits alone while the others' comments go.
            await in_turn(items, ITEMS_AT_ONCE, ctx.jira.issue_write_ready_in)
        finally:
            # What was written is recorded, also when the batch is cut.
            await ledger.flush()
        return batch.result(outcomes + [i.outcome() for i in items])


def longest_threads_first(rows: list[SourceRow], work_items: dict[int, WorkItem]) -> list[SourceRow]:
    """The rows by ADO's comment count, most first; equal counts keep the work list's order."""

    def length(row: SourceRow) -> int:
        wi = work_items.get(row.source_id)
        count = wi.fields.get("System.CommentCount") if wi is not None else None
        return count if isinstance(count, int) else 0

    return sorted(rows, key=lambda r: -length(r))


class ItemComments:
    """One item's comments as a line of writes to its issue (`issue_writes.in_turn`): first what the item needs
    before posting (earlier attempts' comments found, images uploaded), then each comment in order, then the
    overflow files. `read` and `know` come first: the batch reads every item's records at once."""

    def __init__(
        self,
        sessions,
        ctx: MigrationContext,
        lookups: Lookups,
        run_id: str,
        wi: WorkItem,
        issue_key: str,
        file_limit: Callable[[], Awaitable[int]] | None = None,
        *,
        adopted: bool = False,
        ledger: WriteLedger,
    ) -> None:
        self._sessions = sessions
        self._file_limit = file_limit or (lambda: upload_limit(ctx))
        self._ctx = ctx
        self._lookups = lookups
        self._run_id = run_id
        self._wi = wi
        self._issue_key = issue_key
        # An adopted issue (found in Jira, written by another migration) may hold these comments already.
        self._adopted = adopted
        self._identity = adoption.Identity.of(ctx.source)
        self._ledger = ledger
        self._files = IssueFiles(sessions, ctx, run_id, issue_key, adopted=adopted, ledger=ledger)
        self._outcomes: list[str] = []
        self._comments: list[SourceComment] = []
        self._posted: list[SourceComment] = []
        self._overflowing: list[SourceComment] = []
        self._known = KnownRecords()
        self._steps: deque[Callable[[], Awaitable[None]]] = deque()

    @property
    def issue_key(self) -> str:
        return self._issue_key

    def _key(self, comment_id: int) -> str:
        return f"{self._wi.id}:{comment_id}"

    def _note(self, state: str, record: ItemRecord | None = None) -> None:
        if state == "done" and record is not None and record.run_id == self._run_id:
            state = "adopted" if (record.detail or {}).get("adopted") else "created"
        self._outcomes.append(state)

    def _source_of(self, jc: JiraComment) -> int | None:
        """The ADO comment id a Jira comment was migrated from: its property, else its header's marker.

        A property naming another source (organisation, project or item) is not this item's comment.
        """
        value = jc.property(adoption.SOURCE_PROPERTY)
        if isinstance(value, dict):
            org = str(value.get("organization") or "").rstrip("/").lower()
            ours = (
                org == self._identity.organization
                and str(value.get("project") or "").lower() == self._identity.project.lower()
                and str(value.get("id")) == str(self._wi.id)
            )
            comment = value.get("comment")
            return int(comment) if ours and isinstance(comment, int) else None
        return marker_of(jc.body)

    async def read(self) -> None:
        """The item's live comments from ADO."""
        count = self._wi.fields.get("System.CommentCount")
        if isinstance(count, int) and count == 0:
            return  # ADO says there is nothing to read: save the request
        self._comments = [source_comment(c) async for c in self._ctx.ado.iter_comments(self._wi.id) if not c.is_deleted]
        self._posted, self._overflowing = split_at_cap(self._comments, comment_cap())

    def _own_guids(self) -> list[str]:
        return [g for rel in self._wi.relations if rel.is_attachment and (g := attachment_guid(rel.url))]

    def _rich(self, own: dict[str, str]) -> RichText:
        return RichText(self._sessions, self._ctx, self._lookups, self._files, self._wi.id, own)

    def wanted(self) -> dict[str, set[str]]:
        """The records this item's comments need, by kind (read by the batch for all its items at once)."""
        if not self._posted:
            return {}
        keys = {self._key(c.id) for c in self._posted}
        return wanted_by(
            {COMMENT: keys, COMMENT_ORIGINAL: keys, ATTACHMENT: set(self._own_guids())},
            self._rich({}).wanted(c.html for c in self._posted),
        )

    def know(self, records: KnownRecords) -> None:
        self._known = records
        if self._comments:
            self._steps.append(self._prepare)

    # --- a line of writes to the issue -------------------------------------------------------------

    # One comment at a time: their order on the issue is the order they were posted in.
    at_once = 1

    def has_next(self) -> bool:
        return bool(self._steps)

    def writes_left(self) -> int:
        return len(self._steps)

    def next_write(self) -> Awaitable[None]:
        return self._steps.popleft()()

    def outcome(self) -> str:
        return item_outcome(self._outcomes)

    async def _prepare(self) -> None:
        posted = self._posted
        records = self._known.load(COMMENT, [self._key(c.id) for c in posted])
        if any(r.state == PENDING for r in records.values()):
            await self._reconcile(posted, records)
        if self._adopted and any(getattr(records.get(self._key(c.id)), "state", None) != DONE for c in posted):
            await self._reconcile(posted, records, adopted=True)
        todo = []
        for c in posted:
            record = records.get(self._key(c.id))
            if record is not None and record.state == DONE:
                self._note("done", record)
            else:
                todo.append(c)
        if todo:
            # The item's attached files already in Jira (phase 5): images among them are not uploaded again.
            rich = self._rich(self._known.target_keys(ATTACHMENT, self._own_guids()))
            images = rich.wanted(c.html for c in todo)[INLINE_IMAGE]
            self._ledger.expect(
                (INLINE_IMAGE, k) for k in sorted(images) if self._known.target_keys(INLINE_IMAGE, [k]) == {}
            )
            self._ledger.expect((COMMENT, self._key(c.id)) for c in todo)
            await rich.prepare((c.html for c in todo), self._known)
            originals = self._known.load(COMMENT_ORIGINAL, [self._key(c.id) for c in todo])
            for c in todo:
                self._steps.append(partial(self._post_one, c, rich, originals.get(self._key(c.id))))
        if self._overflowing:
            self._steps.append(partial(self._overflow, self._comments, self._overflowing))

    async def _recent(self) -> dict[int, str]:
        """ADO comment id → Jira comment id among the issue's newest comments (one consistent read, not all)."""
        body = await self._ctx.jira.http.get_json(
            f"{API}/issue/{quote(self._issue_key, safe='')}/comment",
            params={"orderBy": "-created", "maxResults": RECENT, "expand": "properties"},
        )
        found: dict[int, str] = {}
        for raw in (body or {}).get("comments") or []:
            jc = JiraComment.model_validate(raw)
            marker = self._source_of(jc)
            if marker is not None:
                found.setdefault(marker, jc.id)
        return found

    async def _on_issue(self) -> dict[int, str]:
        """ADO comment id → Jira comment id, for the migrated comments already on the issue."""
        found: dict[int, str] = {}
        for jc in await self._ctx.jira.list_comments(self._issue_key, with_properties=True):
            marker = self._source_of(jc)
            if marker is not None and marker not in found:
                found[marker] = jc.id
        return found

    async def _reconcile(
        self, posted: list[SourceComment], records: dict[str, ItemRecord], adopted: bool = False
    ) -> None:
        """Record as done the comments already on the issue: pending ones (an earlier attempt may have
        posted them) or, on an adopted issue, any not yet done (another migration posted them)."""
        on_jira = await self._on_issue()
        found: list[tuple[str, str, str, dict[str, Any]]] = []
        for c in posted:
            key = self._key(c.id)
            record = records.get(key)
            if adopted:
                open_ = record is None or record.state != DONE
            else:
                open_ = record is not None and record.state == PENDING
            if open_ and c.id in on_jira:
                detail = {"adopted": True} if adopted else {"reconciled": True}
                found.append((COMMENT, key, on_jira[c.id], detail))
                if record is None:
                    record = records[key] = ItemRecord(
                        migration_id=self._ctx.migration_id, kind=COMMENT, source_key=key, detail={}
                    )
                record.state = DONE
                record.run_id = self._run_id
                record.detail = detail
        if found:
            async with self._sessions() as session:
                await item_records.mark_done_rows(session, self._ctx.migration_id, found, self._run_id)
                await session.commit()

    async def _post_one(self, c: SourceComment, rich: RichText, original: ItemRecord | None) -> None:
        """Post one comment (its pending mark committed first), its result kept by the ledger; a refusal recorded."""
        key = self._key(c.id)
        body, truncated = fit_adf(
            with_header(c, rich.render(c.html)),
            limit=TEXT_LIMIT,
            note=f"Comment cut at Jira's {TEXT_LIMIT:,}-character limit; the full original is attached as "
            f"{comment_file_name(self._wi.id, c.id)}.",
        )
        detail: dict[str, Any] = {}
        if truncated:
            data = comment_original_file(self._wi.id, c)
            await self._files.put(
                COMMENT_ORIGINAL, key, comment_file_name(self._wi.id, c.id), len(data), bytes_source(data), original
            )
            detail["truncated"] = True
        await self._ledger.pending(COMMENT, key)

        async def post() -> tuple[str, bool]:
            created = await self._ctx.jira.add_comment(
                self._issue_key, body, properties=[adoption.comment_property(self._ctx.source, self._wi.id, c.id)]
            )
            return created.id, False

        async def find() -> tuple[str, bool] | None:
            # The answer was lost, not necessarily the comment: ours go one at a time per issue, so it can only
            # be among the newest. Neither a duplicate nor a reordering can happen.
            found = (await self._recent()).get(c.id)
            return (found, True) if found is not None else None

        try:
            target, reconciled = await write_once(post, find, attempts=AMBIGUOUS_TRIES)
        except ApiError as err:
            if err.status in (401, 403) or err.status >= 500 or err.retryable:
                raise
            reason = "; ".join(err.messages + [f"{k}: {v}" for k, v in sorted(err.field_errors.items())])
            async with self._sessions() as session:
                await item_records.mark_failed(
                    session,
                    self._ctx.migration_id,
                    COMMENT,
                    key,
                    f"Jira refused comment {c.id} (HTTP {err.status}): {reason or 'no reason given'}",
                    self._run_id,
                )
                await session.commit()
            self._note("failed")
            return
        if reconciled:
            detail["reconciled"] = True
        await self._ledger.done(COMMENT, key, str(target), detail)
        self._note("created")

    async def _overflow(self, comments: list[SourceComment], overflow: list[SourceComment]) -> None:
        """The comments past the cap as files under Jira's upload limit, one part built at a time."""
        cap = len(comments) - len(overflow)
        parts, records = await self._overflow_parts(overflow, cap + 1)
        for part, (start, end) in enumerate(parts, start=1):
            key = overflow_record_key(self._wi.id, part)
            record = records.get(key)
            if record is not None and record.state == DONE:
                self._note("done", record)
                continue
            chunk = overflow[start:end]
            data = overflow_file(self._wi.id, chunk, cap + 1 + start, part=part, parts=len(parts), cap=cap)
            outcome = await self._files.put(
                COMMENT_OVERFLOW,
                key,
                overflow_file_name(self._wi.id, part),
                len(data),
                bytes_source(data),
                record,
                {
                    "comments": len(chunk),
                    "first_comment_id": chunk[0].id,
                    "last_comment_id": chunk[-1].id,
                    "first_number": cap + 1 + start,
                    "part": part,
                    "parts": len(parts),
                },
            )
            del data  # only one part's page is held at a time
            self._note(outcome.state, record)

    async def _overflow_parts(
        self, overflow: list[SourceComment], first_number: int
    ) -> tuple[list[tuple[int, int]], dict[str, ItemRecord]]:
        """[start, end) of each part, and the item's overflow records by key.

        Parts already attached keep the comments they hold — one written before overflows were
        split, or cut at another limit — and only the rest is split afresh: no comment lands in
        two parts, none is left out.
        """
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ItemRecord).where(
                    ItemRecord.migration_id == self._ctx.migration_id,
                    ItemRecord.kind == COMMENT_OVERFLOW,
                    or_(ItemRecord.source_key == str(self._wi.id), ItemRecord.source_key.like(f"{self._wi.id}:%")),
                )
            )
            records = {r.source_key: r for r in rows}
        kept: list[tuple[int, int]] = []
        at = 0
        while at < len(overflow):
            record = records.get(overflow_record_key(self._wi.id, len(kept) + 1))
            detail = (record.detail or {}) if record is not None and record.state == DONE else {}
            count = detail.get("comments")
            if not isinstance(count, int) or count <= 0 or detail.get("first_comment_id") != overflow[at].id:
                break
            count = min(count, len(overflow) - at)
            kept.append((at, at + count))
            at += count
        if at == len(overflow):
            return kept, records
        limit = await self._file_limit()
        rest = [(at + s, at + e) for s, e in split_overflow(overflow[at:], first_number + at, limit)]
        return kept + rest, records
