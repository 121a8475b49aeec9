"""`migrayt audit`: who did what, when, through which door."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from migrayt.api.cli_commands.options import ApiUrl, Json, Token, client, command, emit


@command
def audit(
    migration: Annotated[str | None, typer.Option(help="only this migration")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="only this run")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    after: Annotated[int, typer.Option(min=0, help="only events after this id")] = 0,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """The audit trail: who did what, when, through which door."""
    rows = client(api_url, token).get("/api/audit", migration_id=migration, run_id=run_id, limit=limit, after_id=after)

    def render(c: Console, rows: list) -> None:
        table = Table("id", "when", "action", "actor", "door", "run", "detail")
        for e in rows:
            table.add_row(
                str(e["id"]),
                str(e.get("created_at") or "")[:19],
                e["action"],
                e["actor"],
                e["door"],
                e.get("run_id") or "",
                json.dumps(e["detail"])[:80],
            )
        c.print(table)

    emit(as_json, rows, render)


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
