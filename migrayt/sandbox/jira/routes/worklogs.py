"""Worklogs on an issue."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import render
from ..errors import JiraError
from .deps import JiraSite, base_url, json_body, page_params

router = APIRouter()

ADJUST_ESTIMATE = ("new", "leave", "manual", "auto")


def _flag(value: str | None, name: str) -> bool:
    if value is None:
        return True
    if value.lower() not in ("true", "false"):
        raise JiraError(400, [f"The value '{value}' of '{name}' is not a boolean."])
    return value.lower() == "true"


@router.post("/issue/{issueIdOrKey}/worklog", status_code=201)
async def add_worklog(
    request: Request,
    state: JiraSite,
    issueIdOrKey: str,
    adjustEstimate: str = "auto",
    notifyUsers: str | None = None,
    newEstimate: str | None = None,
    reduceBy: str | None = None,
    expand: str | None = None,
) -> dict:
    if adjustEstimate not in ADJUST_ESTIMATE:
        raise JiraError(400, [f"Invalid value for adjustEstimate: {adjustEstimate}."])
    if adjustEstimate == "new" and not newEstimate:
        raise JiraError(400, [], {"newEstimate": "You must supply a valid new estimate."})
    if adjustEstimate == "manual" and not reduceBy:
        raise JiraError(400, [], {"reduceBy": "You must supply a valid amount of time to adjust the estimate by."})
    notify = _flag(notifyUsers, "notifyUsers")
    issue = state.issue(issueIdOrKey)
    w = state.add_worklog(issue, await json_body(request), adjustEstimate, notify)
    return render.worklog(w, state, base_url(request), expand)


@router.get("/issue/{issueIdOrKey}/worklog")
async def get_worklogs(
    request: Request,
    state: JiraSite,
    issueIdOrKey: str,
    startAt: int = 0,
    maxResults: int = 5000,
    expand: str | None = None,
) -> dict:
    issue = state.issue(issueIdOrKey)
    page_params(startAt, maxResults)
    ids = state.issue_worklogs.get(issue.id, [])
    base = base_url(request)
    page = [render.worklog(state.worklogs[w], state, base, expand) for w in ids[startAt : startAt + maxResults]]
    return {"startAt": startAt, "maxResults": maxResults, "total": len(ids), "worklogs": page}


@router.delete("/issue/{issueIdOrKey}/worklog/{id}")
async def delete_worklog(state: JiraSite, issueIdOrKey: str, id: int) -> Response:
    state.delete_worklog(state.issue(issueIdOrKey), id)
    return Response(status_code=204)
