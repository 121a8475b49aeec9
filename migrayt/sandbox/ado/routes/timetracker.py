"""7pace Timetracker's REST API (which really lives on its own host): worklogs by work item, paged by
`$skip` and `$count`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .deps import AdoSite, Site, check_scope, int_param, reply, route

router = APIRouter(include_in_schema=False)

MAX_7PACE_PAGE = 500


def _rows(site: AdoSite, ids: list[int], skip: int, count: int) -> list[dict[str, Any]]:
    p = site.project
    rows: list[dict[str, Any]] = []
    seen = 0
    for i in ids:
        if not 1 <= i <= p.n:
            continue
        for w in p.worklogs(i):
            if seen >= skip and len(rows) < count:
                rows.append(site.render.worklog(w))
            seen += 1
        if len(rows) >= count:
            break
    return rows


@route(router, ["/{organization}/_7pace/api/rest/worklogs", "/{organization}/_7pace/api/rest/worklogs/all"])
async def worklogs(request: Request, site: Site, organization: str) -> Response:
    check_scope(site, organization)
    if not site.project.spec.timetracker:
        return reply(request, {"error": {"code": "NotFound", "message": "7pace Timetracker is not installed"}}, 404)
    q = request.query_params
    count = min(max(int_param(request, "$count", MAX_7PACE_PAGE) or MAX_7PACE_PAGE, 1), MAX_7PACE_PAGE)
    skip = max(int_param(request, "$skip", 0) or 0, 0)
    if q.get("workItemIds"):
        try:
            ids = [int(x) for x in q["workItemIds"].split(",") if x.strip()]
        except ValueError:
            return reply(request, {"error": {"code": "BadRequest", "message": "workItemIds must be integers"}}, 400)
    else:
        ids = list(site.project.item_ids())
    return reply(request, {"data": _rows(site, ids, skip, count)})
