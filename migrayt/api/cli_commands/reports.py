"""`migrayt report|trace|failures`: the run report to forward, one item's trace, every failure with its remedy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from migrayt.api.cli_commands.options import ApiUrl, Json, RunId, Token, client, command, emit

Format = Literal["html", "csv", "json"]


@command
def report(
    run_id: RunId,
    format: Annotated[Format, typer.Option("--format", "-f", help="html (one page to forward), csv or json")] = "html",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)", dir_okay=False)
    ] = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """The run report: every item's fate per phase, every failure by ADO item with what to do about it."""
    body = client(api_url, token).download(f"/api/migrations/{run_id}/report", format=format)
    if output is None:
        typer.echo(body.decode("utf-8"), nl=False)
        return
    output.write_bytes(body)
    Console(stderr=True).print(f"Report of {run_id} written to {output} ({len(body)} bytes)")


@command
def trace(
    id: Annotated[str, typer.Argument(help="migration id (mig-…) or one of its run ids (run-…)")],
    item: Annotated[str, typer.Argument(help="ADO work item id (48) or its Jira key (PHX-144)")],
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """One item's trace: ADO #N → Jira key, and every record of every phase (state, attempts, when, error)."""
    found = client(api_url, token).get(f"/api/migrations/{id}/items/{item.lstrip('#')}")

    def render(c: Console, t: dict) -> None:
        c.print(f"ADO #{t['ado_id']} → {t.get('jira_key') or 'no Jira issue'}")
        c.print(f"  {t['ado_url']}")
        if t.get("jira_url"):
            c.print(f"  {t['jira_url']}")
        table = Table("phase", "what", "state", "jira", "attempts", "when", "error")
        for r in t["records"]:
            state = f"[red]{r['state']}[/]" if r["state"] == "failed" else r["state"]
            error = (r.get("error") or "") + (f"\n→ {r['remedy']}" if r.get("remedy") else "")
            table.add_row(
                r["phase"], r["what"], state, r.get("target_key") or "", str(r["attempts"]),
                str(r.get("updated_at") or "")[:19], error,
            )  # fmt: skip
        c.print(table)

    emit(as_json, found, render)


@command
def failures(
    id: Annotated[str, typer.Argument(help="run id (run-…) or migration id (mig-…)")],
    phase: Annotated[str | None, typer.Option(help="only this phase's failures (e.g. attachments)")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Every failure, grouped by reason, each named by its ADO item (all pages)."""
    api = client(api_url, token)
    offset: int | None = 0
    pages: list[dict] = []
    while offset is not None:
        page = api.get(f"/api/migrations/{id}/failures", phase=phase, offset=offset, limit=1000)
        pages.append(page)
        offset = page.get("next_offset")
    result = dict(pages[0], failures=[f for p in pages for f in p["failures"]], offset=0, next_offset=None)
    result["limit"] = len(result["failures"])

    def render(c: Console, r: dict) -> None:
        accepted = f"; {r['accepted_total']} accepted (migrayt accept)" if r.get("accepted_total") else ""
        c.print(f"{r['total']} failure(s)" + (f" in {r['phase']}" if r.get("phase") else "") + accepted)
        for g in r["groups"]:
            c.print(f"  {g['count']:>5}  {g['reason']}: {g['remedy']}")
        for f in r["failures"]:
            who = f"#{f['ado_id']}" if f.get("ado_id") is not None else "—"
            c.print(f"  [red]failed[/] {who} {f['phase']} {f['what']}: {f.get('error') or ''}")

    emit(as_json, result, render)


def register(app: typer.Typer) -> None:
    for name, fn in (("report", report), ("trace", trace), ("failures", failures)):
        app.command(name)(fn)
