"""The sandbox Azure DevOps Services (REST 7.1, read side of Boards) as a FastAPI app.

Routes answer both org-level and project-level URLs (the service accepts both), resource
names in any letter case, and Basic auth with the PAT as password. 7pace Timetracker's REST
API (which really lives on its own host) is served at
`/{organization}/_7pace/api/rest/workLogs[/all]?api-version=3.0&workItemIds=1,2&$skip=&$count=`.
"""

from __future__ import annotations

import base64
import binascii
import collections
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from migrayt.sandbox.ado import catalog, locations, projects
from migrayt.sandbox.ado.render import Renderer, decode_token, encode_token
from migrayt.sandbox.ado.wiql import WiqlError, run_query
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.generator import ORIGIN, GeneratedProject
from migrayt.sandbox.generator.project import END, SourceChange

MAX_BATCH = 200
MAX_COMMENTS_PAGE = 200
MAX_7PACE_PAGE = 500


class LinkChange(BaseModel):
    rel: str = "System.LinkTypes.Related"
    to: int


class ItemChange(BaseModel):
    """Someone working on an item in ADO: one new revision with these edits."""

    id: int
    fields: dict[str, Any] = Field(default_factory=dict)
    state: str | None = None
    comments: int = Field(0, ge=0, le=50)
    attachments: int = Field(0, ge=0, le=10)
    links: list[LinkChange] = Field(default_factory=list)
    removed_links: list[LinkChange] = Field(default_factory=list)
    parent: int | None = None  # moved under this item
    unparent: bool = False  # taken from its parent
    inline_images: int = Field(0, ge=0, le=5)  # pasted into the description


class SourceChanges(BaseModel):
    changes: list[ItemChange] = Field(default_factory=list)
    new_items: int = Field(0, ge=0, le=1000)


class AdoSandboxConfig(BaseModel):
    pat: str = "sandbox-pat"
    # The sandbox's "today" for @Today and team iteration time frames; fixed so runs are repeatable.
    today: datetime = END - timedelta(days=20)
    graph_page_size: int = Field(500, ge=1)


class AdoError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type_key: str,
        namespace: str = "Microsoft.TeamFoundation.WorkItemTracking.Server",
    ):
        super().__init__(message)
        self.status, self.message, self.type_key, self.namespace = status, message, type_key, namespace

    def body(self) -> dict[str, Any]:
        return {
            "$id": "1",
            "innerException": None,
            "message": self.message,
            "typeName": f"{self.namespace}.{self.type_key}, {self.namespace}",
            "typeKey": self.type_key,
            "errorCode": 0,
            "eventId": 3200,
        }


# Resource words are case-insensitive in ADO URLs; names (projects, descriptors) are left alone.
_ROUTE_WORDS = {
    "_apis",
    "wit",
    "wiql",
    "workitems",
    "workitemsbatch",
    "comments",
    "attachments",
    "classificationnodes",
    "workitemtypes",
    "workitemtypecategories",
    "states",
    "fields",
    "workitemrelationtypes",
    "revisions",
    "updates",
    "work",
    "teamsettings",
    "iterations",
    "graph",
    "users",
    "identities",
    "api",
    "rest",
    "worklogs",
    "all",
    "_7pace",
    "projects",
    "resourceareas",
}


class _CaseFold:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("/_apis/" in scope["path"].lower() or "/_7pace/" in scope["path"].lower()):
            segs = scope["path"].split("/")
            seen_api = False
            for i, s in enumerate(segs):
                low = s.lower()
                if low in ("_apis", "_7pace"):
                    seen_api = True
                if seen_api and low in _ROUTE_WORDS:
                    segs[i] = low
            scope = dict(scope, path="/".join(segs))
        await self.app(scope, receive, send)


def create_ado_app(
    project: GeneratedProject,
    config: AdoSandboxConfig | None = None,
    get_faults: Callable[[], FaultConfig] = lambda: FaultConfig(),
) -> FastAPI:
    """`get_faults` is for the fault middleware wrapped around this app; the app itself injects nothing."""
    cfg = config or AdoSandboxConfig()
    spec = project.spec
    r = Renderer(project)
    app = FastAPI(title="Sandbox Azure DevOps Services", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.project = project
    app.state.config = cfg
    app.state.get_faults = get_faults
    state_cache: dict[str, Any] = {}

    # ---- plumbing -----------------------------------------------------------------------------

    @app.exception_handler(AdoError)
    async def _ado_error(request: Request, exc: AdoError) -> Response:
        return reply(request, exc.body(), exc.status)

    def reply(request: Request, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace(ORIGIN + "/", str(request.base_url))
        try:
            body = text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone UTF-16 surrogate in an item's text: .NET writes it as a `\uD800` escape.
            body = (
                json.dumps(data, ensure_ascii=True, separators=(",", ":"))
                .replace(ORIGIN + "/", str(request.base_url))
                .encode()
            )
        return Response(body, status, headers=headers, media_type="application/json; charset=utf-8; api-version=7.1")

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                _, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return secrets.compare_digest(password, cfg.pat)
        if scheme.lower() == "bearer":
            return secrets.compare_digest(value, cfg.pat)
        return False

    @app.middleware("http")
    async def _auth(request: Request, call_next: Callable) -> Response:
        if request.url.path.startswith("/_sandbox") or authorized(request):
            return await call_next(request)
        # A bad PAT gets the service's HTML page and a Basic challenge, not JSON.
        return HTMLResponse(
            "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body>"
            "<h1>401 - Unauthorized: Access is denied due to invalid credentials.</h1>"
            "<p>Access Denied: The Personal Access Token used has expired or is invalid.</p></body></html>",
            status_code=401,
            headers={
                "WWW-Authenticate": 'Basic realm="https://dev.azure.com/"',
                "X-TFS-FedAuthRealm": "https://dev.azure.com/",
                "X-VSS-E2EID": "00000000-0000-0000-0000-000000000000",
            },
        )

    def scope(organization: str, project_name: str | None = None, team: str | None = None) -> None:
        if organization.lower() != spec.organization.lower():
            raise AdoError(
                404,
                f"VS800075: The organization '{organization}' could not be found.",
                "OrganizationNotFoundException",
                "Microsoft.VisualStudio.Services.Account",
            )
        if project_name is not None and project_name.lower() not in (spec.project.lower(), project.project_guid):
            raise AdoError(
                404,
                f"TF200016: The following project does not exist: {project_name}. Verify that the name "
                "of the project is correct and that the project exists on the specified Azure DevOps Server.",
                "ProjectDoesNotExistWithNameException",
                "Microsoft.TeamFoundation.Core.WebApi",
            )
        if team is not None and team.lower() not in (spec.team.lower(), project.team_guid):
            raise AdoError(
                404,
                f"VS800029: The team with id '{team}' does not exist.",
                "TeamNotFoundException",
                "Microsoft.TeamFoundation.Core.WebApi",
            )

    def require_preview(request: Request) -> None:
        v = request.query_params.get("api-version", "")
        if v and "preview" not in v.lower():
            raise AdoError(
                400,
                f'The requested version "{v}" of the resource is under preview. The -preview flag must '
                'be supplied in the api-version for such requests. For example: "7.1-preview"',
                "VssInvalidPreviewVersionException",
                "Microsoft.VisualStudio.Services.WebApi",
            )

    def item_exists(item_id: int) -> None:
        if not project.exists(item_id):
            raise AdoError(
                404,
                f"TF401232: Work item {item_id} does not exist, or you do not have permissions to read it.",
                "WorkItemUnauthorizedAccessException",
            )

    def parse_date(value: str | None) -> datetime | None:
        if not value:
            return None
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise AdoError(
                400, f"The value '{value}' for asOf is not a valid date.", "ArgumentException", "System"
            ) from None
        return when if when.tzinfo else when.replace(tzinfo=cfg.today.tzinfo)

    def int_param(request: Request, name: str, default: int | None = None) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise AdoError(
                400, f"The value '{raw}' of parameter '{name}' is not a valid integer.", "ArgumentException", "System"
            ) from None

    def get_items(
        request: Request,
        ids: list[int],
        fields: list[str] | None,
        expand: str | None,
        as_of: str | None,
        error_policy: str | None,
    ) -> Response:
        if not ids:
            raise AdoError(
                400,
                "VS402308: The ids parameter must contain at least one work item id.",
                "ArgumentException",
                "System",
            )
        if len(ids) > MAX_BATCH:
            raise AdoError(
                400,
                f"VS403474: The maximum number of work items that can be requested at once is {MAX_BATCH}; "
                f"{len(ids)} were requested.",
                "WorkItemTrackingBatchLimitExceededException",
            )
        if fields and expand and expand.lower() != "none":
            raise AdoError(
                400,
                "The expand parameter can not be used with the fields parameter.",
                "ConflictingParametersException",
                "Microsoft.TeamFoundation.WorkItemTracking.WebApi",
            )
        when = parse_date(as_of)
        omit = (error_policy or "fail").lower() == "omit"
        value: list[Any] = []
        for item_id in ids:
            if not project.exists(item_id):
                if omit:
                    value.append(None)
                    continue
                item_exists(item_id)
            doc = r.work_item(item_id, expand, fields, when, default_links=False)
            if doc is None and not omit:
                raise AdoError(
                    404,
                    f"TF401232: Work item {item_id} does not exist, or you do not have permissions to read it.",
                    "WorkItemUnauthorizedAccessException",
                )
            value.append(doc)
        return reply(request, {"count": len(value), "value": value})

    def routes(paths: list[str], method: str = "GET") -> Callable:
        def register(fn: Callable) -> Callable:
            for p in paths:
                app.add_api_route(p, fn, methods=[method], include_in_schema=False)
            return fn

        return register

    P = "/{organization}/{project}/_apis"
    O = "/{organization}/_apis"

    app.include_router(locations.router(scope, reply, AdoError))
    app.include_router(projects.router(lambda: app.state.project, scope, reply, AdoError))

    # ---- WIQL ---------------------------------------------------------------------------------

    @routes([f"{P}/wit/wiql", "/{organization}/{project}/{team}/_apis/wit/wiql", f"{O}/wit/wiql"], "POST")
    async def wiql(
        request: Request, organization: str, project: str | None = None, team: str | None = None
    ) -> Response:
        scope(organization, project, team)
        try:
            body = await request.json()
            text = body["query"]
        except (ValueError, KeyError, TypeError):
            raise AdoError(
                400,
                "VS402323: The request body must contain a WIQL query in the 'query' property.",
                "ArgumentNullException",
                "System",
            ) from None
        top = int_param(request, "$top")
        try:
            q, ids = run_query(app.state.project, text, top, cfg.today)
        except WiqlError as e:
            raise AdoError(400, str(e), e.type_key) from None
        data = {
            "queryType": "flat",
            "queryResultType": "workItem",
            "asOf": datetime.now(cfg.today.tzinfo).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "columns": [r.field_ref(f) for f in q.columns],
            "sortColumns": [{"field": r.field_ref(k.field), "descending": k.descending} for k in q.order],
            "workItems": [{"id": i, "url": f"{r.org_url}/_apis/wit/workItems/{i}"} for i in ids],
        }
        return reply(request, data)

    # ---- work items ---------------------------------------------------------------------------

    @routes([f"{P}/wit/workitemsbatch", f"{O}/wit/workitemsbatch"], "POST")
    async def batch(request: Request, organization: str, project: str | None = None) -> Response:
        scope(organization, project)
        try:
            body = await request.json()
            ids = [int(i) for i in body.get("ids") or []]
        except (ValueError, TypeError, AttributeError):
            raise AdoError(
                400, "VS402308: The request body is not a valid WorkItemBatchGetRequest.", "ArgumentException", "System"
            ) from None
        return get_items(
            request, ids, body.get("fields"), body.get("$expand"), body.get("asOf"), body.get("errorPolicy")
        )

    @routes([f"{P}/wit/workitems", f"{O}/wit/workitems"])
    async def list_items(request: Request, organization: str, project: str | None = None) -> Response:
        scope(organization, project)
        q = request.query_params
        try:
            ids = [int(x) for x in q.get("ids", "").split(",") if x.strip()]
        except ValueError:
            raise AdoError(
                400, "The ids parameter must be a comma-separated list of integers.", "ArgumentException", "System"
            ) from None
        fields = [f for f in q.get("fields", "").split(",") if f.strip()] or None
        return get_items(request, ids, fields, q.get("$expand"), q.get("asOf"), q.get("errorPolicy"))

    @routes([f"{P}/wit/workitems/{{item_id}}", f"{O}/wit/workitems/{{item_id}}"])
    async def get_item(request: Request, organization: str, item_id: int, project: str | None = None) -> Response:
        scope(organization, project)
        item_exists(item_id)
        q = request.query_params
        fields = [f for f in q.get("fields", "").split(",") if f.strip()] or None
        expand = q.get("$expand")
        if fields and expand and expand.lower() != "none":
            raise AdoError(
                400,
                "The expand parameter can not be used with the fields parameter.",
                "ConflictingParametersException",
                "Microsoft.TeamFoundation.WorkItemTracking.WebApi",
            )
        doc = r.work_item(item_id, expand, fields, parse_date(q.get("asOf")))
        if doc is None:
            raise AdoError(
                404,
                f"TF401232: Work item {item_id} does not exist, or you do not have permissions to read it.",
                "WorkItemUnauthorizedAccessException",
            )
        return reply(request, doc)

    @routes([f"{P}/wit/workitems/{{item_id}}/revisions", f"{O}/wit/workitems/{{item_id}}/revisions"])
    async def revisions(request: Request, organization: str, item_id: int, project: str | None = None) -> Response:
        scope(organization, project)
        item_exists(item_id)
        total = len(app.state.project.revisions(item_id))
        skip = int_param(request, "$skip", 0) or 0
        top = int_param(request, "$top", 200) or 200
        expand = request.query_params.get("$expand")
        value = [r.revision(item_id, n, expand) for n in range(skip + 1, min(total, skip + top) + 1)]
        return reply(request, {"count": len(value), "value": value})

    @routes(
        [f"{P}/wit/workitems/{{item_id}}/revisions/{{number}}", f"{O}/wit/workitems/{{item_id}}/revisions/{{number}}"]
    )
    async def revision(
        request: Request, organization: str, item_id: int, number: int, project: str | None = None
    ) -> Response:
        scope(organization, project)
        item_exists(item_id)
        if not 1 <= number <= len(app.state.project.revisions(item_id)):
            raise AdoError(
                404,
                f"TF401262: Work item {item_id} revision {number} does not exist.",
                "WorkItemRevisionNotFoundException",
            )
        return reply(request, r.revision(item_id, number, request.query_params.get("$expand")))

    @routes([f"{P}/wit/workitems/{{item_id}}/updates", f"{O}/wit/workitems/{{item_id}}/updates"])
    async def updates(request: Request, organization: str, item_id: int, project: str | None = None) -> Response:
        scope(organization, project)
        item_exists(item_id)
        skip = int_param(request, "$skip", 0) or 0
        top = int_param(request, "$top", 200) or 200
        value = r.updates(item_id)[skip : skip + top]
        return reply(request, {"count": len(value), "value": value})

    @routes([f"{P}/wit/workitems/{{item_id}}/updates/{{number}}", f"{O}/wit/workitems/{{item_id}}/updates/{{number}}"])
    async def update(
        request: Request, organization: str, item_id: int, number: int, project: str | None = None
    ) -> Response:
        scope(organization, project)
        item_exists(item_id)
        all_updates = r.updates(item_id)
        if not 1 <= number <= len(all_updates):
            raise AdoError(
                404, f"Work item {item_id} update {number} does not exist.", "WorkItemUpdateNotFoundException"
            )
        return reply(request, all_updates[number - 1])

    # ---- comments -----------------------------------------------------------------------------

    @routes([f"{P}/wit/workitems/{{item_id}}/comments"])
    async def comments(request: Request, organization: str, project: str, item_id: int) -> Response:
        scope(organization, project)
        require_preview(request)
        item_exists(item_id)
        q = request.query_params
        top = min(max(int_param(request, "$top", MAX_COMMENTS_PAGE) or MAX_COMMENTS_PAGE, 1), MAX_COMMENTS_PAGE)
        all_comments = app.state.project.comments(item_id)
        if (q.get("order") or "desc").lower() != "asc":
            all_comments = list(reversed(all_comments))  # newest first, as the service defaults
        if q.get("ids"):
            wanted = {int(x) for x in q["ids"].split(",") if x.strip().isdigit()}
            all_comments = [c for c in all_comments if c.id in wanted]
        token = q.get("continuationToken")
        try:
            start = decode_token(token) if token else 0
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise AdoError(400, "The continuation token is not valid.", "InvalidContinuationTokenException") from None
        page = all_comments[start : start + top]
        data: dict[str, Any] = {
            "totalCount": len(all_comments),
            "count": len(page),
            "comments": [r.comment(c) for c in page],
        }
        if start + top < len(all_comments):
            nxt = encode_token(start + top)
            data["continuationToken"] = nxt
            query = "&".join(f"{quote(k)}={quote(v)}" for k, v in q.items() if k != "continuationToken")
            data["nextPage"] = (
                f"{r.project_url}/_apis/wit/workItems/{item_id}/comments?{query}"
                f"{'&' if query else ''}continuationToken={nxt}"
            )
        data["url"] = f"{r.project_url}/_apis/wit/workItems/{item_id}/comments"
        return reply(request, data)

    @routes([f"{P}/wit/workitems/{{item_id}}/comments/{{comment_id}}"])
    async def comment(request: Request, organization: str, project: str, item_id: int, comment_id: int) -> Response:
        scope(organization, project)
        require_preview(request)
        item_exists(item_id)
        for c in app.state.project.comments(item_id):
            if c.id == comment_id:
                return reply(request, r.comment(c))
        raise AdoError(
            404, f"TF401503: Comment {comment_id} on work item {item_id} does not exist.", "CommentNotFoundException"
        )

    # ---- attachments --------------------------------------------------------------------------

    @routes([f"{P}/wit/attachments/{{guid}}", f"{O}/wit/attachments/{{guid}}"])
    async def attachment(request: Request, organization: str, guid: str, project: str | None = None) -> Response:
        scope(organization, project)
        try:
            att = app.state.project.attachment(guid)
        except KeyError:
            raise AdoError(
                404, f"VS402484: Attachment {guid} could not be found.", "AttachmentNotFoundException"
            ) from None
        name = request.query_params.get("fileName") or att.file_name
        disposition = "attachment" if request.query_params.get("download", "").lower() == "true" else "inline"
        headers = {
            "Content-Length": str(att.size),
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
        }
        return StreamingResponse(
            app.state.project.attachment_chunks(att.guid), media_type="application/octet-stream", headers=headers
        )

    # ---- classification nodes -----------------------------------------------------------------

    def depth_param(request: Request) -> int:
        return max(0, int_param(request, "$depth", 0) or 0)

    @routes([f"{P}/wit/classificationnodes"])
    async def root_nodes(request: Request, organization: str, project: str) -> Response:
        scope(organization, project)
        depth = depth_param(request)
        ids_raw = request.query_params.get("ids")
        p = app.state.project
        if ids_raw:
            wanted = [int(x) for x in ids_raw.split(",") if x.strip().isdigit()]
            nodes = {n.id: n for root in (p.areas, p.iterations) for n in root.walk()}
            omit = (request.query_params.get("errorPolicy") or "fail").lower() == "omit"
            value = []
            for i in wanted:
                if i in nodes:
                    value.append(r.node(nodes[i], depth))
                elif not omit:
                    raise AdoError(
                        404,
                        f"VS402485: The classification node with id {i} does not exist.",
                        "ClassificationNodeDoesNotExistException",
                    )
            return reply(request, {"count": len(value), "value": value})
        value = [r.node(p.areas, depth), r.node(p.iterations, depth)]
        return reply(request, {"count": 2, "value": value})

    @routes([f"{P}/wit/classificationnodes/{{group}}", f"{P}/wit/classificationnodes/{{group}}/{{path:path}}"])
    async def node(request: Request, organization: str, project: str, group: str, path: str = "") -> Response:
        scope(organization, project)
        p = app.state.project
        root = {"areas": p.areas, "iterations": p.iterations}.get(group.lower())
        if root is None:
            raise AdoError(
                400,
                f"The structure group '{group}' is not valid; use Areas or Iterations.",
                "ArgumentException",
                "System",
            )
        n = root
        for name in [unquote(s) for s in path.split("/") if s]:
            n = next((c for c in n.children if c.name.lower() == name.lower()), None)
            if n is None:
                raise AdoError(
                    404,
                    f"VS402485: The node '{path}' does not exist under {group}.",
                    "ClassificationNodeDoesNotExistException",
                )
        return reply(request, r.node(n, depth_param(request)))

    # ---- process metadata ---------------------------------------------------------------------

    def find_type(name: str) -> str:
        wit = catalog.find_type(unquote(name))
        if wit is None:
            raise AdoError(
                404, f"TF201036: The work item type '{name}' does not exist.", "WorkItemTypeNotFoundException"
            )
        return wit

    @routes([f"{P}/wit/workitemtypes"])
    async def types(request: Request, organization: str, project: str) -> Response:
        scope(organization, project)
        value = [r.work_item_type(t) for t in catalog.TYPE_META]
        return reply(request, {"count": len(value), "value": value})

    @routes([f"{P}/wit/workitemtypes/{{name}}"])
    async def one_type(request: Request, organization: str, project: str, name: str) -> Response:
        scope(organization, project)
        return reply(request, r.work_item_type(find_type(name)))

    @routes([f"{P}/wit/workitemtypes/{{name}}/states"])
    async def type_states(request: Request, organization: str, project: str, name: str) -> Response:
        scope(organization, project)
        value = catalog.states_json(find_type(name))
        return reply(request, {"count": len(value), "value": value})

    @routes([f"{P}/wit/workitemtypes/{{name}}/fields"])
    async def type_fields(request: Request, organization: str, project: str, name: str) -> Response:
        scope(organization, project)
        value = r.work_item_type(find_type(name))["fields"]
        return reply(request, {"count": len(value), "value": value})

    @routes([f"{P}/wit/workitemtypecategories"])
    async def categories(request: Request, organization: str, project: str) -> Response:
        scope(organization, project)
        value = [r.category(*c) for c in catalog.CATEGORIES]
        return reply(request, {"count": len(value), "value": value})

    @routes([f"{P}/wit/workitemtypecategories/{{ref}}"])
    async def category(request: Request, organization: str, project: str, ref: str) -> Response:
        scope(organization, project)
        for c in catalog.CATEGORIES:
            if c[1].lower() == ref.lower():
                return reply(request, r.category(*c))
        raise AdoError(
            404,
            f"TF201079: The work item type category '{ref}' does not exist.",
            "WorkItemTypeCategoryNotFoundException",
        )

    @routes([f"{P}/wit/fields", f"{O}/wit/fields"])
    async def fields(request: Request, organization: str, project: str | None = None) -> Response:
        scope(organization, project)
        value = [r.field(f) for f in catalog.FIELDS]
        return reply(request, {"count": len(value), "value": value})

    @routes([f"{P}/wit/fields/{{name}}", f"{O}/wit/fields/{{name}}"])
    async def field(request: Request, organization: str, name: str, project: str | None = None) -> Response:
        scope(organization, project)
        f = catalog.find_field(unquote(name))
        if f is None:
            raise AdoError(
                404, f"TF51535: Cannot find field {name}.", "WorkItemTrackingFieldDefinitionNotFoundException"
            )
        return reply(request, r.field(f))

    @routes([f"{O}/wit/workitemrelationtypes"])
    async def relation_types(request: Request, organization: str) -> Response:
        scope(organization)
        value = [r.relation_type(*t) for t in catalog.RELATION_TYPES]
        return reply(request, {"count": len(value), "value": value})

    @routes([f"{O}/wit/workitemrelationtypes/{{ref}}"])
    async def relation_type(request: Request, organization: str, ref: str) -> Response:
        scope(organization)
        for t in catalog.RELATION_TYPES:
            if t[0].lower() == ref.lower():
                return reply(request, r.relation_type(*t))
        raise AdoError(404, f"TF201063: The link type '{ref}' does not exist.", "WorkItemLinkTypeNotFoundException")

    # ---- team settings ------------------------------------------------------------------------

    @routes(["/{organization}/{project}/{team}/_apis/work/teamsettings/iterations"])
    async def team_iterations(request: Request, organization: str, project: str, team: str) -> Response:
        scope(organization, project, team)
        frame = (request.query_params.get("$timeframe") or "").lower()
        value = [r.team_iteration(n, cfg.today) for n in app.state.project.team_iterations()]
        if frame:
            value = [v for v in value if v["attributes"]["timeFrame"] == frame]
        return reply(request, {"count": len(value), "value": value})

    @routes(["/{organization}/{project}/{team}/_apis/work/teamsettings/iterations/{iteration_id}"])
    async def team_iteration(
        request: Request, organization: str, project: str, team: str, iteration_id: str
    ) -> Response:
        scope(organization, project, team)
        for n in app.state.project.team_iterations():
            if n.identifier == iteration_id.lower():
                return reply(request, r.team_iteration(n, cfg.today))
        raise AdoError(
            404,
            f"VS402486: The iteration {iteration_id} is not a team iteration.",
            "TeamIterationNotFoundException",
            "Microsoft.TeamFoundation.Work.WebApi",
        )

    # ---- people -------------------------------------------------------------------------------

    @routes([f"{O}/graph/users"])
    async def graph_users(request: Request, organization: str) -> Response:
        scope(organization)
        require_preview(request)
        token = request.query_params.get("continuationToken")
        try:
            start = decode_token(token) if token else 0
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise AdoError(
                400,
                "The continuation token is not valid.",
                "InvalidContinuationTokenException",
                "Microsoft.VisualStudio.Services.Graph",
            ) from None
        users = app.state.project.users
        page = users[start : start + cfg.graph_page_size]
        headers = {}
        if start + cfg.graph_page_size < len(users):
            headers["X-MS-ContinuationToken"] = encode_token(start + cfg.graph_page_size)
        value = [r.graph_user(u) for u in page]
        return reply(request, {"count": len(value), "value": value}, headers=headers)

    @routes([f"{O}/identities"])
    async def identities(request: Request, organization: str) -> Response:
        scope(organization)
        q = request.query_params
        users = app.state.project.users
        if q.get("identityIds"):
            wanted = {x.strip().lower() for x in q["identityIds"].split(",")}
            found = [u for u in users if u.id in wanted]
        elif q.get("searchFilter"):
            value = (q.get("filterValue") or "").strip().lower()
            kind = q["searchFilter"].lower()
            if kind in ("mailaddress", "accountname"):
                found = [u for u in users if value in ((u.email or "").lower(), u.unique_name.lower())]
            elif kind == "displayname":
                found = [u for u in users if u.display_name.lower() == value]
            else:  # General: email, account or display name
                found = [
                    u
                    for u in users
                    if value and value in ((u.email or "").lower(), u.unique_name.lower(), u.display_name.lower())
                ]
        else:
            raise AdoError(
                400,
                "VS403499: One of searchFilter, descriptors, subjectDescriptors or identityIds must be given.",
                "ArgumentException",
                "System",
            )
        value = [r.identity(u) for u in found]
        return reply(request, {"count": len(value), "value": value})

    # ---- 7pace Timetracker --------------------------------------------------------------------

    @routes(["/{organization}/_7pace/api/rest/worklogs", "/{organization}/_7pace/api/rest/worklogs/all"])
    async def worklogs(request: Request, organization: str) -> Response:
        scope(organization)
        q = request.query_params
        count = min(max(int_param(request, "$count", MAX_7PACE_PAGE) or MAX_7PACE_PAGE, 1), MAX_7PACE_PAGE)
        skip = max(int_param(request, "$skip", 0) or 0, 0)
        p = app.state.project
        if q.get("workItemIds"):
            try:
                ids = [int(x) for x in q["workItemIds"].split(",") if x.strip()]
            except ValueError:
                return reply(request, {"error": {"code": "BadRequest", "message": "workItemIds must be integers"}}, 400)
        else:
            ids = list(p.item_ids())
        rows: list[dict[str, Any]] = []
        seen = 0
        for i in ids:
            if not 1 <= i <= p.n:
                continue
            for w in p.worklogs(i):
                if seen >= skip and len(rows) < count:
                    rows.append(r.worklog(w))
                seen += 1
            if len(rows) >= count:
                break
        return reply(request, {"data": rows})

    # ---- admin --------------------------------------------------------------------------------

    @app.post("/_sandbox/changes", include_in_schema=False)
    async def sandbox_changes(request: Request, body: SourceChanges) -> Response:
        """Edit the read-only project as a user would in ADO, so delta syncs have something to find."""
        p = app.state.project
        now = datetime.now(UTC)
        revs: dict[str, int] = {}
        try:
            for c in body.changes:
                change = SourceChange(
                    at=now,
                    fields=c.fields,
                    state=c.state,
                    comments=c.comments,
                    attachments=c.attachments,
                    links=tuple((link.rel, link.to) for link in c.links),
                    removed_links=tuple((link.rel, link.to) for link in c.removed_links),
                    parent=c.parent,
                    unparent=c.unparent,
                    inline_images=c.inline_images,
                )
                revs[str(c.id)] = p.change(c.id, change)
        except KeyError as err:
            return reply(request, {"message": f"work item {err.args[0]} does not exist"}, 404)
        except ValueError as err:
            return reply(request, {"message": str(err)}, 400)
        added = p.add_items(body.new_items, now) if body.new_items else []
        state_cache.clear()
        return reply(request, {"changedDate": now.isoformat(), "revs": revs, "added": added})

    @app.get("/_sandbox/state", include_in_schema=False)
    async def sandbox_state(request: Request) -> Response:
        if not state_cache:
            state_cache.update(project_counts(app.state.project))
        return reply(request, state_cache)

    return _wrap(app)


def _wrap(app: FastAPI) -> FastAPI:
    app.add_middleware(_CaseFold)
    return app


def project_counts(p: GeneratedProject) -> dict[str, Any]:
    """What the sandbox holds, so tests and the demo can compare it with what landed in Jira."""
    by_type: collections.Counter[str] = collections.Counter()
    by_state: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    links: collections.Counter[str] = collections.Counter()
    attachments = attachment_bytes = comments = worklogs = 0
    for i in p.item_ids():
        core = p.core(i)
        by_type[core.type] += 1
        by_state[core.type][core.state] += 1
        for rel, _ in p.linked_items(i):
            links[rel] += 1
        atts = p.attachments(i)
        attachments += len(atts)
        attachment_bytes += sum(a.size for a in atts)
        comments += p.comment_count(i)
        worklogs += len(p.worklogs(i))
    return {
        "organization": p.spec.organization,
        "project": p.spec.project,
        "seed": p.spec.seed,
        "items": p.n,
        "itemsByType": dict(by_type),
        "itemsByTypeAndState": {k: dict(v) for k, v in by_state.items()},
        "linksByType": dict(links),
        "attachments": attachments,
        "attachmentBytes": attachment_bytes,
        "comments": comments,
        "worklogs": worklogs,
        "users": len(p.users),
        "uglyCases": p.ugly_cases(),
    }
