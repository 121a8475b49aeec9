"""Comments on an issue."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import render
from .deps import JiraSite, base_url, json_body, page_params

router = APIRouter()


@router.post("/issue/{issueIdOrKey}/comment", status_code=201)
async def add_comment(request: Request, state: JiraSite, issueIdOrKey: str) -> dict:
    issue = state.issue(issueIdOrKey)
    c = state.add_comment(issue, await json_body(request))
    return render.comment(c, state, base_url(request))


@router.put("/issue/{issueIdOrKey}/comment/{commentId}")
async def update_comment(request: Request, state: JiraSite, issueIdOrKey: str, commentId: str) -> dict:
    issue = state.issue(issueIdOrKey)
    c = state.update_comment(issue, commentId, await json_body(request))
    return render.comment(c, state, base_url(request))


@router.get("/issue/{issueIdOrKey}/comment")
async def get_comments(
    request: Request,
    state: JiraSite,
    issueIdOrKey: str,
    startAt: int = 0,
    maxResults: int = 100,
    orderBy: str | None = None,
    expand: str | None = None,
) -> dict:
    issue = state.issue(issueIdOrKey)
    page_params(startAt, maxResults)
    ids = list(state.issue_comments.get(issue.id, []))
    if orderBy in ("-created", "-id"):
        ids.reverse()
    maxResults = min(maxResults, 5000)
    base = base_url(request)
    page = [render.comment(state.comments[c], state, base, expand) for c in ids[startAt : startAt + maxResults]]
    return {"startAt": startAt, "maxResults": maxResults, "total": len(ids), "comments": page}


@router.delete("/issue/{issueIdOrKey}/comment/{id}")
async def delete_comment(state: JiraSite, issueIdOrKey: str, id: int) -> Response:
    state.delete_comment(state.issue(issueIdOrKey), id)
    return Response(status_code=204)
