"""Attachments: multipart upload (streamed to disk, size-capped), metadata, content and deletion."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from .. import render
from ..errors import JiraError
from ..state import JiraState
from .deps import JiraSite, base_url

router = APIRouter()

_CHUNK = 1 << 20


@dataclass
class _Received:
    path: Path
    filename: str
    mime_type: str
    size: int
    sha256: str


async def _receive(up: UploadFile, state: JiraState, parts: list[Path]) -> _Received:
    """Stream one uploaded file to a part file (listed in `parts` so the caller removes what is left)."""
    limit = state.config.max_attachment_bytes
    part = state.new_attachment_path()
    parts.append(part)
    digest = hashlib.sha256()
    size = 0
    with open(part, "wb") as out:
        while chunk := await up.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise JiraError(
                    413,
                    [
                        f"The file '{up.filename}' is too large to attach. Attachments cannot be larger "
                        f"than {limit} bytes."
                    ],
                )
            digest.update(chunk)
            out.write(chunk)
    return _Received(
        part, up.filename or "file", up.content_type or "application/octet-stream", size, digest.hexdigest()
    )


@router.post("/issue/{issueIdOrKey}/attachments")
async def add_attachments(request: Request, state: JiraSite, issueIdOrKey: str) -> Response:
    if request.headers.get("x-atlassian-token", "").lower() != "no-check":
        return PlainTextResponse("XSRF check failed", status_code=403)
    issue = state.issue(issueIdOrKey)
    form = await request.form(max_files=60, max_fields=60)
    parts: list[Path] = []
    try:
        uploads = [v for k, v in form.multi_items() if k == "file" and isinstance(v, UploadFile)]
        if not uploads:
            raise JiraError(400, ["No file was uploaded: the multipart field must be named 'file'."])
        if len(uploads) > state.attachment_slots(issue):
            limit = state.config.max_attachments_per_issue
            raise JiraError(413, [f"The issue has reached the limit of {limit} attachments per issue."])
        received = [await _receive(up, state, parts) for up in uploads]
        added = [state.add_attachment(issue, r.filename, r.mime_type, r.path, r.size, r.sha256) for r in received]
    finally:
        await form.close()
        for part in parts:
            part.unlink(missing_ok=True)
    base = base_url(request)
    return JSONResponse([render.attachment(a, state, base) for a in added])


@router.get("/attachment/{id}")
async def attachment_meta(request: Request, state: JiraSite, id: str) -> dict:
    return render.attachment_metadata(state.attachment(id), state, base_url(request))


@router.get("/attachment/content/{id}")
async def attachment_content(request: Request, state: JiraSite, id: str, redirect: bool = True) -> Response:
    att = state.attachment(id)
    if redirect:
        # Jira Cloud answers with a redirect to its media service
        return RedirectResponse(f"{base_url(request)}/rest/api/3/attachment/content/{att.id}?redirect=false", 303)
    return FileResponse(state.attachment_path(att), media_type=att.mime_type, filename=att.filename)


@router.delete("/attachment/{id}")
async def delete_attachment(state: JiraSite, id: str) -> Response:
    state.delete_attachment(state.attachment(id))
    return Response(status_code=204)
