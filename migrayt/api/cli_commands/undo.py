"""`migrayt undo MIGRATION`: a dry run of what would go, then the undo once `--confirm` repeats its count."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from migrayt.api.cli_commands.options import ApiUrl, Json, MigrationId, Token, client, command, emit
from migrayt.contracts.undo import FORCE_CATEGORIES


def _render_plan(c: Console, answer: dict) -> None:
    plan = answer["plan"]
    table = Table("what would go", "count", "for example")
    for category, n in plan["counts"].items():
        table.add_row(category.replace("_", " "), str(n), ", ".join(plan["samples"].get(category) or []))
    c.print(table)
    for b in plan["blocked"]:
        c.print(f"  [yellow]held back[/] {b['issue_key']} ({b['category']}): {b['lost']}")
    for b in plan["forced"]:
        c.print(f"  [red]forced, lost with it[/] {b['issue_key']} ({b['category']}): {b['lost']}")
    c.print(
        f"{plan['total']} items would go; to remove them: "
        f"migrayt undo {answer['migration_id']} --confirm {plan['total']}"
    )


@command
def undo(
    migration_id: MigrationId,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="only list what would go (the default without --confirm)")
    ] = False,
    confirm: Annotated[
        int | None,
        typer.Option("--confirm", help="the dry run's count of what goes: the undo starts only if it still is"),
    ] = None,
    force: Annotated[
        list[str] | None,
        typer.Option("--force", help=f"also remove what others built on, per category ({', '.join(FORCE_CATEGORIES)})"),
    ] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Remove from Jira what a migration added: a dry run, then --confirm with its count (exit 4 if it changed)."""
    api = client(api_url, token)
    body = {"dry_run": dry_run or confirm is None, "confirm": confirm, "force": force or []}
    answer = api.post(f"/api/migrations/{migration_id}/undo", body)
    if answer["dry_run"]:
        emit(as_json, answer | {"migration_id": migration_id}, _render_plan)
        return
    emit(
        as_json,
        answer,
        lambda c, a: c.print(
            f"Undo [bold]{a['run_id']}[/] started; follow it with: migrayt status {a['run_id']} --watch "
            f"(pause, resume and cancel it like a run)"
        ),
    )


def register(app: typer.Typer) -> None:
    app.command("undo")(undo)
