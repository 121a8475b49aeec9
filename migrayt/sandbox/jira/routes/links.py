"""Issue links between two issues, and remote links from an issue to a URL."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .. import catalog as cat
from .. import render
from ..errors import JiraError
from .deps import JiraSite, base_url, json_body

router = APIRouter()


@router.post("/issueLink", status_code=201)
async def link_issues(request: Request, state: JiraSite) -> Response:
    state.create_link(await json_body(request))
    return Response(status_code=201)


@router.get("/issueLink/{linkId}")
async def get_link(request: Request, state: JiraSite, linkId: int) -> dict:
    link = state.links.get(linkId)
    if link is None:
        raise JiraError(404, [f"No issue link with id '{linkId}' exists."])
    base = base_url(request)
    return {
        "id": str(link.id),
        "self": f"{base}/rest/api/3/issueLink/{link.id}",
        "type": render.link_type(cat.LINK_TYPES_BY_ID[link.type_id], base),
        "inwardIssue": render.linked_issue(state.issues[link.inward_id], base),
        "outwardIssue": render.linked_issue(state.issues[link.outward_id], base),
    }


@router.delete("/issueLink/{linkId}")
async def delete_link(state: JiraSite, linkId: int) -> Response:
    state.delete_link(linkId)
    return Response(status_code=204)


@router.get("/issue/{issueIdOrKey}/remotelink")
async def get_remote_links(request: Request, state: JiraSite, issueIdOrKey: str, globalId: str | None = None) -> Any:
    issue = state.issue(issueIdOrKey)
    base = base_url(request)
    links = [state.remote_links[r] for r in state.issue_remote_links.get(issue.id, ())]
    if globalId is not None:
        match = next((r for r in links if r.global_id == globalId), None)
        if match is None:
            raise JiraError(404, [f"No remote issue link with globalId '{globalId}' exists on this issue."])
        return render.remote_link(match, issue, base)
    return [render.remote_link(r, issue, base) for r in links]


@router.post("/issue/{issueIdOrKey}/remotelink")
async def upsert_remote_link(request: Request, state: JiraSite, issueIdOrKey: str) -> JSONResponse:
    issue = state.issue(issueIdOrKey)
    link, created = state.upsert_remote_link(issue, await json_body(request))
    body = {"id": link.id, "self": f"{base_url(request)}/rest/api/3/issue/{issue.key}/remotelink/{link.id}"}
    return JSONResponse(body, status_code=201 if created else 200)


@router.delete("/issue/{issueIdOrKey}/remotelink/{linkId}")
async def delete_remote_link(state: JiraSite, issueIdOrKey: str, linkId: int) -> Response:
    state.delete_remote_link(state.issue(issueIdOrKey), linkId)
    return Response(status_code=204)
