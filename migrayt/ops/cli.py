"""Commands for running Migrayt on real infrastructure (deploy/): each process does one job.

- `migrayt api`: the HTTP API alone, against an external PostgreSQL and Temporal (`migrayt up` starts everything);
- `migrayt db upgrade`: the schema to the newest version, run once before a rollout;
- `migrayt setup temporal`: the custom search attributes on the namespace, idempotently;
- `migrayt probe`: a container health check (HEALTHCHECK, compose, ECS) for the API or a worker.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from migrayt.settings import Settings, get_settings

db_app = typer.Typer(no_args_is_help=True, help="The database schema.")
setup_app = typer.Typer(no_args_is_help=True, help="One-time set-up of the services Migrayt runs on.")

# A worker long-polls its task queue about once a minute; Temporal keeps a poller's last access time.
WORKER_POLL_STALE_SECONDS = 180

DatabaseUrl = Annotated[str | None, typer.Option(help="PostgreSQL URL (default: MIGRAYT_DATABASE_URL)")]
TemporalAddress = Annotated[
    str | None, typer.Option(help="Temporal frontend host:port (default: MIGRAYT_TEMPORAL_ADDRESS)")
]


def _end_process(code: int) -> None:
    """End a one-shot command that used a Temporal client, skipping interpreter finalisation: the SDK's native
    runtime can abort the process (SIGABRT) while Python tears down, which would turn a healthy probe or a
    finished Job into a failure. Output is flushed first."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _database_url(settings: Settings, given: str | None) -> str:
    url = given or settings.database_url
    if not url:
        raise typer.BadParameter("no database: pass --database-url or set MIGRAYT_DATABASE_URL")
    return url


def api_command(
    database_url: DatabaseUrl = None,
    temporal_address: TemporalAddress = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: MIGRAYT_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: MIGRAYT_API_PORT)")] = None,
) -> None:
    """Serve the HTTP API (and web app, codec) alone, against an external PostgreSQL and Temporal."""
    import uvicorn

    from migrayt.api.app import create_app

    settings = get_settings()
    url = _database_url(settings, database_url)
    address = temporal_address or settings.temporal_address
    if not address:
        raise typer.BadParameter("no Temporal: pass --temporal-address or set MIGRAYT_TEMPORAL_ADDRESS")
    settings = settings.model_copy(
        update={
            "database_url": url,
            "temporal_address": address,
            "api_host": host or settings.api_host,
            "api_port": port or settings.api_port,
        }
    )
    refuse_without_secret_key(settings, "the API")
    from migrayt.observability.metrics import install_runtime
    from migrayt.observability.tracing import install_tracing
    from migrayt.ops.logs import configure_logging, uvicorn_log_config

    configure_logging(settings)
    from migrayt.ops.shared_keys import SharedKeyMismatch, check_shared_keys_at

    try:
        asyncio.run(check_shared_keys_at(url, settings, "api"))
    except SharedKeyMismatch as err:
        typer.echo(f"error: the API refuses to start: {err}", err=True)
        raise typer.Exit(2) from None
    install_runtime(settings)  # the API's /metrics is on MIGRAYT_METRICS_PORT, never on the API's own port
    # OTEL_EXPORTER_OTLP_*: request spans (FastAPI's own) and the runs they start, in one trace with the worker's.
    install_tracing("migrayt-api")
    app = create_app(settings, database_url=url, temporal_address=address)
    # Live progress streams last as long as a run: a rollout cuts them after 10 s (clients reconnect).
    json_logs = uvicorn_log_config(settings)
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
        log_config=json_logs if json_logs else uvicorn.config.LOGGING_CONFIG,  # else: uvicorn's own text lines
    )


def refuse_without_secret_key(settings, what: str) -> None:
    from migrayt.connections_store import SecretKeyMissing, require_secret_key

    try:
        require_secret_key(settings, what)
    except SecretKeyMissing as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None


@db_app.command("upgrade")
def db_upgrade_command(database_url: DatabaseUrl = None) -> None:
    """Upgrade the schema to the newest version (Alembic `head`); a no-op when it is there already."""
    from migrayt.store.db import upgrade_schema_sync

    upgrade_schema_sync(_database_url(get_settings(), database_url))
    typer.echo("database schema is at the newest version")


@setup_app.command("temporal")
def setup_temporal_command(
    temporal_address: TemporalAddress = None,
    namespace: Annotated[str | None, typer.Option(help="Namespace (default: MIGRAYT_TEMPORAL_NAMESPACE)")] = None,
) -> None:
    """Register Migrayt's search attributes (MigrayTenant, MigrationStatus, MigrationPhase) on the namespace.

    Safe to run at every deploy: attributes already there are left alone. The namespace itself must exist."""
    from temporalio.service import RPCError

    from migrayt.ops.temporal_admin import SearchAttributeConflict, connect_plain, ensure_search_attributes

    settings = get_settings()
    if namespace:
        settings = settings.model_copy(update={"temporal_namespace": namespace})

    async def run():
        client = await connect_plain(settings, temporal_address)
        return await ensure_search_attributes(client, settings.temporal_namespace)

    try:
        report = asyncio.run(run())
    except SearchAttributeConflict as exc:
        typer.echo(f"error: {exc}", err=True)
        _end_process(1)
    except RPCError as exc:
        typer.echo(
            f"error: Temporal refused to register search attributes on {settings.temporal_namespace!r}: {exc.message}. "
            "On Temporal Cloud without operator rights add them with `tcld namespace search-attributes add` "
            "(Keyword: MigrayTenant, MigrationStatus, MigrationPhase).",
            err=True,
        )
        _end_process(1)
    for name in report.added:
        typer.echo(f"added {name}")
    for name in report.present:
        typer.echo(f"already present {name}")
    typer.echo(f"namespace {report.namespace!r} has every search attribute Migrayt needs")
    _end_process(0)


def role_of_process(cmdline: bytes) -> Literal["api", "worker"] | None:
    """Which long-running Migrayt command a process runs, from its /proc/<pid>/cmdline (NUL-separated argv)."""
    args = [a.decode(errors="replace") for a in cmdline.split(b"\0") if a]
    for n, arg in enumerate(args):
        if Path(arg).name == "migrayt" or arg.endswith("migrayt.api.cli"):
            rest = [a for a in args[n + 1 :] if not a.startswith("-")]
            if rest and rest[0] in ("api", "worker"):
                return rest[0]  # type: ignore[return-value]
            return None
    return None


def _probe_api(settings: Settings, ready: bool) -> tuple[bool, str]:
    import httpx

    path = "/readyz" if ready else "/healthz"
    try:
        answer = httpx.get(f"http://127.0.0.1:{settings.api_port}{path}", timeout=5.0)
    except httpx.HTTPError as exc:
        return False, f"API not answering on port {settings.api_port} ({type(exc).__name__})"
    return answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"


def _probe_worker(settings: Settings) -> tuple[bool, str]:
    """Healthy when a worker on this host polled the task queue lately (Temporal's view, not the process's)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    from migrayt.ops.temporal_admin import RPC_TIMEOUT, connect_plain

    async def pollers():
        client = await connect_plain(settings)
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=settings.temporal_namespace,
                task_queue=TaskQueue(name=settings.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=RPC_TIMEOUT,
        )
        return answer.pollers

    try:
        found = asyncio.run(pollers())
    except Exception as exc:
        return False, f"Temporal not answering ({type(exc).__name__})"
    host = socket.gethostname()
    now = time.time()
    # The SDK's default worker identity is "<pid>@<hostname>"; a container's hostname is its own.
    mine = [p for p in found if p.identity.endswith(f"@{host}")]
    fresh = [p for p in mine if now - p.last_access_time.ToSeconds() < WORKER_POLL_STALE_SECONDS]
    if fresh:
        return True, f"worker on {host} polls task queue {settings.task_queue}"
    return (
        False,
        f"no worker on {host} polled task queue {settings.task_queue} in the last {WORKER_POLL_STALE_SECONDS} s",
    )


def probe_command(
    role: Annotated[str, typer.Argument(help="api, worker, or auto (what PID 1 of this container runs)")] = "auto",
    ready: Annotated[
        bool, typer.Option(help="API: /readyz (database and Temporal reachable) instead of /healthz")
    ] = False,
) -> None:
    """Exit 0 when this container's Migrayt process is healthy, 1 otherwise (for HEALTHCHECK and probes)."""
    if role == "auto":
        try:
            found = role_of_process(Path("/proc/1/cmdline").read_bytes())
        except OSError:
            found = None
        if found is None:
            typer.echo("no Migrayt API or worker runs as this container's main process: nothing to probe")
            return
        role = found
    settings = get_settings()
    if role == "api":
        healthy, message = _probe_api(settings, ready)
    elif role == "worker":
        healthy, message = _probe_worker(settings)
        typer.echo(message)
        _end_process(0 if healthy else 1)
    else:
        raise typer.BadParameter("role must be api, worker or auto")
    typer.echo(message)
    if not healthy:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("api")(api_command)
    app.command("probe")(probe_command)
    app.add_typer(db_app, name="db")
    app.add_typer(setup_app, name="setup")
