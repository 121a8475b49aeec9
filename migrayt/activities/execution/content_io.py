"""Files on a Jira issue written exactly once, and ADO rich text rendered with its images in Jira.

Shared by the attachments and comments phases. Every upload follows the ledger protocol:
done → skip; pending → look for the file on the issue (same name and size, a consistent read of
the issue's `attachment` field) before sending it again; new/failed → pending + commit, stream it,
done with its sha-256. A dropped response is reconciled on the spot the same way, and by the sha-256
of the bytes sent, so a flaky connection costs one read instead of a retry of the whole batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.activities.execution.migration_context import MigrationContext
from migrayt.activities.execution.write_ledger import WriteLedger
from migrayt.connectors.adf import DROP_IMAGE, AdfContext, AdfImage, html_parts_to_adf, html_to_adf, work_item_refs
from migrayt.connectors.http import AmbiguousWriteError, ApiError
from migrayt.connectors.jira import Attachment, UploadFile
from migrayt.contracts.record_kinds import (
    ATTACHMENT,
    COMMENT_ORIGINAL,
    COMMENT_OVERFLOW,
    DESCRIPTION_ORIGINAL,
    HISTORY,
    INLINE_IMAGE,
    ISSUE,
    STEPS_FILE,
    WORKLOG_OVERFLOW,
)
from migrayt.store import item_records
from migrayt.store.item_records import DONE, FAILED, PENDING
from migrayt.store.models import ItemRecord
from migrayt.translation.content_text import ado_attachment_src, image_file_name, image_sources
from migrayt.translation.issue_fields import Lookups

FILE_KINDS = (
    ATTACHMENT,
    INLINE_IMAGE,
    HISTORY,
    DESCRIPTION_ORIGINAL,
    COMMENT_ORIGINAL,
    COMMENT_OVERFLOW,
    WORKLOG_OVERFLOW,
    STEPS_FILE,
)

# A write whose response keeps getting lost is reconciled and re-sent this many times before the
# batch gives up (and Temporal retries it).
AMBIGUOUS_TRIES = 4

ByteFactory = Callable[[], AsyncIterator[bytes]]


class SourceUnavailable(Exception):
    """The file cannot be read from Azure DevOps (deleted, or not visible to the PAT)."""


@dataclass
class FileOutcome:
    state: str  # "done" (an earlier run), "created", "adopted" (already on an adopted issue), "failed"
    target_key: str | None = None
    error: str | None = None


@dataclass
class FileToSend:
    """One file of an issue, for `IssueFiles.put_together`: its record, name, size (known) and bytes."""

    kind: str
    source_key: str
    filename: str
    size: int
    source: ByteFactory
    record: ItemRecord | None
    detail: dict[str, Any] | None = None


def bundles(sizes: list[int], max_files: int, max_bytes: int) -> list[list[int]]:
    """The files (by index, in order) packed into requests of at most `max_files` files and `max_bytes` bytes; a
    file larger than `max_bytes` goes alone."""
    out: list[list[int]] = []
    current: list[int] = []
    held = 0
    for i, size in enumerate(sizes):
        if current and (len(current) >= max_files or held + size > max_bytes):
            out.append(current)
            current, held = [], 0
        current.append(i)
        held += size
    if current:
        out.append(current)
    return out


# Source keys in one statement's IN list: PostgreSQL takes at most 32,767 parameters.
KEYS_PER_READ = 10_000


class KnownRecords:
    """A batch's item records, of every kind it needs, read at its start in one statement (by kind and source key)
    instead of one read per item and kind."""

    def __init__(self, records: dict[tuple[str, str], ItemRecord] | None = None) -> None:
        self._records = records or {}

    @classmethod
    async def read(cls, sessions: async_sessionmaker, migration_id: str, wanted: dict[str, set[str]]) -> KnownRecords:
        kinds = sorted(k for k, keys in wanted.items() if keys)
        keys = sorted(set().union(*wanted.values())) if wanted else []
        found: dict[tuple[str, str], ItemRecord] = {}
        # Keys of different kinds never look alike (an ADO id, "id:comment", a GUID, "id:GUID"): one IN list for all.
        for start in range(0, len(keys), KEYS_PER_READ):
            async with sessions() as session:
                found.update(
                    await item_records.load_kinds(session, migration_id, kinds, keys[start : start + KEYS_PER_READ])
                )
        return cls(found)

    def get(self, kind: str, source_key: str) -> ItemRecord | None:
        return self._records.get((kind, source_key))

    def load(self, kind: str, source_keys: Iterable[str]) -> dict[str, ItemRecord]:
        """Like `item_records.load`, from what was read."""
        return {k: r for k in source_keys if (r := self._records.get((kind, k))) is not None}

    def target_keys(self, kind: str, source_keys: Iterable[str]) -> dict[str, str]:
        """Like `item_records.target_keys`, from what was read."""
        return {k: r.target_key for k, r in self.load(kind, source_keys).items() if r.state == DONE and r.target_key}


def wanted_by(*parts: dict[str, set[str]]) -> dict[str, set[str]]:
    """The source keys several items want read, by kind, together."""
    merged: dict[str, set[str]] = {}
    for part in parts:
        for kind, keys in part.items():
            merged.setdefault(kind, set()).update(keys)
    return merged


def bytes_source(data: bytes) -> ByteFactory:
    async def gen() -> AsyncIterator[bytes]:
        yield data

    return gen


def ado_source(ctx: MigrationContext, url: str) -> ByteFactory:
    def factory() -> AsyncIterator[bytes]:
        return ctx.ado.stream_attachment(url)

    return factory


class SpoolGauge:
    """Bytes in spool files now, and the most at once since start (what a benchmark reports as disk used)."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def add(self, n: int) -> None:
        self.now += n
        self.peak = max(self.peak, self.now)


SPOOLED = SpoolGauge()
SPOOL_READ_BYTES = 1024 * 1024


class Spool:
    """One file's bytes kept on local disk as they first stream from ADO, so a re-send (after a 429, a 5xx or a
    lost answer) reads them from disk instead of downloading the file again; what the first attempt did not get
    to is fetched from where it stopped. The file is unlinked as soon as it is made: its space comes back when the
    spool is closed, or when the worker dies. One reader at a time (attempts are sequential)."""

    def __init__(self, fetch: Callable[[int], AsyncIterator[bytes]], directory: Path | None = None) -> None:
        self._fetch = fetch  # the source's bytes from an offset on
        self._dir = directory
        self._fd: int | None = None
        self._hash = hashlib.sha256()
        self.spooled = 0
        self.complete = False
        self.fetches = 0

    @property
    def sha256(self) -> str | None:
        """The whole file's digest, once every byte went through the spool."""
        return self._hash.hexdigest() if self.complete else None

    def __call__(self) -> AsyncIterator[bytes]:
        return self._read()

    async def _read(self) -> AsyncIterator[bytes]:
        if self._fd is None:
            fd, path = tempfile.mkstemp(prefix="migrayt-spool-", dir=self._dir)
            os.unlink(path)
            self._fd = fd
        fd = self._fd
        pos = 0
        while pos < self.spooled:
            data = await asyncio.to_thread(os.pread, fd, min(SPOOL_READ_BYTES, self.spooled - pos), pos)
            if not data:
                raise OSError(f"spool file ends at {pos} of {self.spooled} bytes")
            pos += len(data)
            yield data
        if self.complete:
            return
        self.fetches += 1
        # Written from a thread in 1 MB pieces, each yielded once it is on disk: a slow disk does not stall the
        # event loop, and what a cut attempt yielded is always in the spool for the next one.
        pending = bytearray()
        async for chunk in self._fetch(self.spooled):
            pending += chunk
            if len(pending) >= SPOOL_READ_BYTES:
                yield await self._write(pending)
        if pending:
            yield await self._write(pending)
        self.complete = True

    async def _write(self, pending: bytearray) -> bytes:
        data = bytes(pending)
        pending.clear()
        assert self._fd is not None
        await asyncio.to_thread(_pwrite_all, self._fd, data, self.spooled)
        self._hash.update(data)
        self.spooled += len(data)
        SPOOLED.add(len(data))
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            SPOOLED.add(-self.spooled)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def spooled_ado_source(ctx: MigrationContext, url: str, directory: Path | None) -> Spool:
    return Spool(lambda start: ctx.ado.stream_attachment(url, start=start), directory)


def why_refused(err: ApiError) -> str:
    detail = "; ".join(err.messages + [f"{k}: {v}" for k, v in sorted(err.field_errors.items())])
    if err.status == 413:
        return f"Jira refused the file as too large (HTTP 413): {detail or 'over the site attachment limit'}"
    return f"Jira refused the file (HTTP {err.status}): {detail or 'no reason given'}"


class IssueFiles:
    """The files of one Jira issue, each written once."""

    def __init__(
        self,
        sessions: async_sessionmaker,
        ctx: MigrationContext,
        run_id: str,
        issue_key: str,
        *,
        adopted: bool = False,
        ledger: WriteLedger | None = None,
    ) -> None:
        self._sessions = sessions
        # A batch's ledger records its files' pending marks and results a window at a time (fewer statements).
        self._ledger = ledger
        # An adopted issue (written by another migration) may hold the file already: look before sending.
        self.adopted = adopted
        self._ctx = ctx
        self._run_id = run_id
        self.issue_key = issue_key
        self._claim_lock = asyncio.Lock()

    async def listing(self) -> list[Attachment]:
        issue = await self._ctx.jira.get_issue(self.issue_key, fields=["attachment"])
        return [Attachment.model_validate(a) for a in issue.fields.get("attachment") or []]

    async def put(
        self,
        kind: str,
        source_key: str,
        filename: str,
        size: int | None,
        source: ByteFactory,
        record: ItemRecord | None,
        detail: dict[str, Any] | None = None,
    ) -> FileOutcome:
        if record is not None and record.state == DONE:
            return FileOutcome("done", record.target_key)
        if record is not None and record.state == FAILED and record.run_id == self._run_id:
            # Refused earlier in this very run (a batch retry): the answer will not change until
            # the cause is fixed, and re-sending e.g. a 10 MB file to hear 413 again costs time.
            return FileOutcome("failed", error=record.error)
        detail = dict(detail or {})
        if (record is not None and record.state == PENDING) or self.adopted:
            found = await self._reconcile(kind, source_key, filename, size, detail, adopted=self.adopted)
            if found:
                return found
        ambiguous = 0
        while True:
            if self._ledger is not None:
                await self._ledger.pending(kind, source_key)
            else:
                async with self._sessions() as session:
                    await item_records.mark_pending(session, self._ctx.migration_id, kind, [source_key], self._run_id)
                    await session.commit()
            digest = _Digest()
            try:
                uploaded = await self._ctx.jira.upload_attachment(self.issue_key, filename, digest.wrap(source), size)
            except AmbiguousWriteError:
                ambiguous += 1
                # What was sent is known byte for byte (the spool's digest, else the bytes as they streamed out): a
                # copy of the same name and size is claimed only if Jira holds those bytes, and nothing is downloaded
                # from ADO again to tell. A send cut short (no whole digest) has no copy to find but by name and size.
                expected = (source.sha256 if isinstance(source, Spool) else None) or digest.whole_sha256
                found = await self._reconcile(kind, source_key, filename, size, detail, expected_sha256=expected)
                if found:
                    return found
                if ambiguous >= AMBIGUOUS_TRIES:
                    raise
                continue
            except SourceUnavailable as err:
                return await self._fail(kind, source_key, str(err), {**detail, "filename": filename})
            except ApiError as err:
                if err.status in (401, 403) or err.retryable or err.status >= 500:
                    raise
                return await self._fail(kind, source_key, why_refused(err), {**detail, "filename": filename})
            if not uploaded:
                raise AmbiguousWriteError("POST", f"/issue/{self.issue_key}/attachments", "no attachment in the answer")
            att = uploaded[0]
            detail.update(
                filename=att.filename,
                size=att.size if att.size is not None else digest.size,
                sha256=digest.hexdigest,
                issue=self.issue_key,  # an undo removes the file on its own only where the issue stays
            )
            if size is not None and digest.size != size:
                detail["source_size"] = size
            await self._record_done(kind, source_key, str(att.id), detail)
            return FileOutcome("created", str(att.id))

    async def put_together(self, files: list[FileToSend]) -> list[FileOutcome]:
        """Several files in one request (Jira takes many `file` parts), each still written exactly once: every
        file's pending mark committed before the request, each file's result after it; a lost answer is settled
        file by file (name, size, then the sha-256 of the bytes sent), and what Jira does not hold is sent again.
        Jira refuses the whole request for one file it refuses (e.g. 413, too large): then each file goes again
        alone, so the refused one fails alone with its reason and the others land."""
        outcomes: dict[int, FileOutcome] = {}
        to_send: list[int] = []
        unsure: list[int] = []  # pending from an earlier attempt, or on an adopted issue: looked for first
        for i, f in enumerate(files):
            record = f.record
            if record is not None and record.state == DONE:
                outcomes[i] = FileOutcome("done", record.target_key)
            elif record is not None and record.state == FAILED and record.run_id == self._run_id:
                outcomes[i] = FileOutcome("failed", error=record.error)
            elif (record is not None and record.state == PENDING) or self.adopted:
                unsure.append(i)
            else:
                to_send.append(i)
        if unsure:
            # One listing of the issue for all of them.
            listing = await self.listing()
            for i in unsure:
                f = files[i]
                found = await self._reconcile(
                    f.kind, f.source_key, f.filename, f.size, dict(f.detail or {}), self.adopted, listing=listing
                )
                if found:
                    outcomes[i] = found
                else:
                    to_send.append(i)
            to_send.sort()
        ambiguous = 0
        while to_send:
            await self._mark_pending([(files[i].kind, files[i].source_key) for i in to_send])
            digests = {i: _Digest() for i in to_send}
            parts = [UploadFile(files[i].filename, digests[i].wrap(files[i].source), files[i].size) for i in to_send]
            try:
                uploaded = await self._ctx.jira.upload_attachments(self.issue_key, parts)
            except AmbiguousWriteError:
                ambiguous += 1
                to_send = await self._settle(files, to_send, digests, outcomes)
                if to_send and ambiguous >= AMBIGUOUS_TRIES:
                    raise
                continue
            except SourceUnavailable as err:
                # That file alone fails. The request was cut before its end, which should leave nothing attached;
                # the files sent whole before it are looked for all the same before they go again.
                gone = next((i for i in to_send if digests[i].unavailable), to_send[0])
                f = files[gone]
                outcomes[gone] = await self._fail(
                    f.kind, f.source_key, str(err), {**(f.detail or {}), "filename": f.filename}
                )
                to_send = [i for i in to_send if i != gone]
                if any(digests[i].whole_sha256 for i in to_send):
                    to_send = await self._settle(files, to_send, digests, outcomes)
                continue
            except ApiError as err:
                if err.status in (401, 403) or err.retryable or err.status >= 500:
                    raise
                if len(to_send) == 1:
                    f = files[to_send[0]]
                    reason = why_refused(err)
                    outcomes[to_send[0]] = await self._fail(
                        f.kind, f.source_key, reason, {**(f.detail or {}), "filename": f.filename}
                    )
                    break
                # Refused as a whole for one file's sake, nothing attached: each file again alone.
                for i in to_send:
                    f = files[i]
                    outcomes[i] = await self.put(f.kind, f.source_key, f.filename, f.size, f.source, None, f.detail)
                break
            if len(uploaded) != len(to_send):
                raise AmbiguousWriteError(
                    "POST", f"/issue/{self.issue_key}/attachments", "not every file in the answer"
                )
            if any(att.filename != files[i].filename for i, att in zip(to_send, uploaded, strict=True)):
                # Not in the order sent: which id is which file is read from the issue, by name, size and sha-256.
                to_send = await self._settle(files, to_send, digests, outcomes)
                if to_send:
                    raise AmbiguousWriteError(
                        "POST", f"/issue/{self.issue_key}/attachments", "files of the answer not on the issue"
                    )
                break
            for i, att in zip(to_send, uploaded, strict=True):
                f, digest = files[i], digests[i]
                detail = dict(f.detail or {})
                detail.update(
                    filename=att.filename,
                    size=att.size if att.size is not None else digest.size,
                    sha256=digest.hexdigest,
                    issue=self.issue_key,
                    together=len(to_send),
                )
                if digest.size != f.size:
                    detail["source_size"] = f.size
                await self._record_done(f.kind, f.source_key, str(att.id), detail)
                outcomes[i] = FileOutcome("created", str(att.id))
            break
        return [outcomes[i] for i in range(len(files))]

    async def _settle(
        self, files: list[FileToSend], sent: list[int], digests: dict[int, _Digest], outcomes: dict[int, FileOutcome]
    ) -> list[int]:
        """After a request whose outcome is unknown: each file found on the issue (name, size, and the sha-256 of
        the bytes sent where they went out whole) is recorded as done; the others are returned, to send again."""
        listing = await self.listing()
        left = []
        for i in sent:
            f = files[i]
            found = await self._reconcile(
                f.kind,
                f.source_key,
                f.filename,
                f.size,
                dict(f.detail or {}),
                expected_sha256=digests[i].whole_sha256,
                listing=listing,
            )
            if found:
                outcomes[i] = found
            else:
                left.append(i)
        return left

    async def _mark_pending(self, keys: list[tuple[str, str]]) -> None:
        if self._ledger is not None:
            for kind, source_key in keys:
                await self._ledger.pending(kind, source_key)
            return
        async with self._sessions() as session:
            await item_records.mark_pending_rows(session, self._ctx.migration_id, keys, self._run_id)
            await session.commit()

    async def _record_done(self, kind: str, source_key: str, target_key: str, detail: dict[str, Any]) -> None:
        if self._ledger is not None:
            await self._ledger.done(kind, source_key, target_key, detail)
            return
        async with self._sessions() as session:
            await item_records.mark_done(
                session, self._ctx.migration_id, kind, source_key, target_key, self._run_id, detail
            )
            await session.commit()

    async def _fail(self, kind: str, source_key: str, reason: str, detail: dict[str, Any]) -> FileOutcome:
        async with self._sessions() as session:
            await item_records.mark_failed(
                session, self._ctx.migration_id, kind, source_key, reason, self._run_id, detail
            )
            await session.commit()
        return FileOutcome("failed", error=reason)

    async def _reconcile(
        self,
        kind: str,
        source_key: str,
        filename: str,
        size: int | None,
        detail: dict[str, Any],
        adopted: bool = False,
        expected_sha256: str | None = None,
        listing: list[Attachment] | None = None,
    ) -> FileOutcome | None:
        """An earlier send may have landed: claim an unclaimed file of this name (and size) on the issue, and,
        where the source's digest is known (a spooled file), of that sha-256: a half-sent copy is not claimed.

        On an adopted issue the file may have come from the other migration: same rule, recorded as adopted.
        """
        async with self._claim_lock:
            candidates = [
                a
                for a in (listing if listing is not None else await self.listing())
                if a.filename == filename and (size is None or a.size is None or a.size == size)
            ]
            if not candidates:
                return None
            if self._ledger is not None:
                # A file this batch uploaded is claimed by its own record, committed or not yet.
                candidates = [a for a in candidates if not self._ledger.is_done(str(a.id))]
                await self._ledger.flush()
            async with self._sessions() as session:
                claimed = set(
                    await session.scalars(
                        select(ItemRecord.target_key).where(
                            ItemRecord.migration_id == self._ctx.migration_id,
                            ItemRecord.kind.in_(FILE_KINDS),
                            ItemRecord.state == DONE,
                            ItemRecord.target_key.in_([str(a.id) for a in candidates]),
                        )
                    )
                )
                free = [a for a in candidates if str(a.id) not in claimed]
                for att in free:
                    digest = hashlib.sha256()
                    async for chunk in self._ctx.jira.stream_attachment_content(str(att.id)):
                        digest.update(chunk)
                    if expected_sha256 is None or digest.hexdigest() == expected_sha256:
                        break
                else:
                    return None
                detail = {
                    **detail,
                    "filename": att.filename,
                    "size": att.size,
                    "sha256": digest.hexdigest(),
                    "adopted" if adopted else "reconciled": True,
                }
                await item_records.mark_done(
                    session, self._ctx.migration_id, kind, source_key, str(att.id), self._run_id, detail
                )
                await session.commit()
            return FileOutcome("adopted" if adopted else "created", str(att.id))


class _Digest:
    """sha-256 and size of the bytes as they stream past (the last attempt's, if re-sent)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0
        self.complete = False
        self.unavailable = False  # its source said the file is gone (which file of a request it was)

    @property
    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    @property
    def whole_sha256(self) -> str | None:
        """The digest of the last attempt's bytes, once its source was read to the end."""
        return self._hash.hexdigest() if self.complete else None

    def wrap(self, source: ByteFactory) -> ByteFactory:
        def factory() -> AsyncIterator[bytes]:
            self._hash = hashlib.sha256()
            self.size = 0
            self.complete = False
            return self._pump(source())

        return factory

    async def _pump(self, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                self._hash.update(chunk)
                self.size += len(chunk)
                yield chunk
            self.complete = True
        except ApiError as err:
            if err.status in (404, 410):
                self.unavailable = True
                raise SourceUnavailable(
                    "the file no longer exists in Azure DevOps (deleted, or not visible to the PAT)"
                ) from None
            raise


def content_url(ctx: MigrationContext, attachment_id: str) -> str:
    """Where Jira serves an attachment's bytes; an external media node with it renders inline."""
    return f"{ctx.target.base_url.rstrip('/')}/rest/api/3/attachment/content/{attachment_id}"


class RichText:
    """ADO HTML of one item rendered for its Jira issue: images re-hosted on the issue, `@` mentions
    as Jira accounts, `#123` as the migrated keys. `prepare` does the I/O; `render` is pure."""

    def __init__(
        self,
        sessions: async_sessionmaker,
        ctx: MigrationContext,
        lookups: Lookups,
        files: IssueFiles,
        item_id: int,
        own_attachments: dict[str, str],
    ) -> None:
        self._sessions = sessions
        self._ctx = ctx
        self._lookups = lookups
        self._files = files
        self._item_id = item_id
        self._own = own_attachments  # ADO guid → Jira attachment id, for the item's own attached files
        self._images: dict[str, Any] = {}
        self._keys: dict[int, str] = {}
        self.failures: list[str] = []
        self.uploaded = 0
        self._saw_images = False

    def _scan(self, htmls: Iterable[str]) -> tuple[dict[str, list[str]], set[int], bool]:
        """The ADO images (guid → srcs), the `#123` references, and whether there is any image, in these texts."""
        org = self._ctx.source.organization_url
        wanted: dict[str, list[str]] = {}
        refs: set[int] = set()
        saw_images = False
        for text in htmls:
            if not text:
                continue
            for src, _alt in image_sources(text):
                saw_images = True
                guid = ado_attachment_src(src, org)
                if guid:
                    wanted.setdefault(guid, []).append(src)
            if "#" in text:
                refs |= work_item_refs(text)
        return wanted, refs, saw_images

    def wanted(self, htmls: Iterable[str]) -> dict[str, set[str]]:
        """The records `prepare` of these texts reads, by kind: for a batch to read them all at once."""
        images, refs, _ = self._scan(htmls)
        return {
            ISSUE: {str(r) for r in refs},
            INLINE_IMAGE: {self.image_key(g) for g in images if g not in self._own},
        }

    async def prepare(self, htmls: Iterable[str], known: KnownRecords | None = None) -> None:
        """`known`: the records `wanted` named, read by the batch; without it they are read here."""
        wanted, refs, saw_images = self._scan(htmls)
        self._saw_images = self._saw_images or saw_images
        if refs:
            ref_keys = [str(r) for r in refs]
            if known is not None:
                keys = known.target_keys(ISSUE, ref_keys)
            else:
                async with self._sessions() as session:
                    keys = await item_records.target_keys(session, self._ctx.migration_id, ISSUE, ref_keys)
            self._keys = {int(k): v for k, v in keys.items()}
        missing = {g: srcs for g, srcs in wanted.items() if g not in self._own}
        records: dict[str, ItemRecord] = {}
        if missing:
            image_keys = [self.image_key(g) for g in missing]
            if known is not None:
                records = known.load(INLINE_IMAGE, image_keys)
            else:
                async with self._sessions() as session:
                    records = await item_records.load(session, self._ctx.migration_id, INLINE_IMAGE, image_keys)
        for guid, srcs in wanted.items():
            jira_id = self._own.get(guid)
            if jira_id is None:
                key = self.image_key(guid)
                outcome = await self._files.put(
                    INLINE_IMAGE,
                    key,
                    image_file_name(srcs[0], guid),
                    None,
                    ado_source(self._ctx, srcs[0]),
                    records.get(key),
                    {"ado_item": self._item_id, "guid": guid},
                )
                if outcome.state == "created":
                    self.uploaded += 1
                if outcome.state == "failed":
                    self.failures.append(f"inline image {guid}: {outcome.error}")
                jira_id = outcome.target_key
            for src in srcs:
                self._images[src] = AdfImage(url=content_url(self._ctx, jira_id)) if jira_id else DROP_IMAGE

    def image_key(self, guid: str) -> str:
        return f"{self._item_id}:{guid}"

    @property
    def has_links_to_resolve(self) -> bool:
        # Create-items rendered without image hosting or known keys; anything else it got right.
        return self._saw_images or bool(self._keys)

    def context(self) -> AdfContext:
        users = self._lookups.users_by_ado_id
        # A mention e-mails the person named whatever the project's notification scheme: a muted run writes "@Name".
        mention = None if self._ctx.plan.mute_notifications else lambda ado_identity, _name: users.get(ado_identity)
        return AdfContext(
            mention=mention,
            work_item_key=self._keys.get,
            image=lambda src, alt: self._image(src, alt),
            drop_source_host=urlsplit(self._ctx.source.organization_url).hostname,
            jira_site_url=self._ctx.target.base_url.rstrip("/"),
        )

    def _image(self, src: str, alt: str) -> Any:
        found = self._images.get(src)
        if isinstance(found, AdfImage) and alt:
            return AdfImage(url=found.url, alt=alt)
        return found

    def render(self, html: str) -> dict[str, Any]:
        return html_to_adf(html, self.context())

    def render_parts(self, parts: list[str]) -> dict[str, Any]:
        return html_parts_to_adf(parts, self.context())
