"""FastAPI facade: one engine and one Temporal client per process, kept in app.state.

app.state: settings, auth_mode ("on" | "off", see migrayt/api/auth.py), engine, service
(MigrationService), intake (IntakeService). Every /api route answers bad input with a 4xx and a
message; a 500 means a bug, and is logged with an id the response names.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from contextlib import asynccontextmanager
from urllib.parse import unquote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.middleware.trustedhost import TrustedHostMiddleware
from temporalio.service import RPCError, RPCStatusCode

from migrayt.api.auth import auth_mode
from migrayt.api.doors import LocalClientsOnly, SecurityHeaders, allowed_hosts, check_open_api_hosts
from migrayt.api.limits import BodySizeLimit, validation_error
from migrayt.api.routers import (
    admin,
    audit,
    connections,
    events,
    manage,
    migrations,
    plans,
    previews,
    runs,
    savepoints,
    scans,
    tenant,
    undo,
    users,
    validations,
)
from migrayt.connections_store import ConnectionRejected, SecretKeyMissing
from migrayt.core.errors import NotFound, RunConflict, SavepointRefused, ServiceUnreachable
from migrayt.core.intake import IntakeService
from migrayt.core.runs import MigrationService
from migrayt.core.savepoints import SavepointService
from migrayt.core.undo import UndoService
from migrayt.core.validations import ValidationService
from migrayt.mapping.jira_values import UnknownJiraValue
from migrayt.mapping.versions import PlanNotApproved, PlanTooLarge, VersionConflict
from migrayt.ops.probes import install_probes
from migrayt.settings import Settings, check_admin_token, get_settings
from migrayt.store.db import create_engine, session_factory
from migrayt.temporal.client import connect_temporal

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/billing/webhook"

# Routers of the other doors (web app, codec, schedules, checkout), included when their module exists.
OPTIONAL_ROUTERS = (
    "migrayt.api.routers.codec",
    "migrayt.api.routers.schedules",
    "migrayt.api.routers.billing",
    "migrayt.api.web",
)

DESCRIPTION = """Every door to a Migrayt run. Authenticate with `Authorization: Bearer <tenant token>`
(on the embedded stack with MIGRAYT_AUTH=off/embedded, requests without a token act as the default tenant).
Another tenant's ids answer 404. Run control: POST /api/migrations/{runId}/pause|resume|cancel|rerun;
409 when the run is not in a state for it (nothing changes)."""


async def reject_nul_characters(request: Request) -> None:
    """PostgreSQL cannot store NUL in text: refuse it up front rather than fail in the database."""
    if "\x00" in unquote(request.url.path) or "\x00" in unquote(request.url.query):
        raise HTTPException(400, "NUL characters are not allowed in paths or parameters")
    if request.method in ("POST", "PUT", "PATCH"):
        body = await request.body()
        if b"\x00" in body or b"\\u0000" in body:
            raise HTTPException(400, "NUL characters (\\u0000) are not allowed in request bodies")


def _sqlstate(exc: DBAPIError) -> str:
    orig = exc.orig
    return str(getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None) or "")


def _include_optional(app: FastAPI) -> None:
    for name in OPTIONAL_ROUTERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name is not None and name.startswith(err.name):
                continue
            raise
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)


def _codec_origins(scope) -> set[str]:
    """The Temporal UI origins the codec answers (CORS); with auth off they may POST to /codec too."""
    try:
        from migrayt.api.routers.codec import allowed_origins
    except ModuleNotFoundError:
        return set()
    return allowed_origins(Request(scope))


def _install_doors(app: FastAPI, settings: Settings, mode: str) -> None:
    """See migrayt/api/doors.py; the last added runs first, so headers land on refusals too."""
    hosts = allowed_hosts(settings)
    if mode == "off":
        check_open_api_hosts(hosts)
        app.add_middleware(LocalClientsOnly, codec_origins=_codec_origins)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)
    app.add_middleware(SecurityHeaders)


def create_app(
    settings: Settings | None = None, database_url: str | None = None, temporal_address: str | None = None
) -> FastAPI:
    settings = settings or get_settings()
    mode = auth_mode(settings)  # a wrong MIGRAYT_AUTH, or auth off on a network interface, fails at start
    check_admin_token(settings.admin_token)  # again: settings made by model_copy skip their validators

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = create_engine(database_url or settings.database_url or "")
        client = await connect_temporal(settings, temporal_address)
        sessions = session_factory(engine)
        app.state.engine = engine
        app.state.service = MigrationService(settings, sessions, client)
        app.state.intake = IntakeService(settings, sessions, client)
        app.state.savepoints = SavepointService(settings, sessions, client)
        app.state.validations = ValidationService(settings, sessions, client)
        app.state.undo = UndoService(settings, sessions, client)
        if mode == "off":
            log.warning("API authentication is OFF: requests without a token act as tenant %r", settings.tenant)
        yield
        await engine.dispose()

    app = FastAPI(title="Migrayt", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.auth_mode = mode
    app.state.event_streams = {}  # tenant → open live progress streams (routers/events.py)
    # Before routing and authentication: an unauthenticated 200 MB body must not be buffered to be refused.
    app.add_middleware(
        BodySizeLimit,
        default=settings.max_body_bytes,
        per_path={WEBHOOK_PATH: settings.max_webhook_bytes},
    )
    # Starlette types every handler as taking Exception; this one is registered for RequestValidationError only.
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    _install_doors(app, settings, mode)
    install_probes(app)  # outermost: /healthz and /readyz answer a probe by pod IP, before the Host check
    for module in (
        migrations,
        runs,
        events,
        scans,
        plans,
        users,
        previews,
        connections,
        audit,
        tenant,
        admin,
        savepoints,
        validations,
        undo,
        manage,
    ):
        app.include_router(module.router, dependencies=[Depends(reject_nul_characters)])
    _include_optional(app)

    @app.get("/api/health", tags=["meta"], summary="Liveness (no token needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"detail": message}, status_code=status)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error(404, str(exc))

    @app.exception_handler(ServiceUnreachable)
    async def unreachable(_: Request, exc: ServiceUnreachable) -> JSONResponse:
        return error(502, str(exc))

    @app.exception_handler(RunConflict)
    async def conflict(_: Request, exc: RunConflict) -> JSONResponse:
        return error(409, str(exc))

    @app.exception_handler(SavepointRefused)
    async def savepoint_refused(_: Request, exc: SavepointRefused) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(VersionConflict)
    async def version_conflict(_: Request, exc: VersionConflict) -> JSONResponse:
        return error(409, str(exc))

    @app.exception_handler(PlanNotApproved)
    async def not_approved(_: Request, exc: PlanNotApproved) -> JSONResponse:
        return error(409, str(exc))

    @app.exception_handler(PlanTooLarge)
    async def plan_too_large(_: Request, exc: PlanTooLarge) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(UnknownJiraValue)
    async def unknown_jira_value(_: Request, exc: UnknownJiraValue) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "problems": exc.problems}, status_code=422)

    @app.exception_handler(ConnectionRejected)
    async def rejected(_: Request, exc: ConnectionRejected) -> JSONResponse:
        return error(400, f"connection not saved: {exc}")

    @app.exception_handler(SecretKeyMissing)
    async def no_secret_key(_: Request, exc: SecretKeyMissing) -> JSONResponse:
        return error(503, str(exc))

    @app.exception_handler(UnicodeError)
    async def bad_text(_: Request, exc: UnicodeError) -> JSONResponse:
        # Lone surrogates and the like parse as JSON but cannot be stored or sent on.
        return error(400, "the request holds text that is not valid Unicode (e.g. a lone surrogate)")

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        state = _sqlstate(exc)
        if state.startswith("22"):  # data exceptions: the value itself is unacceptable
            return error(422, "a value in the request cannot be stored (too long, out of range or malformed)")
        if state == "23505":
            return error(409, "this conflicts with something that already exists")
        return await unexpected(request, exc)

    @app.exception_handler(RPCError)
    async def temporal_error(request: Request, exc: RPCError) -> JSONResponse:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return error(404, "the workflow behind this object no longer exists in Temporal")
        return await unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex[:12]
        log.error("unexpected error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
        return error(500, f"internal error {error_id}: this is a bug in Migrayt, logged under that id")

    return app
