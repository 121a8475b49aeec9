"""The whole local stack in one process: PostgreSQL, Temporal, worker and HTTP API (`migrayt up`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from migrayt.api.app import create_app
from migrayt.connections_store import SecretKeyMissing, require_secret_key, secret_key_for
from migrayt.core.runs import MigrationService
from migrayt.observability.tracing import install_tracing
from migrayt.settings import Settings
from migrayt.stack import EmbeddedPostgres, StackError, TemporalDevServer, ensure_port_free, start_all
from migrayt.store.db import create_engine, session_factory, upgrade_schema
from migrayt.temporal.client import connect_temporal
from migrayt.worker.main import run_worker


@dataclass
class LocalStack:
    settings: Settings
    database_url: str
    temporal_address: str
    temporal_ui_url: str | None
    api_url: str | None
    client: Client
    engine: AsyncEngine
    service: MigrationService


@asynccontextmanager
async def local_stack(settings: Settings, *, with_api: bool = True) -> AsyncIterator[LocalStack]:
    """Embedded parts unless settings give real ones; schema upgraded; a worker (and API) running."""
    state = settings.state_dir.expanduser().resolve()
    state.mkdir(mode=0o700, parents=True, exist_ok=True)  # the database password and secret files live here
    try:
        require_secret_key(settings, "migrayt up")
        secret_key_for(settings)  # auth off and no MIGRAYT_SECRET_KEY: made now, so the banner can say where it is
    except SecretKeyMissing as err:
        raise StackError(str(err)) from None
    servers: list[EmbeddedPostgres | TemporalDevServer] = []
    postgres = temporal = None
    if with_api:
        ensure_port_free(settings.api_port, "Migrayt HTTP API")
    if not settings.database_url:
        postgres = EmbeddedPostgres(state / "postgres")
        servers.append(postgres)
    if not settings.temporal_address:
        # The UI decrypts payloads through the API's remote codec (/codec) when the API runs here.
        codec = f"http://{settings.api_host}:{settings.api_port}/codec" if with_api else None
        temporal = TemporalDevServer(
            state / "temporal", port=settings.temporal_port, ui_port=settings.temporal_ui_port, codec_endpoint=codec
        )
        servers.append(temporal)
    await asyncio.to_thread(start_all, *servers)
    try:
        database_url = settings.database_url or postgres.database_url  # type: ignore[union-attr]
        temporal_address = settings.temporal_address or temporal.address  # type: ignore[union-attr]
        await upgrade_schema(database_url)
        engine = create_engine(database_url)
        # With OTEL_EXPORTER_OTLP_* set, the laptop's API and worker trace too (one process, one service name).
        install_tracing("migrayt")
        client = await connect_temporal(settings, temporal_address)
        api_server: uvicorn.Server | None = None
        api_task: asyncio.Task[None] | None = None
        api_url = None
        if with_api:
            app = create_app(settings, database_url=database_url, temporal_address=temporal_address)
            # Live progress streams last as long as their run: Ctrl-C cuts them after 5 s rather than waiting.
            api_server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    host=settings.api_host,
                    port=settings.api_port,
                    log_level="warning",
                    timeout_graceful_shutdown=5,
                )
            )
            api_task = asyncio.create_task(api_server.serve())
            api_url = f"http://{settings.api_host}:{settings.api_port}"
        try:
            async with run_worker(settings, client, database_url):
                # The banner (and a browser opened from it) comes once the API answers, not before.
                while api_server is not None and api_task is not None and not api_server.started:
                    if api_task.done():
                        api_task.result()  # it could not start: say why
                        raise StackError("the Migrayt HTTP API stopped while starting")
                    await asyncio.sleep(0.05)
                yield LocalStack(
                    settings=settings,
                    database_url=database_url,
                    temporal_address=temporal_address,
                    temporal_ui_url=temporal.ui_url if temporal else None,
                    api_url=api_url,
                    client=client,
                    engine=engine,
                    service=MigrationService(settings, session_factory(engine), client),
                )
        finally:
            if api_server is not None and api_task is not None:
                api_server.should_exit = True
                await asyncio.gather(api_task, return_exceptions=True)
            await engine.dispose()
    finally:
        for server in reversed(servers):
            await asyncio.to_thread(server.stop)
