"""People: graph users (paged by continuation token) and identity lookups."""

from __future__ import annotations

import binascii

from fastapi import APIRouter, Request
from fastapi.responses import Response

from migrayt.sandbox.generator.models import GeneratedUser

from ..errors import AdoError
from ..render import decode_token, encode_token
from .deps import O, Site, bad_token, check_scope, reply, require_preview, route

router = APIRouter(include_in_schema=False)


@route(router, [f"{O}/graph/users"])
async def graph_users(request: Request, site: Site, organization: str) -> Response:
    check_scope(site, organization)
    require_preview(request)
    token = request.query_params.get("continuationToken")
    try:
        start = decode_token(token) if token else 0
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_token("Microsoft.VisualStudio.Services.Graph") from None
    users = site.project.users
    size = site.config.graph_page_size
    page = users[start : start + size]
    headers = {}
    if start + size < len(users):
        headers["X-MS-ContinuationToken"] = encode_token(start + size)
    value = [site.render.graph_user(u) for u in page]
    return reply(request, {"count": len(value), "value": value}, headers=headers)


def _search(users: list[GeneratedUser], search_filter: str, filter_value: str | None) -> list[GeneratedUser]:
    value = (filter_value or "").strip().lower()
    kind = search_filter.lower()
    if kind in ("mailaddress", "accountname"):
        return [u for u in users if value in ((u.email or "").lower(), u.unique_name.lower())]
    if kind == "displayname":
        return [u for u in users if u.display_name.lower() == value]
    # General: email, account or display name
    return [
        u for u in users if value and value in ((u.email or "").lower(), u.unique_name.lower(), u.display_name.lower())
    ]


@route(router, [f"{O}/identities"])
async def identities(request: Request, site: Site, organization: str) -> Response:
    check_scope(site, organization)
    q = request.query_params
    users = site.project.users
    if q.get("identityIds"):
        wanted = {x.strip().lower() for x in q["identityIds"].split(",")}
        found = [u for u in users if u.id in wanted]
    elif q.get("searchFilter"):
        found = _search(users, q["searchFilter"], q.get("filterValue"))
    else:
        raise AdoError(
            400,
            "VS403499: One of searchFilter, descriptors, subjectDescriptors or identityIds must be given.",
            "ArgumentException",
            "System",
        )
    value = [site.render.identity(u) for u in found]
    return reply(request, {"count": len(value), "value": value})
