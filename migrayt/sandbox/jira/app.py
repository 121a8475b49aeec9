"""The sandbox Jira Cloud site (platform REST v3 + Agile 1.0) as an ASGI app.

Faults (latency, 429, 5xx, dropped responses) come from a middleware wrapped around this app by
the sandbox server; the app itself only honours `search_index_lag_seconds`. The routes live in
`routes/`, one module per resource, and read the state and fault settings from `app.state`.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from migrayt.sandbox.fault_config import FaultConfig

from . import server_info
from .config import JiraSandboxConfig, JiraUserSeed
from .errors import JiraError
from .jql import JqlError
from .rest_v2 import RestV2Reads
from .routes import (
    agile,
    attachments,
    bulk,
    bulk_transitions,
    comments,
    issues,
    links,
    meta,
    notification_schemes,
    projects,
    sandbox_control,
    screens,
    search,
    worklogs,
)
from .routes.deps import authenticated
from .state import JiraState

__all__ = ["JiraSandboxConfig", "JiraUserSeed", "create_jira_app"]

_V3 = "/rest/api/3"
_PLATFORM_ROUTERS = (
    meta,
    screens,
    issues,
    search,
    links,
    comments,
    worklogs,
    attachments,
    bulk,
    bulk_transitions,
    notification_schemes,
)


def _accepted_auth(config: JiraSandboxConfig) -> list[bytes]:
    basic = "Basic " + base64.b64encode(f"{config.email}:{config.api_token}".encode()).decode()
    return [basic.encode()] + ([f"Bearer {config.data_center_pat}".encode()] if config.data_center_pat else [])


def _install_error_handlers(app: FastAPI) -> None:
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
    app.state.get_faults = get_faults
    app.state.accepted_auth = _accepted_auth(config)
    _install_error_handlers(app)

    auth = [Depends(authenticated)]
    app.include_router(server_info.router(), prefix=_V3)  # anonymous, as on Cloud
    app.include_router(projects.router, prefix=_V3, dependencies=auth)
    for module in _PLATFORM_ROUTERS:
        app.include_router(module.router, prefix=_V3, dependencies=auth)
    app.include_router(meta.v2_router, prefix="/rest/api/2", dependencies=auth)
    app.add_middleware(RestV2Reads)
    app.include_router(agile.router, prefix="/rest/agile/1.0", dependencies=auth)
    app.include_router(sandbox_control.router)  # no auth: the sandbox's own controls
    app.include_router(bulk_transitions.control)
    return app
