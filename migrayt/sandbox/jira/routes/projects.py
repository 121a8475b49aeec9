"""Listing projects: `GET /rest/api/3/project` (all, deprecated but what most clients still call) and
`GET /rest/api/3/project/search` (paged), as the platform v3 spec describes them. The site holds the one
project the migration lands in.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request

from .. import catalog as cat
from .. import render
from ..entities import jira_time
from ..errors import JiraError
from ..state import JiraState
from .deps import JiraSite

SEARCH_MAX = 100  # larger maxResults fall back to this, as the spec says
_ORDERS = {
    "key",
    "name",
    "category",
    "owner",
    "issueCount",
    "lastIssueUpdatedDate",
    "lastIssueUpdatedTime",
    "archivedDate",
    "deletedDate",
}


def _project(state: JiraState, base: str, expand: set[str]) -> dict[str, Any]:
    out = render.project(state, base)
    out.update({"style": "classic", "isPrivate": False, "properties": {}})
    if "description" in expand:
        out["description"] = ""
    if "lead" in expand:
        out["lead"] = render.user(state.me, base)
    if "issuetypes" in expand:
        out["issueTypes"] = [render.issue_type(it, base) for it in cat.ISSUE_TYPES]
    if "insight" in expand:
        insight: dict[str, Any] = {"totalIssueCount": len(state.issues)}
        if state.issues:
            insight["lastIssueUpdateTime"] = jira_time(max(i.updated for i in state.issues.values()))
        out["insight"] = insight
    if expand:
        # The spec's Project has no `projectKeys`, so that expansion is not offered.
        out["expand"] = "description,lead,issueTypes,url,permissions,insight"
    return out


def _expansions(expand: str | None) -> set[str]:
    return {e.strip().lower() for e in (expand or "").split(",") if e.strip()}


router = APIRouter()


@router.get("/project")
async def all_projects(request: Request, state: JiraSite, expand: str | None = None) -> list:
    return [_project(state, str(request.base_url).rstrip("/"), _expansions(expand))]


@router.get("/project/search")
async def search_projects(
    request: Request,
    state: JiraSite,
    startAt: int = 0,
    maxResults: int = 50,
    orderBy: str = "key",
    query: str | None = None,
    typeKey: str | None = None,
    expand: str | None = None,
    keys: Annotated[list[str] | None, Query()] = None,
    ids: Annotated[list[int] | None, Query(alias="id")] = None,
) -> dict:
    if startAt < 0:
        raise JiraError(400, ["Parameter 'startAt' must be greater than or equal to 0"])
    if maxResults < 0:
        raise JiraError(400, ["Parameter 'maxResults' must be greater than or equal to 0"])
    if orderBy.lstrip("+-") not in _ORDERS:
        raise JiraError(400, [f"Invalid 'orderBy' parameter: {orderBy}"])
    max_results = min(maxResults, SEARCH_MAX)
    base = str(request.base_url).rstrip("/")
    key, name = state.config.project_key, state.config.project_name
    matches = (
        (not query or query.lower() in key.lower() or query.lower() in name.lower())
        and (not typeKey or typeKey.lower() == "software")
        and (not keys or key in {k.upper() for k in keys})
        and (not ids or int(state.project_id) in ids)
    )
    found = [_project(state, base, _expansions(expand))] if matches else []
    page = found[startAt : startAt + max_results]
    is_last = startAt + len(page) >= len(found)
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("startAt", "maxResults")]

    def page_url(start: int) -> str:
        query = urlencode([*params, ("startAt", start), ("maxResults", max_results)])
        return f"{base}/rest/api/3/project/search?{query}"

    out: dict[str, Any] = {
        "self": page_url(startAt),
        "maxResults": max_results,
        "startAt": startAt,
        "total": len(found),
        "isLast": is_last,
        "values": page,
    }
    if not is_last and max_results:
        out["nextPage"] = page_url(startAt + max_results)
    return out
