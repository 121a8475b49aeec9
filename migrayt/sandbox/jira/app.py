"""The sandbox Jira Cloud site (platform REST v3 + Agile 1.0) as an ASGI app.

Faults (latency, 429, 5xx, dropped responses) come from a middleware wrapped around this app by
the sandbox server; the app itself only honours `search_index_lag_seconds`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from migrayt.sandbox.fault_config import FaultConfig

from . import catalog as cat
from . import projects, render, server_info
from .adf import plain_text
from .config import JiraSandboxConfig, JiraUserSeed
from .errors import JiraError
from .jql import JqlError
from .rest_v2 import RestV2Reads
from .state import JiraState

__all__ = ["JiraSandboxConfig", "JiraUserSeed", "create_jira_app"]

_CHUNK = 1 << 20
_SEARCH_MAX = 100
_SEARCH_MAX_IDS_ONLY = 5000


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise JiraError(400, ["No content to map due to end-of-input"])
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JiraError(400, [f"Unexpected character in the request body: {exc.msg if hasattr(exc, 'msg') else exc}"])


def _page_params(start_at: int, max_results: int, limit: int | None = None) -> tuple[int, int]:
    if start_at < 0:
        raise JiraError(400, ["Parameter 'startAt' must be greater than or equal to 0"])
    if max_results < 0:
        raise JiraError(400, ["Parameter 'maxResults' must be greater than or equal to 0"])
    if limit is not None and max_results > limit:
        raise JiraError(400, [f"Parameter 'maxResults' must not exceed the limit '{limit}'"])
    return start_at, max_results


def create_jira_app(
    config: JiraSandboxConfig,
    get_faults: Callable[[], FaultConfig] = lambda: FaultConfig(),
) -> FastAPI:
    state = JiraState(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(title="Sandbox Jira Cloud", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.jira = state
    expected_auth = "Basic " + base64.b64encode(f"{config.email}:{config.api_token}".encode()).decode()

    @app.exception_handler(JiraError)
    async def _jira_error(_request: Request, exc: JiraError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(JqlError)
    async def _jql_error(_request: Request, exc: JqlError) -> JSONResponse:
        return JSONResponse({"errorMessages": [str(exc)], "errors": {}}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _bad_params(_request: Request, exc: RequestValidationError) -> JSONResponse:
        messages = [f"Parameter '{e['loc'][-1]}' is invalid: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"errorMessages": messages, "errors": {}}, status_code=400)

    accepted = [expected_auth.encode()] + (
        [f"Bearer {config.data_center_pat}".encode()] if config.data_center_pat else []
    )

    async def authenticated(request: Request) -> None:
        given = request.headers.get("authorization", "").encode()
        if not any(secrets.compare_digest(given, ok) for ok in accepted):
            raise JiraError(401, ["Client must be authenticated to access this resource."])

    api = APIRouter(prefix="/rest/api/3", dependencies=[Depends(authenticated)])
    api_v2 = APIRouter(prefix="/rest/api/2", dependencies=[Depends(authenticated)])
    agile = APIRouter(prefix="/rest/agile/1.0", dependencies=[Depends(authenticated)])

    # --- site metadata ----------------------------------------------------------------------

    @api_v2.get("/myself")  # Cloud answers v2 too; Data Center answers only v2
    @api.get("/myself")
    async def myself(request: Request) -> dict:
        return render.myself(state.me, _base(request))

    @api.get("/user")
    async def get_user(request: Request, accountId: str | None = None) -> dict:
        u = state.user(accountId or "")
        if u is None:
            raise JiraError(404, ["Specified user does not exist or you do not have required permissions"])
        return render.user(u, _base(request))

    @api.get("/user/search")
    async def find_users(
        request: Request, query: str | None = None, accountId: str | None = None, startAt: int = 0, maxResults: int = 50
    ) -> list:
        if not query and not accountId:
            raise JiraError(400, ["The query parameter 'query' is required."])
        if query and accountId:
            raise JiraError(400, ["The 'query' and 'accountId' parameters cannot both be provided."])
        _page_params(startAt, maxResults)
        found = []
        for u in state.users.values():
            if not u.active:
                continue
            if accountId:
                if u.account_id == accountId:
                    found.append(u)
                continue
            q = (query or "").strip().lower()
            name = u.display_name.lower()
            email = (u.email or "").lower()
            # prefix match on the name or a visible email; a hidden email only matches in full
            if (
                name.startswith(q)
                or any(w.startswith(q) for w in name.split())
                or (u.email_visible and email.startswith(q))
                or (email and email == q)
            ):
                found.append(u)
        base = _base(request)
        return [render.user(u, base) for u in found[startAt : startAt + maxResults]]

    @api.get("/field")
    async def fields() -> list:
        return [render.field_details(f) for f in cat.FIELDS]

    @api.get("/priority")
    async def priorities(request: Request) -> list:
        return [render.priority(p, _base(request)) for p in cat.PRIORITIES]

    @api.get("/issuetype")
    async def issue_types(request: Request) -> list:
        out = []
        for it in cat.ISSUE_TYPES:
            d = render.issue_type(it, _base(request))
            d["description"] = it.description
            out.append(d)
        return out

    @api.get("/status")
    async def statuses(request: Request) -> list:
        return [render.status(s, _base(request)) for s in cat.STATUSES]

    @api.get("/issueLinkType")
    async def link_types(request: Request) -> dict:
        return {"issueLinkTypes": [render.link_type(lt, _base(request)) for lt in cat.LINK_TYPES]}

    def _project(key: str) -> None:
        if key.upper() != config.project_key and key != state.project_id:
            raise JiraError(404, [f"No project could be found with key '{key}'."])

    @api.get("/project/{projectIdOrKey}")
    async def get_project(request: Request, projectIdOrKey: str) -> dict:
        _project(projectIdOrKey)
        base = _base(request)
        out = render.project(state, base)
        out["issueTypes"] = [render.create_meta_issue_type(it, base, config.project_key) for it in cat.ISSUE_TYPES]
        out["components"] = [render.component(c, state, base) for c in state.components.values()]
        return out

    @api.get("/project/{projectIdOrKey}/statuses")
    async def project_statuses(request: Request, projectIdOrKey: str) -> list:
        _project(projectIdOrKey)
        base = _base(request)
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

    @api.get("/project/{projectIdOrKey}/components")
    async def project_components(request: Request, projectIdOrKey: str) -> list:
        _project(projectIdOrKey)
        return [render.component(c, state, _base(request)) for c in state.components.values()]

    @api.post("/component", status_code=201)
    async def create_component(request: Request) -> dict:
        comp = state.create_component(await _json_body(request))
        return render.component(comp, state, _base(request))

    @api.get("/issue/createmeta/{projectIdOrKey}/issuetypes")
    async def createmeta_types(request: Request, projectIdOrKey: str, startAt: int = 0, maxResults: int = 50) -> dict:
        _project(projectIdOrKey)
        _page_params(startAt, maxResults, 200)
        types = [render.create_meta_issue_type(it, _base(request), config.project_key) for it in cat.ISSUE_TYPES]
        page = types[startAt : startAt + maxResults]
        return {"issueTypes": page, "maxResults": maxResults, "startAt": startAt, "total": len(types)}

    @api.get("/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}")
    async def createmeta_fields(
        request: Request, projectIdOrKey: str, issueTypeId: str, startAt: int = 0, maxResults: int = 50
    ) -> dict:
        _project(projectIdOrKey)
        _page_params(startAt, maxResults, 200)
        if issueTypeId not in cat.ISSUE_TYPES_BY_ID:
            raise JiraError(
                400, [f"The issue type with id '{issueTypeId}' does not exist or is not valid for the project."]
            )
        required = cat.required_fields(issueTypeId)
        base = _base(request)
        items = [
            render.create_meta_field(cat.FIELDS_BY_ID[f], state, base, issueTypeId, f in required)
            for f in cat.create_fields(issueTypeId)
        ]
        page = items[startAt : startAt + maxResults]
        return {"fields": page, "maxResults": maxResults, "startAt": startAt, "total": len(items)}

    # --- issues -------------------------------------------------------------------------------

    @api.post("/issue", status_code=201)
    async def create_issue(request: Request) -> dict:
        issue = state.create_issue(await _json_body(request))
        return {"id": str(issue.id), "key": issue.key, "self": f"{_base(request)}/rest/api/3/issue/{issue.id}"}

    @api.post("/issue/bulk")
    async def create_issues(request: Request) -> JSONResponse:
        created, failed = state.create_issues(await _json_body(request))
        base = _base(request)
        body = {
            "issues": [{"id": str(i.id), "key": i.key, "self": f"{base}/rest/api/3/issue/{i.id}"} for i in created],
            "errors": failed,
        }
        return JSONResponse(body, status_code=201 if created or not failed else 400)

    @api.get("/issue/{issueIdOrKey}")
    async def get_issue(
        request: Request,
        issueIdOrKey: str,
        fields: list[str] | None = Query(None),
        properties: list[str] | None = Query(None),
    ) -> dict:
        issue = state.issue(issueIdOrKey)
        chosen = render.select_fields(fields, render.ALL_FIELDS)
        props = [p for item in properties or [] for p in item.split(",") if p]
        return render.issue(issue, state, _base(request), chosen, props)

    @api.put("/issue/{issueIdOrKey}")
    async def edit_issue(request: Request, issueIdOrKey: str, returnIssue: bool = False) -> Response:
        issue = state.issue(issueIdOrKey)
        state.edit_issue(issue, await _json_body(request))
        if returnIssue:
            return JSONResponse(render.issue(issue, state, _base(request)))
        return Response(status_code=204)

    @api.delete("/issue/{issueIdOrKey}")
    async def delete_issue(issueIdOrKey: str, deleteSubtasks: bool = False) -> Response:
        state.delete_issue(state.issue(issueIdOrKey), deleteSubtasks)
        return Response(status_code=204)

    @api.get("/issue/{issueIdOrKey}/properties")
    async def property_keys(request: Request, issueIdOrKey: str) -> dict:
        issue = state.issue(issueIdOrKey)
        base = _base(request)
        return {
            "keys": [{"key": k, "self": f"{base}/rest/api/3/issue/{issue.id}/properties/{k}"} for k in issue.properties]
        }

    @api.get("/issue/{issueIdOrKey}/properties/{propertyKey}")
    async def get_property(issueIdOrKey: str, propertyKey: str) -> dict:
        issue = state.issue(issueIdOrKey)
        if propertyKey not in issue.properties:
            raise JiraError(404, [f"The property with key '{propertyKey}' does not exist."])
        return {"key": propertyKey, "value": issue.properties[propertyKey]}

    @api.put("/issue/{issueIdOrKey}/properties/{propertyKey}")
    async def set_property(request: Request, issueIdOrKey: str, propertyKey: str) -> Response:
        issue = state.issue(issueIdOrKey)
        created = state.set_property(issue, propertyKey, await _json_body(request))
        return Response(status_code=201 if created else 200)

    @api.delete("/issue/{issueIdOrKey}/properties/{propertyKey}")
    async def delete_property(issueIdOrKey: str, propertyKey: str) -> Response:
        state.delete_property(state.issue(issueIdOrKey), propertyKey)
        return Response(status_code=204)

    @api.get("/issue/{issueIdOrKey}/transitions")
    async def get_transitions(request: Request, issueIdOrKey: str) -> dict:
        issue = state.issue(issueIdOrKey)
        base = _base(request)
        return {
            "expand": "transitions",
            "transitions": [render.transition(t, base) for t in state.available_transitions(issue)],
        }

    @api.post("/issue/{issueIdOrKey}/transitions")
    async def do_transition(request: Request, issueIdOrKey: str) -> Response:
        issue = state.issue(issueIdOrKey)
        state.transition(issue, await _json_body(request))
        return Response(status_code=204)

    # --- search -------------------------------------------------------------------------------

    def _search(
        request: Request,
        jql: str | None,
        token: str | None,
        max_results: int | None,
        fields: list[str] | None,
        properties: list[str] | None,
    ) -> dict:
        jql = jql or ""
        chosen = render.select_fields(fields, ("id",)) if fields else ()
        cap = _SEARCH_MAX if any(f != "id" for f in chosen) else _SEARCH_MAX_IDS_ONLY
        if max_results is None:
            max_results = 50
        if max_results < 0:
            raise JiraError(400, ["The maxResults parameter must be greater than or equal to 0."])
        max_results = min(max_results, cap)
        lag = get_faults().search_index_lag_seconds
        ids = state.search(jql, lag)
        start = 0
        digest = zlib.crc32(jql.encode())
        if token:
            try:
                cursor = json.loads(base64.urlsafe_b64decode(token.encode()))
                start, last, seen_digest = int(cursor["o"]), int(cursor["l"]), int(cursor["h"])
            except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError):
                raise JiraError(400, ["The provided next page token is invalid or expired."]) from None
            if seen_digest != digest:
                raise JiraError(400, ["The provided next page token is invalid or expired."])
            # resume after the last issue returned when it is still there, so writes between pages
            # neither repeat nor skip issues that were already in the result
            if 0 <= start - 1 < len(ids) and ids[start - 1] == last:
                pass
            elif last in ids:
                start = ids.index(last) + 1
        page = ids[start : start + max_results]
        base = _base(request)
        props = [p for item in properties or [] for p in str(item).split(",") if p]
        issues = [render.issue(state.issues[i], state, base, chosen, props) for i in page]
        is_last = start + len(page) >= len(ids)
        out: dict[str, Any] = {"issues": issues, "isLast": is_last}
        if not is_last and page:
            cursor = {"o": start + len(page), "l": page[-1], "h": digest}
            out["nextPageToken"] = base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()
        return out

    @api.get("/search/jql")
    async def search_get(
        request: Request,
        jql: str | None = None,
        nextPageToken: str | None = None,
        maxResults: int | None = None,
        fields: list[str] | None = Query(None),
        properties: list[str] | None = Query(None),
    ) -> dict:
        return _search(request, jql, nextPageToken, maxResults, fields, properties)

    @api.post("/search/jql")
    async def search_post(request: Request) -> dict:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        fields = body.get("fields")
        if fields is not None and not isinstance(fields, list):
            raise JiraError(400, ["'fields' must be a list of field names."])
        max_results = body.get("maxResults")
        if max_results is not None and (isinstance(max_results, bool) or not isinstance(max_results, int)):
            raise JiraError(400, ["'maxResults' must be an integer."])
        return _search(request, body.get("jql"), body.get("nextPageToken"), max_results, fields, body.get("properties"))

    @api.post("/search/approximate-count")
    async def approximate_count(request: Request) -> dict:
        body = await _json_body(request)
        jql = body.get("jql") if isinstance(body, dict) else None
        return {"count": len(state.search(jql or "", get_faults().search_index_lag_seconds))}

    @api.api_route("/search", methods=["GET", "POST"])
    async def removed_search() -> JSONResponse:
        return JSONResponse(
            {
                "errorMessages": [
                    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."
                ],
                "errors": {},
            },
            status_code=410,
        )

    # --- links ----------------------------------------------------------------------------------

    @api.post("/issueLink", status_code=201)
    async def link_issues(request: Request) -> Response:
        state.create_link(await _json_body(request))
        return Response(status_code=201)

    @api.get("/issueLink/{linkId}")
    async def get_link(request: Request, linkId: int) -> dict:
        link = state.links.get(linkId)
        if link is None:
            raise JiraError(404, [f"No issue link with id '{linkId}' exists."])
        base = _base(request)
        return {
            "id": str(link.id),
            "self": f"{base}/rest/api/3/issueLink/{link.id}",
            "type": render.link_type(cat.LINK_TYPES_BY_ID[link.type_id], base),
            "inwardIssue": render.linked_issue(state.issues[link.inward_id], base),
            "outwardIssue": render.linked_issue(state.issues[link.outward_id], base),
        }

    @api.delete("/issueLink/{linkId}")
    async def delete_link(linkId: int) -> Response:
        state.delete_link(linkId)
        return Response(status_code=204)

    @api.get("/issue/{issueIdOrKey}/remotelink")
    async def get_remote_links(request: Request, issueIdOrKey: str, globalId: str | None = None) -> Any:
        issue = state.issue(issueIdOrKey)
        base = _base(request)
        links = [state.remote_links[r] for r in state.issue_remote_links.get(issue.id, ())]
        if globalId is not None:
            match = next((r for r in links if r.global_id == globalId), None)
            if match is None:
                raise JiraError(404, [f"No remote issue link with globalId '{globalId}' exists on this issue."])
            return render.remote_link(match, issue, base)
        return [render.remote_link(r, issue, base) for r in links]

    @api.post("/issue/{issueIdOrKey}/remotelink")
    async def upsert_remote_link(request: Request, issueIdOrKey: str) -> JSONResponse:
        issue = state.issue(issueIdOrKey)
        link, created = state.upsert_remote_link(issue, await _json_body(request))
        body = {"id": link.id, "self": f"{_base(request)}/rest/api/3/issue/{issue.key}/remotelink/{link.id}"}
        return JSONResponse(body, status_code=201 if created else 200)

    # --- comments and worklogs -----------------------------------------------------------------

    @api.post("/issue/{issueIdOrKey}/comment", status_code=201)
    async def add_comment(request: Request, issueIdOrKey: str) -> dict:
        issue = state.issue(issueIdOrKey)
        c = state.add_comment(issue, await _json_body(request))
        return render.comment(c, state, _base(request))

    @api.get("/issue/{issueIdOrKey}/comment")
    async def get_comments(
        request: Request,
        issueIdOrKey: str,
        startAt: int = 0,
        maxResults: int = 100,
        orderBy: str | None = None,
        expand: str | None = None,
    ) -> dict:
        issue = state.issue(issueIdOrKey)
        _page_params(startAt, maxResults)
        ids = list(state.issue_comments.get(issue.id, []))
        if orderBy in ("-created", "-id"):
            ids.reverse()
        maxResults = min(maxResults, 5000)
        base = _base(request)
        page = [render.comment(state.comments[c], state, base, expand) for c in ids[startAt : startAt + maxResults]]
        return {"startAt": startAt, "maxResults": maxResults, "total": len(ids), "comments": page}

    @api.post("/issue/{issueIdOrKey}/worklog", status_code=201)
    async def add_worklog(request: Request, issueIdOrKey: str) -> dict:
        issue = state.issue(issueIdOrKey)
        w = state.add_worklog(issue, await _json_body(request))
        return render.worklog(w, state, _base(request))

    @api.get("/issue/{issueIdOrKey}/worklog")
    async def get_worklogs(request: Request, issueIdOrKey: str, startAt: int = 0, maxResults: int = 5000) -> dict:
        issue = state.issue(issueIdOrKey)
        _page_params(startAt, maxResults)
        ids = state.issue_worklogs.get(issue.id, [])
        base = _base(request)
        page = [render.worklog(state.worklogs[w], state, base) for w in ids[startAt : startAt + maxResults]]
        return {"startAt": startAt, "maxResults": maxResults, "total": len(ids), "worklogs": page}

    # --- attachments ---------------------------------------------------------------------------

    @api.post("/issue/{issueIdOrKey}/attachments")
    async def add_attachments(request: Request, issueIdOrKey: str) -> Response:
        if request.headers.get("x-atlassian-token", "").lower() != "no-check":
            return PlainTextResponse("XSRF check failed", status_code=403)
        issue = state.issue(issueIdOrKey)
        form = await request.form(max_files=60, max_fields=60)
        parts: list = []
        try:
            uploads = [v for k, v in form.multi_items() if k == "file" and isinstance(v, UploadFile)]
            if not uploads:
                raise JiraError(400, ["No file was uploaded: the multipart field must be named 'file'."])
            if len(uploads) > state.attachment_slots(issue):
                raise JiraError(
                    413,
                    [f"The issue has reached the limit of {config.max_attachments_per_issue} attachments per issue."],
                )
            for up in uploads:
                part = state.new_attachment_path()
                parts.append(part)
                digest = hashlib.sha256()
                size = 0
                with open(part, "wb") as out:
                    while chunk := await up.read(_CHUNK):
                        size += len(chunk)
                        if size > config.max_attachment_bytes:
                            raise JiraError(
                                413,
                                [
                                    f"The file '{up.filename}' is too large to attach. Attachments cannot be larger "
                                    f"than {config.max_attachment_bytes} bytes."
                                ],
                            )
                        digest.update(chunk)
                        out.write(chunk)
                parts[-1] = (
                    part,
                    up.filename or "file",
                    up.content_type or "application/octet-stream",
                    size,
                    digest.hexdigest(),
                )
            added = [state.add_attachment(issue, name, mime, part, size, sha) for part, name, mime, size, sha in parts]
        finally:
            await form.close()
            for p in parts:
                path = p[0] if isinstance(p, tuple) else p
                path.unlink(missing_ok=True)
        base = _base(request)
        return JSONResponse([render.attachment(a, state, base) for a in added])

    def _attachment(att_id: str) -> Any:
        att = state.attachments.get(int(att_id)) if att_id.isdigit() else None
        if att is None:
            raise JiraError(404, [f"The attachment with id '{att_id}' does not exist."])
        return att

    @api.get("/attachment/{id}")
    async def attachment_meta(request: Request, id: str) -> dict:
        return render.attachment_metadata(_attachment(id), state, _base(request))

    @api.get("/attachment/content/{id}")
    async def attachment_content(request: Request, id: str, redirect: bool = True) -> Response:
        att = _attachment(id)
        if redirect:
            # Jira Cloud answers with a redirect to its media service
            return RedirectResponse(
                f"{_base(request)}/rest/api/3/attachment/content/{att.id}?redirect=false", status_code=303
            )
        return FileResponse(state.attachment_path(att), media_type=att.mime_type, filename=att.filename)

    @api.delete("/attachment/{id}")
    async def delete_attachment(id: str) -> Response:
        att = _attachment(id)
        with state._tx():
            state.attachments.pop(att.id, None)
            state.issue_attachments[att.issue_id] = [
                a for a in state.issue_attachments.get(att.issue_id, []) if a != att.id
            ]
            state.store.delete("attachment", att.id)
        state.attachment_path(att).unlink(missing_ok=True)
        return Response(status_code=204)

    # --- agile ---------------------------------------------------------------------------------

    @agile.get("/board")
    async def boards(
        request: Request, projectKeyOrId: str | None = None, startAt: int = 0, maxResults: int = 50
    ) -> dict:
        _page_params(startAt, maxResults)
        values = [render.board(state, _base(request))]
        if (
            projectKeyOrId is not None
            and projectKeyOrId.upper() != config.project_key
            and projectKeyOrId != state.project_id
        ):
            values = []
        page = values[startAt : startAt + maxResults]
        return {
            "maxResults": maxResults,
            "startAt": startAt,
            "total": len(values),
            "isLast": startAt + len(page) >= len(values),
            "values": page,
        }

    def _board(board_id: int) -> None:
        if board_id != state.board_id:
            raise JiraError(404, [f"Board with id {board_id} does not exist or you do not have permission to see it."])

    @agile.get("/board/{boardId}")
    async def get_board(request: Request, boardId: int) -> dict:
        _board(boardId)
        return render.board(state, _base(request))

    @agile.get("/board/{boardId}/sprint")
    async def board_sprints(
        request: Request,
        boardId: int,
        startAt: int = 0,
        maxResults: int = 50,
        state_: str | None = Query(None, alias="state"),
    ) -> dict:
        _board(boardId)
        _page_params(startAt, maxResults)
        maxResults = min(maxResults, 50)
        wanted = {s.strip() for s in state_.split(",")} if state_ else None
        order = {"closed": 0, "active": 1, "future": 2}
        sprints = sorted(
            (s for s in state.sprints.values() if wanted is None or s.state in wanted),
            key=lambda s: (order.get(s.state, 3), s.id),
        )
        page = sprints[startAt : startAt + maxResults]
        base = _base(request)
        return {
            "maxResults": maxResults,
            "startAt": startAt,
            "total": len(sprints),
            "isLast": startAt + len(page) >= len(sprints),
            "values": [render.sprint(s, base) for s in page],
        }

    @agile.post("/sprint", status_code=201)
    async def create_sprint(request: Request) -> dict:
        return render.sprint(state.create_sprint(await _json_body(request)), _base(request))

    @agile.get("/sprint/{sprintId}")
    async def get_sprint(request: Request, sprintId: int) -> dict:
        sp = state.sprints.get(sprintId)
        if sp is None:
            raise JiraError(404, [f"Sprint with id {sprintId} does not exist or you do not have permission to see it."])
        return render.sprint(sp, _base(request))

    @agile.post("/sprint/{sprintId}/issue")
    async def move_to_sprint(request: Request, sprintId: int) -> Response:
        state.move_to_sprint(sprintId, await _json_body(request))
        return Response(status_code=204)

    app.include_router(server_info.router(), prefix="/rest/api/3")  # anonymous, as on Cloud
    app.include_router(projects.router(state), prefix="/rest/api/3", dependencies=[Depends(authenticated)])
    app.include_router(api)
    app.include_router(api_v2)
    app.add_middleware(RestV2Reads)
    app.include_router(agile)

    # --- sandbox admin (no auth) -----------------------------------------------------------------

    @app.get("/_sandbox/state")
    async def sandbox_state() -> dict:
        ado_labels: Counter[str] = Counter()
        other_labels: Counter[str] = Counter()
        for label, ids in state.label_index.items():
            (ado_labels if label.startswith("ado-id-") else other_labels)[label] = len(ids)
        by_type = Counter(cat.ISSUE_TYPES_BY_ID[i.type_id].name for i in state.issues.values())
        by_status = Counter(cat.STATUSES_BY_ID[i.status_id].name for i in state.issues.values())
        links_by_type = Counter(cat.LINK_TYPES_BY_ID[lk.type_id].name for lk in state.links.values())
        return {
            "issues": {
                "total": len(state.issues),
                "by_type": dict(by_type),
                "by_status": dict(by_status),
                "by_label": {
                    "ado_id_labels": len(ado_labels),
                    "ado_id_duplicates": sum(1 for n in ado_labels.values() if n > 1),
                    "other": dict(other_labels),
                },
                "pending_search_index": len(state.pending_index),
            },
            "links": {"total": len(state.links), "by_type": dict(links_by_type)},
            "remote_links": len(state.remote_links),
            "attachments": {"total": len(state.attachments), "bytes": sum(a.size for a in state.attachments.values())},
            "comments": len(state.comments),
            "worklogs": len(state.worklogs),
            "components": len(state.components),
            "sprints": len(state.sprints),
        }

    @app.get("/_sandbox/state/issues")
    async def sandbox_issues(offset: int = 0, limit: int = 100) -> dict:
        ids = sorted(state.issues)
        page = ids[max(offset, 0) : max(offset, 0) + max(min(limit, 1000), 0)]
        return {"total": len(ids), "offset": offset, "issues": [_issue_detail(state.issues[i]) for i in page]}

    def _issue_detail(issue: Any) -> dict:
        links = []
        for lid in state.issue_links.get(issue.id, ()):
            lk = state.links[lid]
            outward = lk.inward_id == issue.id
            other = state.issues[lk.outward_id if outward else lk.inward_id]
            links.append(
                {
                    "type": cat.LINK_TYPES_BY_ID[lk.type_id].name,
                    "direction": "outward" if outward else "inward",
                    "other": other.key,
                }
            )
        parent = state.issues.get(issue.parent_id) if issue.parent_id is not None else None
        return {
            "key": issue.key,
            "id": str(issue.id),
            "type": cat.ISSUE_TYPES_BY_ID[issue.type_id].name,
            "status": cat.STATUSES_BY_ID[issue.status_id].name,
            "priority": cat.PRIORITIES_BY_ID[issue.priority_id].name if issue.priority_id else None,
            "summary": issue.summary,
            "labels": list(issue.labels),
            "parent": parent.key if parent is not None else None,
            "components": [state.components[c].name for c in issue.component_ids if c in state.components],
            "sprints": list(issue.sprint_ids),
            "story_points": issue.values.get(cat.STORY_POINTS),
            "description": plain_text(issue.values["description"]) if "description" in issue.values else None,
            "links": links,
            "remote_links": [
                {"globalId": r.global_id, "url": r.object.get("url"), "title": r.object.get("title")}
                for r in (state.remote_links[x] for x in state.issue_remote_links.get(issue.id, ()))
            ],
            "attachments": [
                {"filename": a.filename, "size": a.size, "sha256": a.sha256}
                for a in (state.attachments[x] for x in state.issue_attachments.get(issue.id, ()))
            ],
            "comments": [
                {"author": c.author_id, "body": plain_text(c.body)}
                for c in (state.comments[x] for x in state.issue_comments.get(issue.id, ()))
            ],
            "worklogs": [
                {"author": w.author_id, "seconds": w.time_spent_seconds, "started": w.started}
                for w in (state.worklogs[x] for x in state.issue_worklogs.get(issue.id, ()))
            ],
            "properties": sorted(issue.properties),
        }

    @app.post("/_sandbox/reset", status_code=204)
    async def sandbox_reset() -> Response:
        state.reset()
        return Response(status_code=204)

    return app
