"""Agile 1.0: the project's board, its sprints, and moving issues into a sprint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .. import render
from ..errors import JiraError
from ..state import JiraState
from .deps import JiraSite, base_url, json_body, page_params

router = APIRouter()

_SPRINT_ORDER = {"closed": 0, "active": 1, "future": 2}


def _paged(values: list, start_at: int, max_results: int) -> dict:
    page = values[start_at : start_at + max_results]
    return {
        "maxResults": max_results,
        "startAt": start_at,
        "total": len(values),
        "isLast": start_at + len(page) >= len(values),
        "values": page,
    }


def _check_board(state: JiraState, board_id: int) -> None:
    if board_id != state.board_id:
        raise JiraError(404, [f"Board with id {board_id} does not exist or you do not have permission to see it."])


@router.get("/board")
async def boards(
    request: Request, state: JiraSite, projectKeyOrId: str | None = None, startAt: int = 0, maxResults: int = 50
) -> dict:
    page_params(startAt, maxResults)
    values = [render.board(state, base_url(request))]
    if (
        projectKeyOrId is not None
        and projectKeyOrId.upper() != state.config.project_key
        and projectKeyOrId != state.project_id
    ):
        values = []
    return _paged(values, startAt, maxResults)


@router.get("/board/{boardId}")
async def get_board(request: Request, state: JiraSite, boardId: int) -> dict:
    _check_board(state, boardId)
    return render.board(state, base_url(request))


@router.get("/board/{boardId}/sprint")
async def board_sprints(
    request: Request,
    state: JiraSite,
    boardId: int,
    startAt: int = 0,
    maxResults: int = 50,
    wanted_states: Annotated[str | None, Query(alias="state")] = None,
) -> dict:
    _check_board(state, boardId)
    page_params(startAt, maxResults)
    maxResults = min(maxResults, 50)
    wanted = {s.strip() for s in wanted_states.split(",")} if wanted_states else None
    sprints = sorted(
        (s for s in state.sprints.values() if wanted is None or s.state in wanted),
        key=lambda s: (_SPRINT_ORDER.get(s.state, 3), s.id),
    )
    out = _paged(sprints, startAt, maxResults)
    base = base_url(request)
    out["values"] = [render.sprint(s, base) for s in out["values"]]
    return out


@router.post("/sprint", status_code=201)
async def create_sprint(request: Request, state: JiraSite) -> dict:
    return render.sprint(state.create_sprint(await json_body(request)), base_url(request))


@router.get("/sprint/{sprintId}")
async def get_sprint(request: Request, state: JiraSite, sprintId: int) -> dict:
    sp = state.sprints.get(sprintId)
    if sp is None:
        raise JiraError(404, [f"Sprint with id {sprintId} does not exist or you do not have permission to see it."])
    return render.sprint(sp, base_url(request))


@router.post("/sprint/{sprintId}/issue")
async def move_to_sprint(request: Request, state: JiraSite, sprintId: int) -> Response:
    state.move_to_sprint(sprintId, await json_body(request))
    return Response(status_code=204)


@router.get("/sprint/{sprintId}/issue")
async def sprint_issues(
    request: Request, state: JiraSite, sprintId: int, startAt: int = 0, maxResults: int = 50
) -> dict:
    keys = state.sprint_issue_keys(sprintId)
    base = base_url(request)
    page = keys[startAt : startAt + maxResults]
    issues = [{"id": str(state.by_key[k]), "key": k, "self": f"{base}/rest/agile/1.0/issue/{k}"} for k in page]
    return {"startAt": startAt, "maxResults": maxResults, "total": len(keys), "issues": issues}


@router.delete("/sprint/{sprintId}")
async def delete_sprint(state: JiraSite, sprintId: int) -> Response:
    state.delete_sprint(sprintId)
    return Response(status_code=204)
