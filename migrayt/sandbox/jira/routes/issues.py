"""Issues: create (one or in bulk), read, edit, delete, entity properties and transitions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from .. import render
from ..errors import JiraError
from .deps import JiraSite, base_url, json_body, page_params

router = APIRouter()


@router.post("/issue", status_code=201)
async def create_issue(request: Request, state: JiraSite) -> dict:
    issue = state.create_issue(await json_body(request))
    return {"id": str(issue.id), "key": issue.key, "self": f"{base_url(request)}/rest/api/3/issue/{issue.id}"}


@router.post("/issue/bulk")
async def create_issues(request: Request, state: JiraSite) -> JSONResponse:
    created, failed = state.create_issues(await json_body(request))
    base = base_url(request)
    body = {
        "issues": [{"id": str(i.id), "key": i.key, "self": f"{base}/rest/api/3/issue/{i.id}"} for i in created],
        "errors": failed,
    }
    return JSONResponse(body, status_code=201 if created or not failed else 400)


BULK_FETCH_MAX = 100


@router.post("/issue/bulkfetch")
async def bulk_fetch(request: Request, state: JiraSite) -> dict:
    """Up to 100 issues by id or key; ones that do not exist are left out, as Jira does (no error)."""
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("issueIdsOrKeys"), list):
        raise JiraError(400, ["issueIdsOrKeys is required."])
    wanted = [str(k) for k in body["issueIdsOrKeys"]]
    if not wanted or len(wanted) > BULK_FETCH_MAX:
        raise JiraError(400, [f"issueIdsOrKeys must hold between 1 and {BULK_FETCH_MAX} issues."])
    chosen = render.select_fields(body.get("fields"), render.NAVIGABLE, state.field_ids, state.custom_fields)
    props = [p for p in body.get("properties") or [] if isinstance(p, str)]
    base = base_url(request)
    issues = []
    for ref in dict.fromkeys(wanted):
        try:
            issue = state.issue(ref)
        except JiraError:
            continue
        issues.append(render.issue(issue, state, base, chosen, props))
    return {"issues": issues, "issueErrors": []}


@router.get("/issue/{issueIdOrKey}")
async def get_issue(
    request: Request,
    state: JiraSite,
    issueIdOrKey: str,
    fields: Annotated[list[str] | None, Query()] = None,
    properties: Annotated[list[str] | None, Query()] = None,
) -> dict:
    issue = state.issue(issueIdOrKey)
    chosen = render.select_fields(fields, render.ALL_FIELDS, state.field_ids, state.custom_fields)
    props = [p for item in properties or [] for p in item.split(",") if p]
    return render.issue(issue, state, base_url(request), chosen, props)


@router.put("/issue/{issueIdOrKey}")
async def edit_issue(
    request: Request, state: JiraSite, issueIdOrKey: str, returnIssue: bool = False, notifyUsers: bool = True
) -> Response:
    issue = state.issue(issueIdOrKey)
    state.edit_issue(issue, await json_body(request), notify_users=notifyUsers)
    if returnIssue:
        return JSONResponse(
            render.issue(
                issue,
                state,
                base_url(request),
                render.select_fields(None, render.ALL_FIELDS, custom=state.custom_fields),
            )
        )
    return Response(status_code=204)


@router.delete("/issue/{issueIdOrKey}")
async def delete_issue(state: JiraSite, issueIdOrKey: str, deleteSubtasks: bool = False) -> Response:
    state.delete_issue(state.issue(issueIdOrKey), deleteSubtasks)
    return Response(status_code=204)


@router.get("/issue/{issueIdOrKey}/changelog")
async def changelog(state: JiraSite, issueIdOrKey: str, startAt: int = 0, maxResults: int = 100) -> dict:
    issue = state.issue(issueIdOrKey)
    page_params(startAt, maxResults)
    entries = state.changelog(issue)
    page = entries[startAt : startAt + min(maxResults, 100)]
    return {
        "startAt": startAt,
        "maxResults": min(maxResults, 100),
        "total": len(entries),
        "isLast": startAt + len(page) >= len(entries),
        "values": page,
    }


@router.get("/issue/{issueIdOrKey}/properties")
async def property_keys(request: Request, state: JiraSite, issueIdOrKey: str) -> dict:
    issue = state.issue(issueIdOrKey)
    base = base_url(request)
    return {
        "keys": [{"key": k, "self": f"{base}/rest/api/3/issue/{issue.id}/properties/{k}"} for k in issue.properties]
    }


@router.get("/issue/{issueIdOrKey}/properties/{propertyKey}")
async def get_property(state: JiraSite, issueIdOrKey: str, propertyKey: str) -> dict:
    issue = state.issue(issueIdOrKey)
    if propertyKey not in issue.properties:
        raise JiraError(404, [f"The property with key '{propertyKey}' does not exist."])
    return {"key": propertyKey, "value": issue.properties[propertyKey]}


@router.put("/issue/{issueIdOrKey}/properties/{propertyKey}")
async def set_property(request: Request, state: JiraSite, issueIdOrKey: str, propertyKey: str) -> Response:
    issue = state.issue(issueIdOrKey)
    created = state.set_property(issue, propertyKey, await json_body(request))
    return Response(status_code=201 if created else 200)


@router.delete("/issue/{issueIdOrKey}/properties/{propertyKey}")
async def delete_property(state: JiraSite, issueIdOrKey: str, propertyKey: str) -> Response:
    state.delete_property(state.issue(issueIdOrKey), propertyKey)
    return Response(status_code=204)


@router.get("/issue/{issueIdOrKey}/transitions")
async def get_transitions(request: Request, state: JiraSite, issueIdOrKey: str) -> dict:
    issue = state.issue(issueIdOrKey)
    base = base_url(request)
    return {
        "expand": "transitions",
        "transitions": [render.transition(t, base) for t in state.available_transitions(issue)],
    }


@router.post("/issue/{issueIdOrKey}/transitions")
async def do_transition(request: Request, state: JiraSite, issueIdOrKey: str) -> Response:
    issue = state.issue(issueIdOrKey)
    state.transition(issue, await json_body(request))
    return Response(status_code=204)
