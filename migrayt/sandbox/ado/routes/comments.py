"""Work item comments (a preview API): pages with continuation tokens, and one comment."""

from __future__ import annotations

import binascii
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..errors import AdoError
from ..render import decode_token, encode_token
from .deps import AdoSite, P, Site, bad_token, check_scope, int_param, item_exists, reply, require_preview, route

router = APIRouter(include_in_schema=False)

MAX_COMMENTS_PAGE = 200


def _chosen(site: AdoSite, item_id: int, order: str | None, ids: str | None) -> list:
    found = site.project.comments(item_id)
    if (order or "desc").lower() != "asc":
        found = list(reversed(found))  # newest first, as the service defaults
    if ids:
        wanted = {int(x) for x in ids.split(",") if x.strip().isdigit()}
        found = [c for c in found if c.id in wanted]
    return found


@route(router, [f"{P}/wit/workitems/{{item_id}}/comments"])
async def comments(request: Request, site: Site, organization: str, project: str, item_id: int) -> Response:
    check_scope(site, organization, project)
    require_preview(request)
    item_exists(site, item_id)
    q = request.query_params
    top = min(max(int_param(request, "$top", MAX_COMMENTS_PAGE) or MAX_COMMENTS_PAGE, 1), MAX_COMMENTS_PAGE)
    all_comments = _chosen(site, item_id, q.get("order"), q.get("ids"))
    token = q.get("continuationToken")
    try:
        start = decode_token(token) if token else 0
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_token() from None
    page = all_comments[start : start + top]
    r = site.render
    data: dict[str, Any] = {
        "totalCount": len(all_comments),
        "count": len(page),
        "comments": [r.comment(c) for c in page],
    }
    if start + top < len(all_comments):
        nxt = encode_token(start + top)
        data["continuationToken"] = nxt
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in q.items() if k != "continuationToken")
        joiner = "&" if query else ""
        data["nextPage"] = (
            f"{r.project_url}/_apis/wit/workItems/{item_id}/comments?{query}{joiner}continuationToken={nxt}"
        )
    data["url"] = f"{r.project_url}/_apis/wit/workItems/{item_id}/comments"
    return reply(request, data)


@route(router, [f"{P}/wit/workitems/{{item_id}}/comments/{{comment_id}}"])
async def comment(
    request: Request, site: Site, organization: str, project: str, item_id: int, comment_id: int
) -> Response:
    check_scope(site, organization, project)
    require_preview(request)
    item_exists(site, item_id)
    for c in site.project.comments(item_id):
        if c.id == comment_id:
            return reply(request, site.render.comment(c))
    raise AdoError(
        404, f"TF401503: Comment {comment_id} on work item {item_id} does not exist.", "CommentNotFoundException"
    )
