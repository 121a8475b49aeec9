"""`migrayt scan|map|preview`: what is there, how it maps, and what a run would do — before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from migrayt.api.cli_commands.client import FAILURE, OK, CliError
from migrayt.api.cli_commands.options import (
    ApiUrl,
    Json,
    MigrationId,
    Timeout,
    Token,
    Wait,
    client,
    command,
    emit,
    wait_until_done,
)


def _render_scan(c: Console, scan: dict) -> None:
    c.print(f"Scan [bold]{scan['id']}[/] {scan['status']}" + (f": {scan['error']}" if scan.get("error") else ""))
    catalog, quote = scan.get("catalog") or {}, scan.get("quote") or {}
    if catalog:
        c.print(
            f"  {catalog.get('items_total', 0)} items: "
            + ", ".join(f"{t} {n}" for t, n in sorted((catalog.get("by_type") or {}).items()))
        )
    for breach in (scan.get("lint") or {}).get("breaches", [])[:20]:
        c.print(f"  [yellow]{breach['severity']}[/] {breach['rule']}: {breach['message']}")
    if quote:
        c.print(f"  quote: {quote.get('total')} {quote.get('currency', 'USD')}")


@command
def scan(
    migration_id: MigrationId,
    draft: Annotated[bool, typer.Option("--draft/--no-draft", help="draft a mapping plan from the catalog")] = True,
    limit: Annotated[
        list[str] | None, typer.Option(help="a Jira limit to check against, NAME=VALUE (repeatable)")
    ] = None,
    wait: Wait = True,
    timeout: Timeout = 600,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> int | None:
    """Scan the source: catalog, limit lint and quote (and a drafted plan)."""
    overrides: dict[str, int] = {}
    for item in limit or []:
        name, _, value = item.partition("=")
        if not value.isdigit():
            raise CliError(f"--limit {item!r}: expected NAME=NUMBER", 2)
        overrides[name] = int(value)
    api = client(api_url, token)
    started = api.post(f"/api/migrations/{migration_id}/scans", {"draft_plan": draft, "limit_overrides": overrides})
    if not wait:
        return emit(as_json, started, lambda c, s: c.print(f"Scan [bold]{s['scan_id']}[/] started"))
    result = wait_until_done(api, started["status_url"], timeout)
    emit(as_json, result, _render_scan)
    return OK if result["status"] == "COMPLETED" else FAILURE


def _render_plan(c: Console, view: dict) -> None:
    plan = view["plan"]
    c.print(
        f"Plan v{view['version']} [bold]{view['status']}[/] (origin {view['origin']}"
        + (f", approved by {view['approved_by']}" if view.get("approved_by") else "")
        + ")"
    )
    provenance = plan.get("provenance") or {}

    def origin(key: str) -> str:
        p = provenance.get(key) or {}
        return f"{p.get('origin', '')} {p.get('confidence', '')}".strip()

    table = Table("section", "ADO", "Jira", "source / confidence", title="Mapping")
    for section in ("types", "subtask_types", "priorities", "link_types"):
        for key, value in sorted((plan.get(section) or {}).items()):
            table.add_row(section, key, str(value), origin(f"{section}/{key}"))
    for ado_type, states in sorted((plan.get("states") or {}).items()):
        for key, value in sorted(states.items()):
            table.add_row(f"states ({ado_type})", key, value, origin(f"states/{ado_type}/{key}"))
    for field in plan.get("fields") or []:
        table.add_row(
            "fields",
            field["source"],
            f"{field['target']} ({field['transform']})",
            f"{field.get('origin')} {field.get('confidence')}",
        )
    c.print(table)
    if plan.get("skip_phases"):
        c.print(f"Phases left out: {', '.join(plan['skip_phases'])}")


map_app = typer.Typer(no_args_is_help=True, help="Mapping plans: draft, show, edit, approve.")


@map_app.command("draft")
@command
def map_draft(
    migration_id: MigrationId,
    wait: Wait = True,
    timeout: Timeout = 600,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> int | None:
    """Draft a new plan version from a fresh scan (rules, or AI with consent)."""
    api = client(api_url, token)
    started = api.post(f"/api/migrations/{migration_id}/plan/draft", {})
    if not wait:
        return emit(as_json, started, lambda c, s: c.print(f"Drafting through scan [bold]{s['scan_id']}[/]"))
    result = wait_until_done(api, started["status_url"], timeout)
    if result["status"] != "COMPLETED":
        emit(as_json, result, _render_scan)
        return FAILURE
    emit(as_json, api.get(f"/api/migrations/{migration_id}/plan"), _render_plan)


@map_app.command("show")
@command
def map_show(
    migration_id: MigrationId,
    version: Annotated[int | None, typer.Option(min=1, help="plan version (default: the latest)")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> int | None:
    """Show a plan version: each entry with its source and confidence."""
    emit(as_json, client(api_url, token).get(f"/api/migrations/{migration_id}/plan", version=version), _render_plan)


@map_app.command("edit")
@command
def map_edit(
    migration_id: MigrationId,
    file: Annotated[
        Path,
        typer.Option(
            exists=True, dir_okay=False, help="the edited plan (JSON, as `map show --json` prints it or its `plan`)"
        ),
    ],
    base_version: Annotated[int | None, typer.Option(min=1, help="the version edited (default: the latest)")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> int | None:
    """Save an edited plan as a new draft version."""
    try:
        data = json.loads(file.read_text())
    except ValueError as err:
        raise CliError(f"{file} is not JSON: {err}", 2) from None
    plan = data.get("plan", data) if isinstance(data, dict) else data
    api = client(api_url, token)
    if base_version is None:
        base_version = api.get(f"/api/migrations/{migration_id}/plan")["version"]
    emit(
        as_json,
        api.put(f"/api/migrations/{migration_id}/plan", {"base_version": base_version, "plan": plan}),
        _render_plan,
    )


@map_app.command("approve")
@command
def map_approve(
    migration_id: MigrationId,
    version: Annotated[int | None, typer.Option(min=1, help="the version to approve (default: the latest)")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> int | None:
    """Approve the latest plan version: runs use it."""
    approved = client(api_url, token).post(f"/api/migrations/{migration_id}/plan/approve", {"version": version})
    emit(as_json, approved, lambda c, v: c.print(f"Plan v{v['version']} approved by {v['approved_by']}"))


def _render_preview(c: Console, preview: dict) -> None:
    report = preview.get("report") or {}
    c.print(
        f"Preview [bold]{preview['id']}[/] {preview['status']}"
        + (f": {preview['error']}" if preview.get("error") else "")
    )
    if report:
        c.print(
            f"  {report.get('items_total', 0)} items; would start: {report.get('would_start')}; "
            f"predicted failures: {len(report.get('failures') or [])}"
        )
        for problem in report.get("plan_problems") or []:
            c.print(f"  [red]plan problem[/] {problem}")
        for failure in (report.get("failures") or [])[:10]:
            c.print(
                f"  [yellow]would fail[/] {failure.get('kind')} {failure.get('source_key')}: {failure.get('reason')}"
            )


@command
def preview(
    migration_id: MigrationId,
    samples: Annotated[int, typer.Option(min=0, max=50, help="issues shown side by side")] = 5,
    wait: Wait = True,
    timeout: Timeout = 600,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> int | None:
    """Dry-run the current plan: what a run would write and what would fail (writes nothing)."""
    api = client(api_url, token)
    started = api.post(f"/api/migrations/{migration_id}/previews", {"samples": samples})
    if not wait:
        return emit(as_json, started, lambda c, s: c.print(f"Preview [bold]{s['preview_id']}[/] started"))
    result = wait_until_done(api, started["status_url"], timeout)
    emit(as_json, result, _render_preview)
    return OK if result["status"] == "COMPLETED" else FAILURE


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)
    app.command("preview")(preview)
    app.add_typer(map_app, name="map")
