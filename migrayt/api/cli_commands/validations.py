"""`migrayt validate`: check what is in Jira against the ADO source, and list every difference."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from migrayt.api.cli_commands.client import FAILURE, OK, USAGE, ApiClient, CliError
from migrayt.api.cli_commands.options import ApiUrl, Json, MigrationId, Timeout, Token, Wait, client, command, emit
from migrayt.translation.validation_rules import parse_tolerances

FINAL = ("PASSED", "FAILED", "CANCELLED", "ERROR")


def _all_differences(api: ApiClient, url: str) -> list[dict]:
    """Every difference, page after page: the list is never capped."""
    out: list[dict] = []
    next_url: str | None = f"{url}?page=1&page_size=500"
    while next_url:
        page = api.get(next_url)
        out += page["differences"]
        next_url = page.get("next_url")
    return out


def _render(c: Console, result: dict) -> None:
    c.print(
        f"Validation [bold]{result['id']}[/] {result['status']}  "
        f"{result['items_checked']} of {result['items_total']} items checked"
    )
    table = Table("check", "missing", "extra", "different", "changed in Jira after", "tolerance", "")
    for row in result["checks"]:
        table.add_row(
            row["check"],
            *(str(row[k]) for k in ("missing", "extra", "different", "changed_after", "tolerance")),
            "ok" if row["passed"] else "[red]over[/]",
        )
    c.print(table)
    for d in result.get("differences") or []:
        item = f"ADO #{d['ado_id']}" if d.get("ado_id") else ""
        c.print(
            f"  {item} {d.get('jira_key') or ''} {d['check']} {d['kind']}: "
            f"expected {d.get('expected')!s} · found {d.get('actual')!s}"
            + (f" ({d['note']})" if d.get("note") else ""),
            highlight=False,
            markup=False,
        )


@command
def validate(
    migration: MigrationId,
    deep: Annotated[bool, typer.Option("--deep", help="also compare every file's SHA-256 (downloads both)")] = False,
    tolerance: Annotated[
        list[str] | None,
        typer.Option("--tolerance", help="accept up to N differences of a check, e.g. links=3 (repeatable)"),
    ] = None,
    wait: Wait = True,
    timeout: Timeout = 3600.0,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> int:
    """Compare what is in Jira with the ADO source (read-only); exit 0 when it PASSED, 1 otherwise."""
    try:
        tolerances = parse_tolerances(tolerance or [])
    except ValueError as err:
        raise CliError(str(err), USAGE) from None
    api = client(api_url, token)
    started = api.post(f"/api/migrations/{migration}/validations", {"deep": deep, "tolerances": tolerances})
    if not wait:
        emit(as_json, started, lambda c, s: c.print(f"Validation [bold]{s['validation_id']}[/] started"))
        return OK
    deadline = time.monotonic() + timeout
    while True:
        result = api.get(started["status_url"])
        if result["status"] in FINAL:
            break
        if time.monotonic() > deadline:
            raise CliError(f"validation {started['validation_id']} still {result['status']} after {timeout:.0f}s", 1)
        time.sleep(1.0)
    result["differences"] = _all_differences(api, result["differences_url"])
    emit(as_json, result, _render)
    return OK if result["status"] == "PASSED" else FAILURE


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
