"""Worklogs on an issue."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import render
from .deps import JiraSite, base_url, json_body, page_params

router = APIRouter()


@router.post("/issue/{issueIdOrKey}/worklog", status_code=201)
async def add_worklog(request: Request, state: JiraSite, issueIdOrKey: str) -> dict:
    issue = state.issue(issueIdOrKey)
    w = state.add_worklog(issue, await json_body(request))
    return render.worklog(w, state, base_url(request))


@router.get("/issue/{issueIdOrKey}/worklog")
async def get_worklogs(
    request: Request, state: JiraSite, issueIdOrKey: str, startAt: int = 0, maxResults: int = 5000
) -> dict:
    issue = state.issue(issueIdOrKey)
    page_params(startAt, maxResults)
    ids = state.issue_worklogs.get(issue.id, [])
    base = base_url(request)
    page = [render.worklog(state.worklogs[w], state, base) for w in ids[startAt : startAt + maxResults]]
    return {"startAt": startAt, "maxResults": maxResults, "total": len(ids), "worklogs": page}


@router.delete("/issue/{issueIdOrKey}/worklog/{id}")
async def delete_worklog(state: JiraSite, issueIdOrKey: str, id: int) -> Response:
    state.delete_worklog(state.issue(issueIdOrKey), id)
    return Response(status_code=204)
