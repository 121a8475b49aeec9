"""Site metadata: who am I, users, fields, priorities, issue types, statuses, link types, the project with
its statuses and components, and the create screens (createmeta)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import catalog as cat
from .. import render
from ..entities import User
from ..errors import JiraError
from .deps import JiraSite, base_url, check_project, json_body, page_params

router = APIRouter()
v2_router = APIRouter()  # Cloud answers v2 too; Data Center answers only v2


@v2_router.get("/myself")
@router.get("/myself")
async def myself(request: Request, state: JiraSite) -> dict:
    return render.myself(state.me, base_url(request))


@router.get("/user")
async def get_user(request: Request, state: JiraSite, accountId: str | None = None) -> dict:
    u = state.user(accountId or "")
    if u is None:
        raise JiraError(404, ["Specified user does not exist or you do not have required permissions"])
    return render.user(u, base_url(request))


def _user_matches(u: User, query: str | None, account_id: str | None) -> bool:
    if not u.active:
        return False
    if account_id:
        return u.account_id == account_id
    q = (query or "").strip().lower()
    name = u.display_name.lower()
    email = (u.email or "").lower()
    # prefix match on the name or a visible email; a hidden email only matches in full
    return (
        name.startswith(q)
        or any(w.startswith(q) for w in name.split())
        or (u.email_visible and email.startswith(q))
        or bool(email and email == q)
    )


@router.get("/user/search")
async def find_users(
    request: Request,
    state: JiraSite,
    query: str | None = None,
    accountId: str | None = None,
    startAt: int = 0,
    maxResults: int = 50,
) -> list:
    if not query and not accountId:
        raise JiraError(400, ["The query parameter 'query' is required."])
    if query and accountId:
        raise JiraError(400, ["The 'query' and 'accountId' parameters cannot both be provided."])
    page_params(startAt, maxResults)
    found = [u for u in state.users.values() if _user_matches(u, query, accountId)]
    base = base_url(request)
    return [render.user(u, base) for u in found[startAt : startAt + maxResults]]


@router.get("/users/search")
async def all_users(request: Request, state: JiraSite, startAt: int = 0, maxResults: int = 50) -> list:
    """Every account, deactivated ones too (the user search above leaves those out), as Jira Cloud lists them."""
    page_params(startAt, maxResults)
    base = base_url(request)
    return [render.user(u, base) for u in list(state.users.values())[startAt : startAt + maxResults]]


@router.get("/field")
async def fields(state: JiraSite) -> list:
    built_in = [render.field_details(state.field_ids.field(f)) for f in cat.FIELDS]
    return built_in + [render.field_details(f) for f in state.custom_fields.values()]


@router.get("/priority")
async def priorities(request: Request) -> list:
    return [render.priority(p, base_url(request)) for p in cat.PRIORITIES]


@router.get("/issuetype")
async def issue_types(request: Request) -> list:
    out = []
    for it in cat.ISSUE_TYPES:
        d = render.issue_type(it, base_url(request))
        d["description"] = it.description
        out.append(d)
    return out


@router.get("/status")
async def statuses(request: Request) -> list:
    return [render.status(s, base_url(request)) for s in cat.STATUSES]


@router.get("/issueLinkType")
async def link_types(request: Request) -> dict:
    return {"issueLinkTypes": [render.link_type(lt, base_url(request)) for lt in cat.LINK_TYPES]}


@router.get("/project/{projectIdOrKey}")
async def get_project(request: Request, state: JiraSite, projectIdOrKey: str) -> dict:
    check_project(state, projectIdOrKey)
    base = base_url(request)
    out = render.project(state, base)
    key = state.config.project_key
    out["issueTypes"] = [render.create_meta_issue_type(it, base, key) for it in cat.ISSUE_TYPES]
    out["components"] = [render.component(c, state, base) for c in state.components.values()]
    return out


@router.get("/project/{projectIdOrKey}/statuses")
async def project_statuses(request: Request, state: JiraSite, projectIdOrKey: str) -> list:
    check_project(state, projectIdOrKey)
    base = base_url(request)
    return [
        {
            "self": f"{base}/rest/api/3/issuetype/{it.id}",
            "id": it.id,
            "name": it.name,
            "subtask": it.subtask,
            "statuses": [render.status(s, base) for s in cat.statuses_for(it.id)],
        }
        for it in cat.ISSUE_TYPES
    ]


@router.get("/project/{projectIdOrKey}/components")
async def project_components(request: Request, state: JiraSite, projectIdOrKey: str) -> list:
    check_project(state, projectIdOrKey)
    return [render.component(c, state, base_url(request)) for c in state.components.values()]


@router.post("/component", status_code=201)
async def create_component(request: Request, state: JiraSite) -> dict:
    comp = state.create_component(await json_body(request))
    return render.component(comp, state, base_url(request))


@router.get("/issue/createmeta/{projectIdOrKey}/issuetypes")
async def createmeta_types(
    request: Request, state: JiraSite, projectIdOrKey: str, startAt: int = 0, maxResults: int = 50
) -> dict:
    check_project(state, projectIdOrKey)
    page_params(startAt, maxResults, 200)
    key = state.config.project_key
    types = [render.create_meta_issue_type(it, base_url(request), key) for it in cat.ISSUE_TYPES]
    page = types[startAt : startAt + maxResults]
    return {"issueTypes": page, "maxResults": maxResults, "startAt": startAt, "total": len(types)}


@router.get("/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}")
async def createmeta_fields(
    request: Request, state: JiraSite, projectIdOrKey: str, issueTypeId: str, startAt: int = 0, maxResults: int = 50
) -> dict:
    check_project(state, projectIdOrKey)
    page_params(startAt, maxResults, 200)
    if issueTypeId not in cat.ISSUE_TYPES_BY_ID:
        raise JiraError(
            400, [f"The issue type with id '{issueTypeId}' does not exist or is not valid for the project."]
        )
    required = cat.required_fields(issueTypeId)
    base = base_url(request)
    items = [
        render.create_meta_field(state.field_ids.field(cat.FIELDS_BY_ID[f]), state, base, issueTypeId, f in required)
        for f in cat.create_fields(issueTypeId)
    ] + [
        render.create_meta_field(state.custom_fields[f], state, base, issueTypeId, False)
        for f in sorted(state.custom_on_screen(issueTypeId))
    ]
    page = items[startAt : startAt + maxResults]
    return {"fields": page, "maxResults": maxResults, "startAt": startAt, "total": len(items)}


@router.get("/component/{id}/relatedIssueCounts")
async def component_issue_counts(request: Request, state: JiraSite, id: str) -> dict:
    return {"issueCount": state.component_issue_count(id), "self": f"{base_url(request)}/rest/api/3/component/{id}"}


@router.delete("/component/{id}")
async def delete_component(state: JiraSite, id: str) -> Response:
    state.delete_component(id)
    return Response(status_code=204)
