"""Work items: one, many (by ids or in a batch), and their revisions and updates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..errors import AdoError, no_such_item
from .deps import AdoSite, O, P, Site, check_scope, int_param, item_exists, parse_date, reply, route

router = APIRouter(include_in_schema=False)

MAX_BATCH = 200


def _check_expand(fields: list[str] | None, expand: str | None) -> None:
    if fields and expand and expand.lower() != "none":
        raise AdoError(
            400,
            "The expand parameter can not be used with the fields parameter.",
            "ConflictingParametersException",
            "Microsoft.TeamFoundation.WorkItemTracking.WebApi",
        )


def _check_ids(ids: list[int]) -> None:
    if not ids:
        raise AdoError(
            400,
            "VS402308: The ids parameter must contain at least one work item id.",
            "ArgumentException",
            "System",
        )
    if len(ids) > MAX_BATCH:
        raise AdoError(
            400,
            f"VS403474: The maximum number of work items that can be requested at once is {MAX_BATCH}; "
            f"{len(ids)} were requested.",
            "WorkItemTrackingBatchLimitExceededException",
        )


def _get_items(
    request: Request,
    site: AdoSite,
    ids: list[int],
    fields: list[str] | None,
    expand: str | None,
    as_of: str | None,
    error_policy: str | None,
) -> Response:
    _check_ids(ids)
    _check_expand(fields, expand)
    when = parse_date(site, as_of)
    omit = (error_policy or "fail").lower() == "omit"
    value: list[Any] = []
    for item_id in ids:
        if not site.project.exists(item_id):
            if omit:
                value.append(None)
                continue
            item_exists(site, item_id)
        doc = site.render.work_item(item_id, expand, fields, when, default_links=False)
        if doc is None and not omit:
            raise no_such_item(item_id)
        value.append(doc)
    return reply(request, {"count": len(value), "value": value})


@route(router, [f"{P}/wit/workitemsbatch", f"{O}/wit/workitemsbatch"], "POST")
async def batch(request: Request, site: Site, organization: str, project: str | None = None) -> Response:
    check_scope(site, organization, project)
    try:
        body = await request.json()
        ids = [int(i) for i in body.get("ids") or []]
    except (ValueError, TypeError, AttributeError):
        raise AdoError(
            400, "VS402308: The request body is not a valid WorkItemBatchGetRequest.", "ArgumentException", "System"
        ) from None
    return _get_items(
        request, site, ids, body.get("fields"), body.get("$expand"), body.get("asOf"), body.get("errorPolicy")
    )


@route(router, [f"{P}/wit/workitems", f"{O}/wit/workitems"])
async def list_items(request: Request, site: Site, organization: str, project: str | None = None) -> Response:
    check_scope(site, organization, project)
    q = request.query_params
    try:
        ids = [int(x) for x in q.get("ids", "").split(",") if x.strip()]
    except ValueError:
        raise AdoError(
            400, "The ids parameter must be a comma-separated list of integers.", "ArgumentException", "System"
        ) from None
    fields = [f for f in q.get("fields", "").split(",") if f.strip()] or None
    return _get_items(request, site, ids, fields, q.get("$expand"), q.get("asOf"), q.get("errorPolicy"))


@route(router, [f"{P}/wit/workitems/{{item_id}}", f"{O}/wit/workitems/{{item_id}}"])
async def get_item(
    request: Request, site: Site, organization: str, item_id: int, project: str | None = None
) -> Response:
    check_scope(site, organization, project)
    item_exists(site, item_id)
    q = request.query_params
    fields = [f for f in q.get("fields", "").split(",") if f.strip()] or None
    expand = q.get("$expand")
    _check_expand(fields, expand)
    doc = site.render.work_item(item_id, expand, fields, parse_date(site, q.get("asOf")))
    if doc is None:
        raise no_such_item(item_id)
    return reply(request, doc)


@route(router, [f"{P}/wit/workitems/{{item_id}}/revisions", f"{O}/wit/workitems/{{item_id}}/revisions"])
async def revisions(
    request: Request, site: Site, organization: str, item_id: int, project: str | None = None
) -> Response:
    check_scope(site, organization, project)
    item_exists(site, item_id)
    total = len(site.project.revisions(item_id))
    skip = int_param(request, "$skip", 0) or 0
    top = int_param(request, "$top", 200) or 200
    expand = request.query_params.get("$expand")
    value = [site.render.revision(item_id, n, expand) for n in range(skip + 1, min(total, skip + top) + 1)]
    return reply(request, {"count": len(value), "value": value})


@route(
    router,
    [f"{P}/wit/workitems/{{item_id}}/revisions/{{number}}", f"{O}/wit/workitems/{{item_id}}/revisions/{{number}}"],
)
async def revision(
    request: Request, site: Site, organization: str, item_id: int, number: int, project: str | None = None
) -> Response:
    check_scope(site, organization, project)
    item_exists(site, item_id)
    if not 1 <= number <= len(site.project.revisions(item_id)):
        raise AdoError(
            404,
            f"TF401262: Work item {item_id} revision {number} does not exist.",
            "WorkItemRevisionNotFoundException",
        )
    return reply(request, site.render.revision(item_id, number, request.query_params.get("$expand")))


@route(router, [f"{P}/wit/workitems/{{item_id}}/updates", f"{O}/wit/workitems/{{item_id}}/updates"])
async def updates(
    request: Request, site: Site, organization: str, item_id: int, project: str | None = None
) -> Response:
    check_scope(site, organization, project)
    item_exists(site, item_id)
    skip = int_param(request, "$skip", 0) or 0
    top = int_param(request, "$top", 200) or 200
    value = site.render.updates(item_id)[skip : skip + top]
    return reply(request, {"count": len(value), "value": value})


@route(
    router, [f"{P}/wit/workitems/{{item_id}}/updates/{{number}}", f"{O}/wit/workitems/{{item_id}}/updates/{{number}}"]
)
async def update(
    request: Request, site: Site, organization: str, item_id: int, number: int, project: str | None = None
) -> Response:
    check_scope(site, organization, project)
    item_exists(site, item_id)
    all_updates = site.render.updates(item_id)
    if not 1 <= number <= len(all_updates):
        raise AdoError(404, f"Work item {item_id} update {number} does not exist.", "WorkItemUpdateNotFoundException")
    return reply(request, all_updates[number - 1])
