"""Attachments: multipart upload (parsed as it streams in, size-capped, large files kept as their digest),
the site's attachment settings, metadata, content and deletion."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from .. import render
from ..errors import JiraError
from ..state import JiraState
from .deps import JiraSite, base_url

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

    from migrayt.sandbox.faults import FaultController

router = APIRouter()


@dataclass
class _Received:
    path: Path | None  # None: too large to keep, only size and sha-256
    filename: str
    mime_type: str
    size: int
    sha256: str


class _Upload:
    """One multipart body read as it arrives: every `file` part hashed and counted, its bytes written to a part
    file while it stays under the keep size (listed in `parts` so the caller removes what is left)."""

    def __init__(self, state: JiraState, issue_slots: int, parts: list[Path]) -> None:
        self._state = state
        self._slots = issue_slots
        self._parts = parts
        self.received: list[_Received] = []
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._file: BinaryIO | None = None
        self._current: _Received | None = None
        self._digest = hashlib.sha256()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._add("_field", data[start:end]),
            "on_header_value": lambda data, start, end: self._add("_value", data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _add(self, name: str, data: bytes) -> None:
        setattr(self, name, getattr(self, name) + data)

    def _begin(self) -> None:
        self._headers = {}
        self._current = None

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _kind, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") != b"file" or b"filename" not in options:
            return  # other fields are ignored, as Jira does
        if len(self.received) >= self._slots:
            limit = self._state.config.max_attachments_per_issue
            raise JiraError(413, [f"The issue has reached the limit of {limit} attachments per issue."])
        filename = options[b"filename"].decode("utf-8", "replace") or "file"
        mime = self._headers.get(b"content-type", b"").decode("latin-1") or "application/octet-stream"
        part = self._state.new_attachment_path()
        self._parts.append(part)
        self._file = open(part, "wb")  # noqa: SIM115 - closed at the part's end or when it grows too large
        self._current = _Received(part, filename, mime, 0, "")
        self._digest = hashlib.sha256()

    def _data(self, data: bytes, start: int, end: int) -> None:
        current = self._current
        if current is None:
            return
        chunk = data[start:end]
        current.size += len(chunk)
        limit = self._state.config.max_attachment_bytes
        if current.size > limit:
            raise JiraError(
                413,
                [
                    f"The file '{current.filename}' is too large to attach. Attachments cannot be larger "
                    f"than {limit} bytes."
                ],
            )
        self._digest.update(chunk)
        if self._file is not None:
            if current.size > self._state.config.keep_attachment_bytes:
                self.close()
                assert current.path is not None
                current.path.unlink(missing_ok=True)
                current.path = None
            else:
                self._file.write(chunk)

    def _end(self) -> None:
        if self._current is not None:
            self.close()
            self._current.sha256 = self._digest.hexdigest()
            self.received.append(self._current)
            self._current = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@router.post("/issue/{issueIdOrKey}/attachments")
async def add_attachments(request: Request, state: JiraSite, issueIdOrKey: str) -> Response:
    if request.headers.get("x-atlassian-token", "").lower() != "no-check":
        return PlainTextResponse("XSRF check failed", status_code=403)
    issue = state.issue(issueIdOrKey)
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise JiraError(400, ["No file was uploaded: the multipart field must be named 'file'."])
    faults: FaultController | None = getattr(request.app.state, "fault_controller", None)
    # Only an upload whose body gets this far counts as one of the uploads to throttle.
    throttle_at = faults.config.throttle_upload_at_bytes if faults and faults.config.throttle_uploads else None
    parts: list[Path] = []
    upload = _Upload(state, state.attachment_slots(issue), parts)
    parser = MultipartParser(options[b"boundary"], upload.callbacks())
    read = 0
    try:
        async for chunk in request.stream():
            read += len(chunk)
            if throttle_at is not None and faults and read >= throttle_at and faults.take_upload_throttle() is not None:
                retry_after = str(math.ceil(faults.config.retry_after_seconds))
                body = {"errorMessages": ["Rate limit exceeded."], "errors": {}}
                return JSONResponse(body, status_code=429, headers={"Retry-After": retry_after})
            parser.write(chunk)
        parser.finalize()
        if not upload.received:
            raise JiraError(400, ["No file was uploaded: the multipart field must be named 'file'."])
        added = [
            state.add_attachment(issue, r.filename, r.mime_type, r.path, r.size, r.sha256) for r in upload.received
        ]
    except ClientDisconnect:
        # The client went away part-way (its own download failed): nothing is attached, nobody hears back.
        return Response(status_code=400)
    finally:
        upload.close()
        for part in parts:
            part.unlink(missing_ok=True)
    base = base_url(request)
    if state.config.attachments_answer_order == "reversed":
        added.reverse()
    return JSONResponse([render.attachment(a, state, base) for a in added])


@router.get("/attachment/meta")
async def attachment_settings(state: JiraSite) -> dict:
    return {"enabled": True, "uploadLimit": state.config.max_attachment_bytes}


@router.get("/instance/license")
async def license(state: JiraSite) -> dict:
    # What a scan reads to know the plan's file storage (Free: 2 GB).
    return {"applications": [{"id": "jira-software", "plan": state.config.license_plan}]}


@router.get("/attachment/{id}")
async def attachment_meta(request: Request, state: JiraSite, id: str) -> dict:
    return render.attachment_metadata(state.attachment(id), state, base_url(request))


@router.get("/attachment/content/{id}")
async def attachment_content(request: Request, state: JiraSite, id: str, redirect: bool = True) -> Response:
    att = state.attachment(id)
    if redirect:
        # Jira Cloud answers with a redirect to its media service
        return RedirectResponse(f"{base_url(request)}/rest/api/3/attachment/content/{att.id}?redirect=false", 303)
    if att.kept:
        return FileResponse(state.attachment_path(att), media_type=att.mime_type, filename=att.filename)
    known = getattr(request.app.state, "known_content", None)
    content = known(att.size, att.sha256) if known else None
    if content is None:
        raise JiraError(404, [f"The sandbox kept only the size and sha-256 of attachment {att.id}, not its bytes."])
    headers = {"Content-Length": str(att.size)}
    return StreamingResponse(content, media_type=att.mime_type, headers=headers)


@router.delete("/attachment/{id}")
async def delete_attachment(state: JiraSite, id: str) -> Response:
    state.delete_attachment(state.attachment(id))
    return Response(status_code=204)
