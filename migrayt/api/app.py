"""FastAPI facade: one engine and one Temporal client per process, kept in app.state."""

from __future__ import annotations

from contextlib import asynccontextmanager
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from migrayt.api.routers import runs
from migrayt.api.service import MigrationService, NotFound, RunConflict
from migrayt.settings import Settings, get_settings
from migrayt.store.db import create_engine, session_factory
from migrayt.worker.temporal_client import connect_temporal


def create_app(settings: Settings | None = None, database_url: str | None = None, temporal_address: str | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = create_engine(database_url or settings.database_url or "")
        client = await connect_temporal(settings, temporal_address)
        app.state.engine = engine
        app.state.service = MigrationService(settings, session_factory(engine), client)
        yield
        await engine.dispose()

    app = FastAPI(title="Migrayt", version="0.1.0", lifespan=lifespan)
    app.include_router(runs.router)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(RunConflict)
    async def conflict(_: Request, exc: RunConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    return app

