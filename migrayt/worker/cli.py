"""`migrayt worker`: a worker process on its own, for more machines or for crash tests."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from migrayt.settings import get_settings


def worker_command(
    database_url: Annotated[str | None, typer.Option(help="PostgreSQL URL (default: MIGRAYT_DATABASE_URL)")] = None,
    temporal_address: Annotated[str | None, typer.Option(help="Temporal frontend host:port")] = None,
) -> None:
    """Run a worker that executes migration runs until SIGINT/SIGTERM."""
    from migrayt.worker.main import serve

    settings = get_settings()
    url = database_url or settings.database_url
    if not url:
        raise typer.BadParameter("no database: pass --database-url or set MIGRAYT_DATABASE_URL (or use `migrayt up`)")
    # A worker on its own is never the embedded stack: the auth mode (and so the outbound policy) is that of
    # a server with this database, whichever way the URL was given.
    settings = settings.model_copy(update={"database_url": url})
    from migrayt.ops.cli import refuse_without_secret_key

    refuse_without_secret_key(settings, "the worker")
    from migrayt.ops.logs import configure_logging

    configure_logging(settings)
    from migrayt.ops.shared_keys import SharedKeyMismatch

    try:
        asyncio.run(serve(settings, url, temporal_address))
    except SharedKeyMismatch as err:
        typer.echo(f"error: the worker refuses to start: {err}", err=True)
        raise typer.Exit(2) from None
