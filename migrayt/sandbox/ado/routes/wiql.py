"""WIQL queries, at organization, project and team level."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..errors import AdoError
from ..wiql import WiqlError, run_query
from .deps import O, P, Site, check_scope, int_param, reply, route

router = APIRouter(include_in_schema=False)


@route(router, [f"{P}/wit/wiql", "/{organization}/{project}/{team}/_apis/wit/wiql", f"{O}/wit/wiql"], "POST")
async def wiql(
    request: Request, site: Site, organization: str, project: str | None = None, team: str | None = None
) -> Response:
    check_scope(site, organization, project, team)
    try:
        body = await request.json()
        text = body["query"]
    except (ValueError, KeyError, TypeError):
        raise AdoError(
            400,
            "VS402323: The request body must contain a WIQL query in the 'query' property.",
            "ArgumentNullException",
            "System",
        ) from None
    top = int_param(request, "$top")
    today = site.config.today
    try:
        q, ids = run_query(site.project, text, top, today)
    except WiqlError as e:
        raise AdoError(400, str(e), e.type_key) from None
    r = site.render
    data = {
        "queryType": "flat",
        "queryResultType": "workItem",
        "asOf": datetime.now(today.tzinfo).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "columns": [r.field_ref(f) for f in q.columns],
        "sortColumns": [{"field": r.field_ref(k.field), "descending": k.descending} for k in q.order],
        "workItems": [{"id": i, "url": f"{r.org_url}/_apis/wit/workItems/{i}"} for i in ids],
    }
    return reply(request, data)
