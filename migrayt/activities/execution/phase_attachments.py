"""Phase 5: every ADO attachment streamed onto its Jira issue, the revision history as a file, and
the description rewritten once every file exists (images shown from Jira, `#123` as keys) where that
changes what create items wrote.

An item's small files and its history go in one upload request (bounded; a large file alone): Jira
allows no fewer calls. Exactly once per file all the same (see content_io.IssueFiles); the description
is an idempotent set, recorded as done so a re-run does not repeat it. A file Jira refuses (e.g. over
its size limit) fails alone with the reason; the item's other files and its description still land.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from migrayt.activities.execution.content_io import (
    FileToSend,
    IssueFiles,
    KnownRecords,
    RichText,
    Spool,
    ado_source,
    bundles,
    bytes_source,
    spooled_ado_source,
    wanted_by,
)
from migrayt.activities.execution.issue_writes import in_turn, item_outcome
from migrayt.activities.execution.migration_context import MigrationContext
from migrayt.activities.execution.phase_batch import BatchPhase, PhaseBatch
from migrayt.activities.execution.write_ledger import WriteLedger
from migrayt.connectors.adf import fit_adf
from migrayt.connectors.ado import WorkItem
from migrayt.connectors.http import ApiError
from migrayt.contracts.execution import PhaseBatchResult
from migrayt.contracts.record_kinds import (
    ATTACHMENT,
    DESCRIPTION,
    DESCRIPTION_ORIGINAL,
    HISTORY,
    INLINE_IMAGE,
)
from migrayt.settings import get_settings
from migrayt.store import item_records
from migrayt.store.item_records import DONE
from migrayt.store.models import ItemRecord
from migrayt.translation.content_text import (
    HistoryEntry,
    attachment_guid,
    description_file_name,
    description_note,
    description_parts,
    history_file,
    history_file_name,
    original_html_file,
    sanitise_filename,
)
from migrayt.translation.issue_fields import (
    TEXT_LIMIT,
    Lookups,
    description_digest,
    fallback_note_html,
    with_provenance_panel,
)

# Items of a batch in flight at once, and files of one item: together they bound the open streams.
ITEMS_AT_ONCE = 4
FILES_PER_ITEM_AT_ONCE = 4


class AttachmentsPhase(BatchPhase, phase="attachments"):
    async def run(self, batch: PhaseBatch) -> PhaseBatchResult:
        if not batch.rows:
            return batch.result()
        ctx = batch.ctx
        issues = await batch.issues()
        adopted = await batch.adopted(issues)
        migrated = batch.keep([r for r in batch.rows if str(r.source_id) in issues])
        if not migrated:
            return batch.result()
        lookups = await batch.lookups()
        work_items = await batch.work_items(migrated)
        ledger = WriteLedger(self._sessions, ctx.migration_id, batch.run_id)
        items = [
            ItemContent(
                self._sessions,
                ctx,
                lookups,
                batch.run_id,
                wi,
                issues[str(row.source_id)],
                adopted=str(row.source_id) in adopted,
                ledger=ledger,
            )
            for row in migrated
            if (wi := work_items.get(row.source_id)) is not None
        ]
        outcomes = ["skipped"] * (len(migrated) - len(items))  # gone from ADO since it was created; nothing to copy
        # Every record the batch needs, in one read.
        records = await KnownRecords.read(self._sessions, ctx.migration_id, wanted_by(*(i.wanted() for i in items)))
        for item in items:
            item.know(records)
        try:
            # The issues take turns: one whose write budget is spent waits alone while the others' files go.
            await in_turn(items, ITEMS_AT_ONCE * FILES_PER_ITEM_AT_ONCE, ctx.jira.issue_write_ready_in)
        finally:
            # What was written is recorded, also when the batch is cut.
            await ledger.flush()
        return batch.result(outcomes + [i.outcome() for i in items])


class ItemContent:
    """One item's files and description, as a line of writes to its issue (`issue_writes.in_turn`): its small files
    and the revision history together (few requests), its large files (up to `FILES_PER_ITEM_AT_ONCE` at once),
    then the description, once every file has landed. `know` first: the batch reads every item's records at once."""

    at_once = FILES_PER_ITEM_AT_ONCE

    def __init__(
        self,
        sessions,
        ctx: MigrationContext,
        lookups: Lookups,
        run_id: str,
        wi: WorkItem,
        issue: ItemRecord,
        *,
        adopted: bool = False,
        ledger: WriteLedger,
    ) -> None:
        self._sessions = sessions
        self._ctx = ctx
        self._lookups = lookups
        self._run_id = run_id
        self._wi = wi
        self._issue = issue
        self._adopted = adopted
        self._ledger = ledger
        assert issue.target_key is not None  # only issues created in Jira have content to copy
        self._files = IssueFiles(sessions, ctx, run_id, issue.target_key, adopted=adopted, ledger=ledger)
        self._outcomes: list[str] = []
        self._attached = [
            (guid, rel) for rel in wi.relations if rel.is_attachment and (guid := attachment_guid(rel.url))
        ]
        self._own: dict[str, str] = {}  # ADO guid → Jira attachment id, as the files land
        self._rich = RichText(sessions, ctx, lookups, self._files, wi.id, self._own)
        self._known = KnownRecords()
        self._steps: deque[Callable[[], Awaitable[None]]] = deque()
        self._files_under_way = 0

    @property
    def issue_key(self) -> str:
        return self._files.issue_key

    def _note(self, state: str, record: ItemRecord | None = None) -> None:
        # A record done by an earlier attempt of this run still counts as written by this run.
        if state == "done" and record is not None and record.run_id == self._run_id:
            state = "adopted" if (record.detail or {}).get("adopted") else "created"
        self._outcomes.append(state)

    def wanted(self) -> dict[str, set[str]]:
        """The records this item needs, by kind (read by the batch for all its items at once)."""
        ado_id = str(self._wi.id)
        return wanted_by(
            {ATTACHMENT: {g for g, _ in self._attached}},
            {kind: {ado_id} for kind in (HISTORY, DESCRIPTION, DESCRIPTION_ORIGINAL)},
            self._rich.wanted(description_parts(self._wi.fields)),
        )

    def know(self, records: KnownRecords) -> None:
        self._known = records
        ado_id = str(self._wi.id)
        attachments = records.load(ATTACHMENT, [g for g, _ in self._attached])
        history = records.get(HISTORY, ado_id)
        # Images in the description that are not among the item's files are uploaded for it — by the description's
        # own write, so not at all once that is done (a mark ahead for them would stay pending).
        own = {g for g, _ in self._attached}
        description_done = getattr(records.get(DESCRIPTION, ado_id), "state", None) == DONE
        images = set() if description_done else self._rich.wanted(description_parts(self._wi.fields))[INLINE_IMAGE]
        self._ledger.expect(
            [(ATTACHMENT, g) for g, _ in self._attached if getattr(attachments.get(g), "state", None) != DONE]
            + ([(HISTORY, ado_id)] if getattr(history, "state", None) != DONE else [])
            + [
                (INLINE_IMAGE, k)
                for k in sorted(images)
                if k.split(":", 1)[1] not in own and getattr(records.get(INLINE_IMAGE, k), "state", None) != DONE
            ]
        )
        # Files of a known size under the request bound go together with the history file, in as few requests as
        # the bounds allow; the others (size unknown, large, or spooled) alone.
        settings = get_settings()
        together: list[tuple[str, Any, int]] = []
        for guid, rel in self._attached:
            size = _size(rel)
            spool_from = settings.attachment_spool_min_bytes
            if (
                size is not None
                and size <= settings.attachment_bytes_per_request
                and (spool_from is None or size < spool_from)
            ):
                together.append((guid, rel, size))
            else:
                self._steps.append(partial(self._attach, guid, rel, attachments.get(guid)))
        self._steps.appendleft(partial(self._together, together, attachments, history))
        self._steps.append(
            partial(self._description, records.get(DESCRIPTION, ado_id), records.get(DESCRIPTION_ORIGINAL, ado_id))
        )

    # --- a line of writes to the issue -------------------------------------------------------------

    def has_next(self) -> bool:
        if len(self._steps) == 1 and self._files_under_way:
            return False  # the description shows the files: it waits for the last of them
        return bool(self._steps)

    def writes_left(self) -> int:
        return len(self._steps)

    def next_write(self) -> Awaitable[None]:
        write = self._steps.popleft()
        if not self._steps:
            return write()  # the description
        # Counted from now on, before the line is asked whether it has more.
        self._files_under_way += 1
        return self._file(write)

    async def _file(self, write: Callable[[], Awaitable[None]]) -> None:
        try:
            await write()
        finally:
            self._files_under_way -= 1

    def outcome(self) -> str:
        return item_outcome(self._outcomes)

    async def _together(
        self, small: list[tuple[str, Any, int]], records: dict[str, ItemRecord], history: ItemRecord | None
    ) -> None:
        """The item's small files and its history file, in as few requests as the bounds allow."""
        files = [
            FileToSend(
                ATTACHMENT,
                guid,
                sanitise_filename(rel.attributes.get("name"), f"attachment-{guid}"),
                size,
                ado_source(self._ctx, rel.url),
                records.get(guid),
                {"ado_item": self._wi.id},
            )
            for guid, rel, size in small
        ]
        if history is not None and history.state == DONE:
            self._note("done", history)
        else:
            data, revisions = await self._history_file()
            files.append(
                FileToSend(
                    HISTORY,
                    str(self._wi.id),
                    history_file_name(self._wi.id),
                    len(data),
                    bytes_source(data),
                    history,
                    {"revisions": revisions},
                )
            )
        settings = get_settings()
        packed = bundles(
            [f.size for f in files], settings.attachment_files_per_request, settings.attachment_bytes_per_request
        )
        for group in packed:
            sent = [files[i] for i in group]
            for f, outcome in zip(sent, await self._files.put_together(sent), strict=True):
                self._note(outcome.state, f.record)
                if f.kind == ATTACHMENT and outcome.target_key:
                    self._own[f.source_key] = outcome.target_key

    async def _attach(self, guid: str, rel: Any, record: ItemRecord | None) -> None:
        settings = get_settings()
        size = _size(rel)
        # A large file may be kept on local disk as it streams, so a re-send does not download it again.
        spool_from = settings.attachment_spool_min_bytes
        spool = size is not None and spool_from is not None and size >= spool_from
        source = (
            spooled_ado_source(self._ctx, rel.url, settings.attachment_spool_dir)
            if spool
            else ado_source(self._ctx, rel.url)
        )
        try:
            outcome = await self._files.put(
                ATTACHMENT,
                guid,
                sanitise_filename(rel.attributes.get("name"), f"attachment-{guid}"),
                size,
                source,
                record,
                {"ado_item": self._wi.id},
            )
        finally:
            if isinstance(source, Spool):
                source.close()
        self._note(outcome.state, record)
        if outcome.target_key:
            self._own[guid] = outcome.target_key

    async def _history_file(self) -> tuple[bytes, int]:
        """The revision history as a file, and how many revisions it tells."""
        entries = [
            HistoryEntry(
                rev=u.rev,
                when=(u.fields.get("System.ChangedDate") or {}).get("newValue") or u.revised_date,
                who=(u.revised_by.display_name or u.revised_by.unique_name or "") if u.revised_by else "",
                fields=u.fields,
                relations=u.relations,
            )
            async for u in self._ctx.ado.iter_updates(self._wi.id)
        ]
        return history_file(self._wi.id, entries), len(entries)

    async def _description(self, record: ItemRecord | None, original: ItemRecord | None) -> None:
        """Second pass over the description: now the images and the other items exist in Jira."""
        if record is not None and record.state == DONE:
            self._note("done", record)
            return
        ado_id = self._wi.id
        parts = description_parts(self._wi.fields)
        rich = self._rich
        await rich.prepare(parts, self._known)
        stand_in = fallback_note_html(self._wi.fields, self._lookups, self._ctx.plan.fields)
        doc, truncated = fit_adf(
            with_provenance_panel(rich.render_parts(stand_in + parts), ado_id, self._wi.fields, self._lookups),
            limit=TEXT_LIMIT,
            note=description_note(ado_id, TEXT_LIMIT),
        )
        truncated = truncated or bool((self._issue.detail or {}).get("truncated"))
        detail: dict[str, Any] = {"truncated": truncated, "images": rich.uploaded}
        if rich.failures:
            detail["image_failures"] = rich.failures
        if truncated:
            data = original_html_file(ado_id, "\n".join(parts))
            outcome = await self._files.put(
                DESCRIPTION_ORIGINAL,
                str(ado_id),
                description_file_name(ado_id),
                len(data),
                bytes_source(data),
                original,
            )
            self._note(outcome.state, original)
        # Create-items already wrote this very document unless images or #refs needed a second pass, and then it
        # kept a digest of what it wrote: the same document now (its #refs were known then) is not written again.
        written = (self._issue.detail or {}).get("description_sha256")
        if rich.has_links_to_resolve and (written is None or written != description_digest(doc)):
            try:
                await self._ctx.jira.edit_issue(self._files.issue_key, {"description": doc})
            except ApiError as err:
                if err.status in (401, 403) or err.status >= 500 or err.retryable:
                    raise
                async with self._sessions() as session:
                    await item_records.mark_failed(
                        session,
                        self._ctx.migration_id,
                        DESCRIPTION,
                        str(ado_id),
                        f"Jira refused the rewritten description: {err}",
                        self._run_id,
                    )
                    await session.commit()
                self._note("failed")
                return
            detail["rewritten"] = True
        elif rich.has_links_to_resolve:
            detail["unchanged"] = True  # create items wrote this very document (its #refs were known then)
        if self._adopted:
            detail["adopted"] = True  # the same description set again on an issue another migration wrote
        await self._ledger.done(DESCRIPTION, str(ado_id), self._files.issue_key, detail)
        self._note("adopted" if self._adopted else "created" if detail.get("rewritten") else "skipped")


def _size(rel: Any) -> int | None:
    """An ADO attachment relation's size, where ADO tells it."""
    raw = rel.attributes.get("resourceSize")
    return int(raw) if isinstance(raw, int) and raw >= 0 else None
