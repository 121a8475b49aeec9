"""The sandbox Azure DevOps Services (REST 7.1, read side of Boards) as a FastAPI app.

Routes answer both org-level and project-level URLs (the service accepts both), resource
names in any letter case, and Basic auth with the PAT as password. 7pace Timetracker's REST
API (which really lives on its own host) is served at
`/{organization}/_7pace/api/rest/workLogs[/all]?api-version=3.0&workItemIds=1,2&$skip=&$count=`.
The routes live in `routes/`, one module per resource, and read the organization from `app.state`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.generator import GeneratedProject

from . import locations, projects
from .casefold import CaseFold
from .config import AdoSandboxConfig
from .errors import AdoError
from .render import Renderer
from .routes import (
    attachments,
    classification,
    comments,
    people,
    process,
    sandbox_control,
    test_plans,
    timetracker,
    wiql,
    work_items,
)
from .routes.deps import AdoSite, authorized, check_scope, reply
from .routes.sandbox_control import project_counts

__all__ = ["AdoError", "AdoSandboxConfig", "create_ado_app", "project_counts"]

_ROUTERS = (
    wiql,
    work_items,
    comments,
    attachments,
    process,
    classification,
    people,
    timetracker,
    test_plans,
    sandbox_control,
)

# A bad PAT gets the service's HTML page and a Basic challenge, not JSON.
_SIGN_IN_PAGE = (
    "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body>"
    "<h1>401 - Unauthorized: Access is denied due to invalid credentials.</h1>"
    "<p>Access Denied: The Personal Access Token used has expired or is invalid.</p></body></html>"
)
_SIGN_IN_HEADERS = {
    "WWW-Authenticate": 'Basic realm="https://dev.azure.com/"',
    "X-TFS-FedAuthRealm": "https://dev.azure.com/",
    "X-VSS-E2EID": "00000000-0000-0000-0000-000000000000",
}


def create_ado_app(
    project: GeneratedProject,
    config: AdoSandboxConfig | None = None,
    get_faults: Callable[[], FaultConfig] = lambda: FaultConfig(),
) -> FastAPI:
    """`get_faults` is for the fault middleware wrapped around this app; the app itself injects nothing."""
    cfg = config or AdoSandboxConfig()
    site = AdoSite(project, cfg, Renderer(project))
    app = FastAPI(title="Sandbox Azure DevOps Services", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.ado = site
    app.state.project = project
    app.state.config = cfg
    app.state.get_faults = get_faults

    @app.exception_handler(AdoError)
    async def _ado_error(request: Request, exc: AdoError) -> Response:
        return reply(request, exc.body(), exc.status)

    @app.middleware("http")
    async def _auth(request: Request, call_next: Callable) -> Response:
        if request.url.path.startswith("/_sandbox") or authorized(request, cfg.pat):
            return await call_next(request)
        return HTMLResponse(_SIGN_IN_PAGE, status_code=401, headers=_SIGN_IN_HEADERS)

    scope = partial(check_scope, site)
    app.include_router(locations.router(scope, reply, AdoError))
    app.include_router(projects.router(lambda: site.project, scope, reply, AdoError))
    for module in _ROUTERS:
        app.include_router(module.router)
    app.add_middleware(CaseFold)
    return app
