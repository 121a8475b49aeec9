"""`migrayt savepoint list|download RUN`: a run's savepoints (signed files of its migration's item records)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from migrayt.api.cli_commands.client import USAGE, CliError
from migrayt.api.cli_commands.options import ApiUrl, Json, RunId, Token, client, command, emit

savepoint_app = typer.Typer(
    no_args_is_help=True,
    help="A run's savepoints: signed files of its item records (start from one: `run --from-savepoint`).",
)


@savepoint_app.command("list")
@command
def list_savepoints(run_id: RunId, api_url: ApiUrl = None, token: Token = None, as_json: Json = False) -> None:
    """A run's savepoints, newest first."""
    rows = client(api_url, token).get(f"/api/runs/{run_id}/savepoints")

    def render(c: Console, rows: list) -> None:
        table = Table("name", "written", "reason", "phase", "records")
        for r in rows:
            table.add_row(r["name"], str(r["written_at"])[:19], r["reason"], r.get("phase") or "", str(r["records"]))
        c.print(table)

    emit(as_json, rows, render)


@savepoint_app.command("download")
@command
def download(
    run_id: RunId,
    name: Annotated[str | None, typer.Option(help="which savepoint (default: the newest)")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file to write (default: its name)")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Download a run's savepoint (the newest unless --name says which)."""
    api = client(api_url, token)
    if name is None:
        listed = api.get(f"/api/runs/{run_id}/savepoints")
        if not listed:
            raise CliError(f"run {run_id} has no savepoint yet", USAGE)
        name = listed[0]["name"]
    data = api.download(f"/api/runs/{run_id}/savepoints/{name}")
    target = output or Path(name)
    target.write_bytes(data)
    emit(as_json, {"name": name, "file": str(target), "bytes": len(data)}, lambda c, d: c.print(f"saved {d['file']}"))


def register(app: typer.Typer) -> None:
    app.add_typer(savepoint_app, name="savepoint")
