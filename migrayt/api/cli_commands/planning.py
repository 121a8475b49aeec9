"""`migrayt scan|map|preview`: what is there, how it maps, and what a run would do — before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
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
    for plugin in (catalog.get("plugins") or {}).values():
        # Each plugin by its own name: "7pace worklogs: 1,204 work logs · 311 hours logged".
        detection = plugin.get("detection") or {}
        carried = detection.get("source_uses") and (detection.get("target_accepts") or detection.get("fallback"))
        found = " · ".join(f"{n:,} {what}" for what, n in (plugin.get("counts") or {}).items())
        why = detection.get("reason") or "not used in this organization"
        c.print(f"  {plugin.get('title')}: " + ((found or "nothing to carry") if carried else f"not carried ({why})"))
    for breach in (scan.get("lint") or {}).get("breaches", [])[:20]:
        c.print(f"  [yellow]{breach['severity']}[/] {breach['rule']}: {breach['message']}")
    if quote:
        units = ", ".join(f"{int(line['quantity']):,} {line['what']}s" for line in quote.get("lines") or [])
        c.print(f"  quote: {quote.get('total')} {quote.get('currency', 'USD')}" + (f" ({units})" if units else ""))


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
) -> int:
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
        emit(as_json, started, lambda c, s: c.print(f"Scan [bold]{s['scan_id']}[/] started"))
        return OK
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
    names = view.get("field_names") or {}
    for field in plan.get("fields") or []:
        name = names.get(field["target"])
        table.add_row(
            "fields",
            field["source"],
            f"{name} ({field['target']}, {field['transform']})"
            if name
            else f"{field['target']} ({field['transform']})",
            f"{field.get('origin')} {field.get('confidence')}",
        )
    c.print(table)
    if plan.get("skip_phases"):
        c.print(f"Phases left out: {', '.join(plan['skip_phases'])}")
    if plan.get("mute_notifications", True):
        c.print("Jira notifications: muted during each run (the project's own scheme put back when it ends)")
    else:
        c.print("Jira notifications: [bold]on[/] — every issue the run writes e-mails its reporter, assignee, watchers")
    if plan.get("phase_schedule", "side_by_side") == "side_by_side":
        c.print("Phases after the issues exist: side by side (each item's files before its comments)")
    else:
        c.print("Phases after the issues exist: one after the other")
    _render_users(c, view.get("users"), view.get("users_error"), plan)


MATCHED = {
    "e-mail": "by e-mail",
    "picked": "picked",
    "name": "by name",
    "AI": "by AI",
    "fallback": "fallback user",
    "unmatched": "unmatched",
}


def _render_users(c: Console, users: dict | None, error: str | None, plan: dict) -> None:
    if error:
        c.print(f"[yellow]Users not shown[/]: {error}")
    if not users:
        return
    # The account as people know it, as the web app shows it; its accountId is in --json.
    table = Table("ADO user", "name", "match", "Jira account", title="Users")
    for u in users["users"]:
        account = u.get("account_name") or u.get("account_id") or "—"
        if u.get("account_email"):
            account += f" <{u['account_email']}>"
        table.add_row(u["ado_user"], u["ado_name"], MATCHED.get(u["matched"], u["matched"]), escape(account))
    c.print(table)
    counts: dict[str, int] = {}
    for u in users["users"]:
        counts[u["matched"]] = counts.get(u["matched"], 0) + 1
    c.print("users: " + ", ".join(f"{n} {MATCHED.get(m, m)}" for m, n in sorted(counts.items())))
    fallback = plan.get("fallback_user_email")
    c.print(
        f"fallback user: {fallback} "
        f"({users.get('fallback_name') or users.get('fallback_account_id') or users.get('fallback_problem')})"
        if fallback
        else "fallback user: none (unmatched users are left off their items)"
    )
    if counts.get("unmatched"):
        c.print("Map one: migrayt map edit <migration> --user ADO_USER=JIRA_EMAIL (or --fallback-user EMAIL)")


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
) -> int:
    """Draft a new plan version from a fresh scan (rules, or AI with consent)."""
    api = client(api_url, token)
    started = api.post(f"/api/migrations/{migration_id}/plan/draft", {})
    if not wait:
        emit(as_json, started, lambda c, s: c.print(f"Drafting through scan [bold]{s['scan_id']}[/]"))
        return OK
    result = wait_until_done(api, started["status_url"], timeout)
    if result["status"] != "COMPLETED":
        emit(as_json, result, _render_scan)
        return FAILURE
    emit(as_json, api.get(f"/api/migrations/{migration_id}/plan"), _render_plan)
    return OK


@map_app.command("show")
@command
def map_show(
    migration_id: MigrationId,
    version: Annotated[int | None, typer.Option(min=1, help="plan version (default: the latest)")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Show a plan version: each entry with its source and confidence, and every ADO user with their Jira account."""
    api = client(api_url, token)
    view = api.get(f"/api/migrations/{migration_id}/plan", version=version)
    try:
        view["users"] = api.get(f"/api/migrations/{migration_id}/users", version=view["version"])
    except CliError as err:  # the plan is still worth showing when ADO or Jira cannot be asked
        view["users_error"] = str(err)
    try:  # Jira fields by name, as the web page shows them
        options = api.get(f"/api/migrations/{migration_id}/plan/jira-options")
        view["field_names"] = {f["id"]: f["name"] for f in options["fields"]}
    except CliError:
        pass  # ids alone, then
    emit(as_json, view, _render_plan)


def account_for_email(api, migration_id: str, email: str) -> str:
    """The accountId of the one Jira user with this e-mail (Jira's search, as the web picker uses)."""
    found = api.get(f"/api/migrations/{migration_id}/jira-users", query=email)
    exact = [u for u in found if (u.get("email") or "").lower() == email.lower()]
    if not exact and len(found) == 1 and not found[0].get("email"):
        exact = found  # the site hides e-mails; a single hit on the full address is the person
    if len(exact) == 1:
        return str(exact[0]["account_id"])
    if not exact:
        raise CliError(f"no Jira user has the e-mail {email}; check it, or give their accountId", 2)
    names = ", ".join(f"{u.get('display_name')} ({u['account_id']})" for u in exact)
    raise CliError(f"{len(exact)} Jira users match {email}: {names}; give the accountId instead", 2)


@map_app.command("edit")
@command
def map_edit(
    migration_id: MigrationId,
    file: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="the edited plan (JSON, as `map show --json` prints it or its `plan`)"
        ),
    ] = None,
    user: Annotated[
        list[str] | None,
        typer.Option(
            help="map an ADO user to a Jira user, ADO_USER=JIRA (a Jira e-mail, resolved to the accountId, or an "
            "accountId); ADO_USER as `map show` lists it; an empty JIRA removes the entry (repeatable)"
        ),
    ] = None,
    fallback_user: Annotated[
        str | None,
        typer.Option(help="e-mail of the Jira user that users without an account are written as ('' for none)"),
    ] = None,
    base_version: Annotated[int | None, typer.Option(min=1, help="the version edited (default: the latest)")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Save an edited plan as a new draft version: from a file, and/or users mapped by e-mail."""
    api = client(api_url, token)
    if file is None and not user and fallback_user is None:
        raise CliError("give --file, --user or --fallback-user", 2)
    if base_version is None:
        base_version = api.get(f"/api/migrations/{migration_id}/plan")["version"]
    if file is not None:
        try:
            data = json.loads(file.read_text())
        except ValueError as err:
            raise CliError(f"{file} is not JSON: {err}", 2) from None
        plan = data.get("plan", data) if isinstance(data, dict) else data
    else:
        plan = api.get(f"/api/migrations/{migration_id}/plan", version=base_version)["plan"]
    if not isinstance(plan, dict):
        raise CliError("the plan must be a JSON object", 2)
    for entry in user or []:
        ado_user, sep, jira = entry.partition("=")
        if not sep or not ado_user.strip():
            raise CliError(f"--user {entry!r}: expected ADO_USER=JIRA_EMAIL", 2)
        users = plan.setdefault("users", {})
        key, jira = ado_user.strip().lower(), jira.strip()
        if not jira:
            users.pop(key, None)
            continue
        users[key] = account_for_email(api, migration_id, jira) if "@" in jira else jira
    if fallback_user is not None:
        if fallback_user.strip():
            account_for_email(api, migration_id, fallback_user.strip())  # refuse one Jira does not know now
        plan["fallback_user_email"] = fallback_user.strip() or None
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
    acknowledge: Annotated[
        list[str] | None,
        typer.Option(
            "--acknowledge",
            metavar="FINDING",
            help="a scan finding that will fail items, by rule (e.g. many_remote_links), accepted; repeat for each",
        ),
    ] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Approve the latest plan version: runs use it (scan findings that will fail items must be acknowledged)."""
    approved = client(api_url, token).post(
        f"/api/migrations/{migration_id}/plan/approve", {"version": version, "acknowledge": acknowledge or []}
    )
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
            f"predicted: {report.get('failed_items', 0)} failed items"
            + (f", users: {report['users_unmatched']} unmatched" if report.get("users_unmatched") else "")
        )
        if report.get("issues_given_users"):
            c.print(
                f"  users: {report.get('users_given', 0)} resolved, {report['issues_given_users']} issues given "
                "their assignee or reporter"
            )
        for problem in report.get("plan_problems") or []:
            c.print(f"  [red]plan problem[/] {problem}")
        for failure in (report.get("failures") or [])[:10]:
            what = failure.get("what") or f"{failure.get('kind')} {failure.get('source_key')}"
            on = f"#{failure['ado_id']} · " if failure.get("ado_id") else ""
            c.print(f"  [yellow]would fail[/] {escape(on + what)}: {escape(str(failure.get('reason')))}")


@command
def preview(
    migration_id: MigrationId,
    samples: Annotated[int, typer.Option(min=0, max=50, help="issues shown side by side")] = 5,
    wait: Wait = True,
    timeout: Timeout = 600,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> int:
    """Dry-run the current plan: what a run would write and what would fail (writes nothing)."""
    api = client(api_url, token)
    started = api.post(f"/api/migrations/{migration_id}/previews", {"samples": samples})
    if not wait:
        emit(as_json, started, lambda c, s: c.print(f"Preview [bold]{s['preview_id']}[/] started"))
        return OK
    result = wait_until_done(api, started["status_url"], timeout)
    emit(as_json, result, _render_preview)
    return OK if result["status"] == "COMPLETED" else FAILURE


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)
    app.command("preview")(preview)
    app.add_typer(map_app, name="map")
