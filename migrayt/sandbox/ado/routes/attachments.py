"""Attachment content, streamed: byte ranges, and (as faults) a throughput cap and connections dropped mid-file."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from migrayt.sandbox.faults import ConnectionDropped, FaultController

from ..errors import AdoError
from .deps import O, P, Site, check_scope, route

router = APIRouter(include_in_schema=False)

_RANGE = re.compile(r"^\s*bytes=(\d+)-(\d*)\s*$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `bytes=a-b` or `bytes=a-` range; None serves the whole file."""
    match = _RANGE.match(header or "")
    if not match:
        return None
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else size - 1
    return first, min(last, size - 1)


async def _served(
    chunks: Iterator[bytes], length: int, faults: FaultController | None, path: str
) -> AsyncIterator[bytes]:
    """`length` bytes of `chunks`, paced to the fault settings' rate; cut after `drop_download_at_bytes` when
    this download is one of those to drop (only downloads that get that far count)."""
    config = faults.config if faults else None
    rate = config.download_bytes_per_second if config else None
    drop_at = config.drop_download_at_bytes if config and config.drop_downloads else None
    started = time.monotonic()
    sent = 0
    for chunk in chunks:
        chunk = chunk[: length - sent]
        if drop_at is not None and faults is not None and sent + len(chunk) > drop_at:
            if faults.take_download_drop() is not None:
                yield chunk[: drop_at - sent]
                faults.counters.attachment_bytes_served += drop_at - sent
                raise ConnectionDropped(f"ado: dropped the download of {path} after {drop_at} bytes")
            drop_at = None
        yield chunk
        sent += len(chunk)
        if faults is not None:
            faults.counters.attachment_bytes_served += len(chunk)
        if rate:
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        if sent >= length:
            return


@route(router, [f"{P}/wit/attachments/{{guid}}", f"{O}/wit/attachments/{{guid}}"])
async def attachment(
    request: Request, site: Site, organization: str, guid: str, project: str | None = None
) -> Response:
    check_scope(site, organization, project)
    try:
        att = site.project.attachment(guid)
    except KeyError:
        raise AdoError(404, f"VS402484: Attachment {guid} could not be found.", "AttachmentNotFoundException") from None
    name = request.query_params.get("fileName") or att.file_name
    disposition = "attachment" if request.query_params.get("download", "").lower() == "true" else "inline"
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
    }
    status = 200
    first, last = 0, att.size - 1
    wanted = _byte_range(request.headers.get("range"), att.size)
    if wanted is not None:
        first, last = wanted
        if first >= att.size or first > last:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{att.size}"})
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{att.size}"
    length = last - first + 1
    headers["Content-Length"] = str(length)
    faults: FaultController | None = getattr(request.app.state, "fault_controller", None)
    if faults is not None:
        faults.count_attachment_download(att.guid)
    body = _served(site.project.attachment_chunks(att.guid, start=first), length, faults, request.url.path)
    return StreamingResponse(body, status_code=status, media_type="application/octet-stream", headers=headers)
