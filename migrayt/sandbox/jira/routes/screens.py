"""Custom fields (create, delete), the project's screens and where a field sits on them, and the caller's
global permissions: what a migration needs to add fields of its own to a project."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .. import render
from ..custom_fields import ISSUE_TYPE_SCREEN_SCHEME, SCREEN_SCHEME_FOR_TYPE, SCREEN_SCHEMES
from ..errors import JiraError
from .deps import JiraSite, base_url, json_body, page_params

router = APIRouter()

_ADMINISTER = {
    "id": "0",
    "key": "ADMINISTER",
    "name": "Administer Jira",
    "type": "GLOBAL",
    "description": "Create and administer projects, issue types, fields, workflows and schemes.",
}
# Whether the migration's user may read the project's notification scheme and edit with notifyUsers=false.
_ADMINISTER_PROJECTS = {
    "id": "23",
    "key": "ADMINISTER_PROJECTS",
    "name": "Administer Projects",
    "type": "PROJECT",
    "description": "Ability to administer a project in Jira.",
}


@router.post("/field", status_code=201)
async def create_field(request: Request, state: JiraSite) -> dict:
    return render.field_details(state.create_field(await json_body(request)))


@router.delete("/field/{id}")
async def delete_field(request: Request, state: JiraSite, id: str) -> JSONResponse:
    state.delete_field(id)
    # Jira deletes a custom field in a task; the sandbox's finishes at once.
    task = str(uuid.uuid4().int % 10**8)
    base = base_url(request)
    body: dict[str, object] = {
        "self": f"{base}/rest/api/3/task/{task}",
        "id": task,
        "description": f"Deleting custom field {id}",
        "status": "COMPLETE",
        "result": None,
        "submittedBy": 0,
        "progress": 100,
        "elapsedRuntime": 0,
        "submitted": 0,
        "started": 0,
        "finished": 0,
        "lastUpdate": 0,
    }
    return JSONResponse(body, status_code=303, headers={"Location": str(body["self"])})


@router.get("/mypermissions")
async def my_permissions(state: JiraSite, permissions: str | None = None) -> dict:
    if not permissions:
        raise JiraError(400, ["The 'permissions' query parameter is required."])
    out = {}
    for key in (p.strip() for p in permissions.split(",") if p.strip()):
        if key == "ADMINISTER":
            out[key] = {**_ADMINISTER, "havePermission": state.may_administer()}
        elif key == "ADMINISTER_PROJECTS":
            out[key] = {**_ADMINISTER_PROJECTS, "havePermission": state.config.project_admin or state.may_administer()}
        else:
            raise JiraError(404, [f"No permission with key '{key}' exists."])
    return {"permissions": out}


def _page(request: Request, values: list, start_at: int, max_results: int) -> dict:
    page = values[start_at : start_at + max_results]
    return {
        "self": str(request.url),
        "maxResults": max_results,
        "startAt": start_at,
        "total": len(values),
        "isLast": start_at + len(page) >= len(values),
        "values": page,
    }


@router.get("/issuetypescreenscheme/project")
async def screen_scheme_of_projects(
    request: Request, state: JiraSite, projectId: str | None = None, startAt: int = 0, maxResults: int = 50
) -> dict:
    page_params(startAt, maxResults)
    wanted = [p for p in (projectId or "").split(",") if p]
    values = []
    if not wanted or state.project_id in wanted:
        scheme = {"id": ISSUE_TYPE_SCREEN_SCHEME, "name": f"{state.config.project_key}: Scrum Issue Type Screen Scheme"}
        values.append({"issueTypeScreenScheme": scheme, "projectIds": [state.project_id]})
    return _page(request, values, startAt, maxResults)


@router.get("/issuetypescreenscheme/mapping")
async def screen_scheme_mapping(
    request: Request, issueTypeScreenSchemeId: str | None = None, startAt: int = 0, maxResults: int = 50
) -> dict:
    page_params(startAt, maxResults)
    values = []
    if issueTypeScreenSchemeId in (None, ISSUE_TYPE_SCREEN_SCHEME):
        values = [
            {"issueTypeId": t, "issueTypeScreenSchemeId": ISSUE_TYPE_SCREEN_SCHEME, "screenSchemeId": str(s)}
            for t, s in SCREEN_SCHEME_FOR_TYPE.items()
        ]
    return _page(request, values, startAt, maxResults)


@router.get("/screenscheme")
async def screen_schemes(
    request: Request, state: JiraSite, id: str | None = None, startAt: int = 0, maxResults: int = 25
) -> dict:
    page_params(startAt, maxResults)
    wanted = {int(x) for x in (id or "").split(",") if x.strip().isdigit()}
    key = state.config.project_key
    values = [
        {"id": sid, "name": f"{key}: Scrum Screen Scheme {sid}", "description": "", "screens": screens}
        for sid, screens in SCREEN_SCHEMES.items()
        if not wanted or sid in wanted
    ]
    return _page(request, values, startAt, maxResults)


@router.get("/screens/{screenId}/tabs")
async def screen_tabs(state: JiraSite, screenId: str) -> list:
    screen = state.screen(screenId)
    return [{"id": screen.tab_id, "name": "Field Tab"}]


@router.get("/screens/{screenId}/tabs/{tabId}/fields")
async def tab_fields(state: JiraSite, screenId: str, tabId: str) -> list:
    return [{"id": f.id, "name": f.name} for f in state.tab_fields(screenId, tabId)]


@router.post("/screens/{screenId}/tabs/{tabId}/fields")
async def add_tab_field(request: Request, state: JiraSite, screenId: str, tabId: str) -> dict:
    f = state.add_field_to_tab(screenId, tabId, await json_body(request))
    return {"id": f.id, "name": f.name}
