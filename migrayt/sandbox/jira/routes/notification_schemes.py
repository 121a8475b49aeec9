"""Notification schemes (`/notificationscheme`), the project's scheme and its assignment (`PUT /project/{key}`
with `notificationScheme`), as the platform v3 spec describes them (`ADMINISTER_PROJECTS` in `GET /mypermissions`
is answered in screens.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request

from .. import render
from ..errors import JiraError
from ..notifications import EVENT_NAMES
from ..state import JiraState
from .deps import JiraSite, base_url, check_project, json_body, page_params

router = APIRouter()


def _scheme(state: JiraState, scheme: dict[str, Any], base: str, expand: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": scheme["id"],
        "name": scheme["name"],
        "description": scheme["description"],
        "self": f"{base}/rest/api/3/notificationscheme/{scheme['id']}",
        "expand": "notificationSchemeEvents,user,group,projectRole,field,all",
    }
    if scheme["id"] == state.project_notification_scheme:
        out["projects"] = [int(state.project_id)]
    if expand & {"notificationschemeevents", "all"}:
        out["notificationSchemeEvents"] = [
            {
                "event": {"id": int(event), "name": EVENT_NAMES[int(event)], "description": ""},
                "notifications": [
                    {"id": n, "notificationType": kind, "expand": "group,field"} for n, kind in enumerate(kinds, 1)
                ],
            }
            for event, kinds in sorted(scheme["events"].items(), key=lambda e: int(e[0]))
        ]
    return out


def _expand(expand: str | None) -> set[str]:
    return {e.strip().lower() for e in (expand or "").split(",") if e.strip()}


@router.get("/notificationscheme")
async def notification_schemes(
    request: Request, state: JiraSite, startAt: int = 0, maxResults: int = 50, expand: str | None = None
) -> dict:
    page_params(startAt, maxResults)
    ids = request.query_params.getlist("id")
    for x in ids:
        if not x.isdigit():
            raise JiraError(400, [f"{x} is not a valid value. id must be zero or a positive integer."])
    wanted = {int(x) for x in ids}
    base = base_url(request)
    found = [s for sid, s in sorted(state.notification_schemes.items()) if not wanted or sid in wanted]
    page = found[startAt : startAt + maxResults]
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("startAt", "maxResults")]
    out: dict[str, Any] = {
        "self": f"{base}/rest/api/3/notificationscheme?{urlencode([*params, ('startAt', startAt)])}",
        "startAt": startAt,
        "maxResults": maxResults,
        "total": len(found),
        "isLast": startAt + len(page) >= len(found),
        "values": [_scheme(state, s, base, _expand(expand)) for s in page],
    }
    if not out["isLast"]:
        out["nextPage"] = (
            f"{base}/rest/api/3/notificationscheme?{urlencode([*params, ('startAt', startAt + len(page))])}"
        )
    return out


@router.post("/notificationscheme", status_code=201)
async def create_notification_scheme(request: Request, state: JiraSite) -> dict:
    return {"id": str(state.create_notification_scheme(await json_body(request)))}


@router.get("/notificationscheme/{id}")
async def notification_scheme(request: Request, state: JiraSite, id: str, expand: str | None = None) -> dict:
    return _scheme(state, state.notification_scheme(id), base_url(request), _expand(expand))


@router.get("/project/{projectKeyOrId}/notificationscheme")
async def project_notification_scheme(
    request: Request, state: JiraSite, projectKeyOrId: str, expand: str | None = None
) -> dict:
    check_project(state, projectKeyOrId)
    if not (state.config.project_admin or state.config.field_admin):  # the spec: 404 to a non-administrator
        raise JiraError(404, [f"No project could be found with key '{projectKeyOrId}'."])
    scheme = state.notification_scheme(state.project_notification_scheme)
    return _scheme(state, scheme, base_url(request), _expand(expand))


@router.put("/project/{projectIdOrKey}")
async def update_project(request: Request, state: JiraSite, projectIdOrKey: str) -> dict:
    """Only the notification scheme can be changed here: the sandbox's project keeps its key, name and lead."""
    check_project(state, projectIdOrKey)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise JiraError(400, ["Can not deserialize instance of the request body."])
    other = sorted(set(body) - {"notificationScheme"})
    if other:
        raise JiraError(400, [f"The sandbox project cannot change {', '.join(other)}."])
    if "notificationScheme" in body:
        state.assign_notification_scheme(body["notificationScheme"])
    return render.project(state, base_url(request))
