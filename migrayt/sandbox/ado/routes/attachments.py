"""Attachment content, streamed."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from ..errors import AdoError
from .deps import O, P, Site, check_scope, route

router = APIRouter(include_in_schema=False)


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
        "Content-Length": str(att.size),
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
    }
    return StreamingResponse(
        site.project.attachment_chunks(att.guid), media_type="application/octet-stream", headers=headers
    )
