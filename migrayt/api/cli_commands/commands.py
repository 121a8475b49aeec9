"""`migrayt connect|scan|map|preview|run|pause|resume|cancel|rerun|status|audit|token`: the HTTP API from a terminal.

Every command talks to the API (`--api-url` / MIGRAYT_API_URL, default the local `migrayt up`),
with `--token` / MIGRAYT_API_TOKEN (not needed on the embedded default), and prints JSON with
`--json` (one object; `--watch` prints one JSON line per progress event). Exit codes: see client.py.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from migrayt.api.cli_commands.client import FAILURE, OK, USAGE, ApiClient, CliError
from migrayt.contracts.phases import batched, in_order, run_phases

FINAL = ("COMPLETED", "INCOMPLETE", "FAILED", "CANCELLED")


def _default_api_url() -> str:
    from migrayt.settings import get_settings

    s = get_settings()
    return f"http://{s.api_host}:{s.api_port}"


ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="MIGRAYT_API_URL",
        help="Migrayt API base URL (default: the local `migrayt up`)",
        show_default=False,
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="MIGRAYT_API_TOKEN",
        help="tenant API token (not needed on the embedded default)",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="machine-readable JSON output")]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="wait until it is done")]
Timeout = Annotated[float, typer.Option(min=1, help="seconds to wait at most")]
MigrationId = Annotated[str, typer.Argument(help="migration id (mig-…)")]
RunId = Annotated[str, typer.Argument(help="run id (run-…)")]

err_console = Console(stderr=True)


def command(fn: Callable[..., int | None]) -> Callable[..., None]:
    """Run `fn`, turning API errors into a message and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        as_json = kwargs.get("as_json", False)
        try:
            code = fn(*args, **kwargs) or OK
        except CliError as err:
            if as_json:
                typer.echo(json.dumps({"error": str(err), "status": err.status, "exit_code": err.code}))
            else:
                err_console.print(f"[red]error:[/] {err}", highlight=False)
            raise typer.Exit(err.code) from None
        raise typer.Exit(code)

    return wrapper


def client(api_url: str | None, token: str | None) -> ApiClient:
    return ApiClient(api_url or _default_api_url(), token)


def emit(as_json: bool, data: Any, render: Callable[[Console, Any], None]) -> None:
    if as_json:
        typer.echo(json.dumps(data, default=str))
    else:
        render(Console(), data)


def _wait(api: ApiClient, path: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(path)
        if body["status"] != "RUNNING":
            return body
        if time.monotonic() > deadline:
            raise CliError(f"still RUNNING after {timeout:.0f}s: {path}", FAILURE)
        time.sleep(0.5)


# --- connect ----------------------------------------------------------------------------------


def connect(
    name: Annotated[str, typer.Option(help="a name for this migration")],
    jira_project: Annotated[str, typer.Option(help="Jira project key")],
    source_connection: Annotated[
        str | None,
        typer.Option(help="a saved ADO connection id (migrayt connection add-ado); instead of the --ado-* options"),
    ] = None,
    target_connection: Annotated[
        str | None,
        typer.Option(help="a saved Jira connection id (migrayt connection add-jira); instead of the --jira-* options"),
    ] = None,
    ado_url: Annotated[
        str | None, typer.Option(help="Azure DevOps organization URL, e.g. https://dev.azure.com/acme")
    ] = None,
    ado_project: Annotated[
        str | None, typer.Option(help="ADO project (with a saved connection: default its own)")
    ] = None,
    ado_pat_ref: Annotated[
        str | None,
        typer.Option(
            help=(
                "where the WORKER reads the ADO PAT: env:NAME or file:PATH where the worker runs, not in this shell "
                "(leave out both refs to be asked for the secrets, saved sealed)"
            )
        ),
    ] = None,
    jira_url: Annotated[str | None, typer.Option(help="Jira site URL, e.g. https://acme.atlassian.net")] = None,
    jira_email: Annotated[str | None, typer.Option(help="Jira account e-mail")] = None,
    jira_token_ref: Annotated[
        str | None,
        typer.Option(help="where the WORKER reads the Jira API token: env:NAME or file:PATH (see --ado-pat-ref)"),
    ] = None,
    ado_team: Annotated[str | None, typer.Option(help="ADO team (for sprints)")] = None,
    plan: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="mapping plan JSON (default: the built-in plan)")
    ] = None,
    skip_phase: Annotated[
        list[str] | None, typer.Option(help="phase to leave out, e.g. attachments (repeatable)")
    ] = None,
    approve: Annotated[
        bool, typer.Option(help="approve the plan now (else review it: migrayt map show/approve)")
    ] = False,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Connect an ADO project to a Jira project: create the migration between them.

    Either two saved connections (--source-connection, --target-connection), or the details (--ado-url, --ado-project,
    --jira-url, --jira-email): the PAT and API token are then read from MIGRAYT_ADO_PAT / MIGRAYT_JIRA_TOKEN or a hidden
    prompt, tested, and saved sealed as two connections. --ado-pat-ref / --jira-token-ref instead name where the
    worker reads them (env:NAME, file:PATH): they resolve where the worker runs, not in this shell."""
    return _connect(**locals())


@command
def _connect(
    name,
    jira_project,
    source_connection,
    target_connection,
    ado_url,
    ado_project,
    ado_pat_ref,
    jira_url,
    jira_email,
    jira_token_ref,
    ado_team,
    plan,
    skip_phase,
    approve,
    api_url,
    token,
    as_json,
):
    from migrayt.mapping.plan import MappingPlan, default_plan

    if plan is not None:
        try:
            chosen = MappingPlan.model_validate_json(plan.read_text())
        except ValueError as err:
            raise CliError(f"{plan} is not a mapping plan: {str(err).splitlines()[0]}", 2) from None
    else:
        chosen = default_plan()
    if skip_phase:
        chosen.skip_phases = sorted(set(chosen.skip_phases) | set(skip_phase))
    saved = {"--source-connection": source_connection, "--target-connection": target_connection}
    details = {
        "--ado-url": ado_url,
        "--ado-project": ado_project,
        "--ado-pat-ref": ado_pat_ref,
        "--jira-url": jira_url,
        "--jira-email": jira_email,
        "--jira-token-ref": jira_token_ref,
    }
    if any(saved.values()):
        missing = [flag for flag, value in saved.items() if not value]
        mixed = [flag for flag, value in details.items() if value and flag != "--ado-project"]
        if missing or mixed:
            problems = ([f"give {' and '.join(missing)}"] if missing else []) + (
                [f"leave out {', '.join(mixed)}"] if mixed else []
            )
            raise CliError("from saved connections: " + "; ".join(problems), USAGE)
        body = {
            "name": name,
            "source_connection_id": source_connection,
            "target_connection_id": target_connection,
            "project_key": jira_project,
            "ado_project": ado_project,
            "approve_plan": approve,
            "plan": chosen.model_dump(mode="json"),
        }
        created = client(api_url, token).post("/api/migrations", body)
        return emit(
            as_json,
            created,
            lambda c, m: c.print(
                f"Migration [bold]{m['id']}[/] created; plan v{m['plan']['version']} is {m['plan']['status']}"
            ),
        )
    refs = ("--ado-pat-ref", "--jira-token-ref")
    missing = [flag for flag, value in details.items() if not value and flag not in refs]
    if missing:
        raise CliError(f"missing {', '.join(missing)} (or use --source-connection and --target-connection)", USAGE)
    if not ado_pat_ref and not jira_token_ref:
        return _connect_with_prompted_secrets(
            name,
            jira_project,
            ado_url,
            ado_project,
            jira_url,
            jira_email,
            chosen,
            approve,
            api_url,
            token,
            as_json,
        )
    if not (ado_pat_ref and jira_token_ref):
        raise CliError(
            "give both --ado-pat-ref and --jira-token-ref (references the worker resolves), or neither: then the "
            "PAT and the token are asked for at a hidden prompt and saved sealed as two connections",
            USAGE,
        )
    body = {
        "name": name,
        "approve_plan": approve,
        "plan": chosen.model_dump(mode="json"),
        "source": {"organization_url": ado_url, "project": ado_project, "team": ado_team, "pat_ref": ado_pat_ref},
        "target": {"base_url": jira_url, "project_key": jira_project, "email": jira_email, "token_ref": jira_token_ref},
    }
    created = client(api_url, token).post("/api/migrations", body)
    emit(
        as_json,
        created,
        lambda c, m: c.print(
            f"Migration [bold]{m['id']}[/] created; plan v{m['plan']['version']} is {m['plan']['status']}"
        ),
    )


def _connect_with_prompted_secrets(
    name,
    jira_project,
    ado_url,
    ado_project,
    jira_url,
    jira_email,
    plan,
    approve,
    api_url,
    token,
    as_json,
):
    """The secrets from MIGRAYT_ADO_PAT / MIGRAYT_JIRA_TOKEN or a hidden prompt, sent once to the API, which tests
    and seals them as two saved connections (as `migrayt connection add-ado/add-jira`); the migration uses those."""
    import os

    pat = os.environ.get("MIGRAYT_ADO_PAT") or typer.prompt("ADO personal access token", hide_input=True, err=True)
    secret = os.environ.get("MIGRAYT_JIRA_TOKEN") or typer.prompt("Jira API token", hide_input=True, err=True)
    api = client(api_url, token)
    source = api.post(
        "/api/connections",
        {
            "kind": "ado",
            "name": f"{name}: Azure DevOps",
            "organization_url": ado_url,
            "project": ado_project,
            "pat": pat,
        },
    )
    target = api.post(
        "/api/connections",
        {
            "kind": "jira_cloud",
            "name": f"{name}: Jira",
            "site_url": jira_url,
            "email": jira_email,
            "api_token": secret,
        },
    )
    body = {
        "name": name,
        "source_connection_id": source["id"],
        "target_connection_id": target["id"],
        "project_key": jira_project,
        "ado_project": ado_project,
        "approve_plan": approve,
        "plan": plan.model_dump(mode="json"),
    }
    created = api.post("/api/migrations", body)

    def render(c: Console, m: dict) -> None:
        c.print(
            f"Connections [bold]{source['id']}[/] (ADO) and [bold]{target['id']}[/] (Jira) tested and saved, "
            "secrets sealed"
        )
        c.print(f"Migration [bold]{m['id']}[/] created; plan v{m['plan']['version']} is {m['plan']['status']}")

    emit(as_json, created, render)


def migrations(api_url: ApiUrl = None, token: Token = None, as_json: Json = False) -> None:
    """List the tenant's migrations."""
    return _migrations(api_url=api_url, token=token, as_json=as_json)


@command
def _migrations(api_url, token, as_json):
    rows = client(api_url, token).get("/api/migrations")

    def render(c: Console, rows: list) -> None:
        table = Table("id", "name", "source", "target", "plan")
        for m in rows:
            plan = m.get("plan") or {}
            table.add_row(
                m["id"],
                m["name"],
                f"{m['source'].get('organization_url')} / {m['source'].get('project')}",
                f"{m['target'].get('base_url')} / {m['target'].get('project_key')}",
                f"v{plan.get('version')} {plan.get('status')}",
            )
        c.print(table)

    emit(as_json, rows, render)


# --- scan, map, preview -----------------------------------------------------------------------


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
) -> None:
    """Scan the source: catalog, limit lint and quote (and a drafted plan)."""
    return _scan(**locals())


@command
def _scan(migration_id, draft, limit, wait, timeout, api_url, token, as_json):
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
    result = _wait(api, started["status_url"], timeout)
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
def map_draft(
    migration_id: MigrationId,
    wait: Wait = True,
    timeout: Timeout = 600,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Draft a new plan version from a fresh scan (rules, or AI with consent)."""
    return _map_draft(**locals())


@command
def _map_draft(migration_id, wait, timeout, api_url, token, as_json):
    api = client(api_url, token)
    started = api.post(f"/api/migrations/{migration_id}/plan/draft", {})
    if not wait:
        return emit(as_json, started, lambda c, s: c.print(f"Drafting through scan [bold]{s['scan_id']}[/]"))
    result = _wait(api, started["status_url"], timeout)
    if result["status"] != "COMPLETED":
        emit(as_json, result, _render_scan)
        return FAILURE
    emit(as_json, api.get(f"/api/migrations/{migration_id}/plan"), _render_plan)


@map_app.command("show")
def map_show(
    migration_id: MigrationId,
    version: Annotated[int | None, typer.Option(min=1, help="plan version (default: the latest)")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Show a plan version: each entry with its source and confidence."""
    return _map_show(**locals())


@command
def _map_show(migration_id, version, api_url, token, as_json):
    emit(as_json, client(api_url, token).get(f"/api/migrations/{migration_id}/plan", version=version), _render_plan)


@map_app.command("edit")
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
) -> None:
    """Save an edited plan as a new draft version."""
    return _map_edit(**locals())


@command
def _map_edit(migration_id, file, base_version, api_url, token, as_json):
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
def map_approve(
    migration_id: MigrationId,
    version: Annotated[int | None, typer.Option(min=1, help="the version to approve (default: the latest)")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Approve the latest plan version: runs use it."""
    return _map_approve(**locals())


@command
def _map_approve(migration_id, version, api_url, token, as_json):
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
            f"  {report.get('items_total', 0)} items; would start: {report.get('would_start')}; predicted failures: {len(report.get('failures') or [])}"
        )
        for problem in report.get("plan_problems") or []:
            c.print(f"  [red]plan problem[/] {problem}")
        for failure in (report.get("failures") or [])[:10]:
            c.print(
                f"  [yellow]would fail[/] {failure.get('kind')} {failure.get('source_key')}: {failure.get('reason')}"
            )


def preview(
    migration_id: MigrationId,
    samples: Annotated[int, typer.Option(min=0, max=50, help="issues shown side by side")] = 5,
    wait: Wait = True,
    timeout: Timeout = 600,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Dry-run the current plan: what a run would write and what would fail (writes nothing)."""
    return _preview(**locals())


@command
def _preview(migration_id, samples, wait, timeout, api_url, token, as_json):
    api = client(api_url, token)
    started = api.post(f"/api/migrations/{migration_id}/previews", {"samples": samples})
    if not wait:
        return emit(as_json, started, lambda c, s: c.print(f"Preview [bold]{s['preview_id']}[/] started"))
    result = _wait(api, started["status_url"], timeout)
    emit(as_json, result, _render_preview)
    return OK if result["status"] == "COMPLETED" else FAILURE


# --- runs -------------------------------------------------------------------------------------


def _render_run(c: Console, run: dict) -> None:
    if "runs" in run:  # a migration id was given
        c.print(
            f"Migration [bold]{run['id']}[/] {run['name']}; plan v{(run.get('plan') or {}).get('version')} {(run.get('plan') or {}).get('status')}"
        )
        for r in run["runs"]:
            c.print(f"  {r['id']} {r['status']} {r.get('phase') or ''}")
        return
    eta = f"  ETA {run['eta_seconds']:.0f}s" if run.get("eta_seconds") is not None else ""
    c.print(
        f"Run [bold]{run['run_id']}[/] {run['status']}  phase {run.get('phase')}  elapsed {run.get('elapsed_seconds', 0):.0f}s{eta}"
    )
    table = Table("phase", "total", "created", "already in Jira", "skipped", "failed")
    for phase in batched(in_order(run.get("counters") or {})):
        counters = (run.get("counters") or {}).get(phase)
        if counters:
            columns = ("total", "created", "adopted", "skipped", "failed")
            table.add_row(phase, *(str(counters.get(k, 0)) for k in columns))
    c.print(table)
    for f in run.get("failures") or []:
        c.print(f"  [red]failed[/] {f['kind']} {f['source_key']}: {f['error']}")
    if run.get("failures_total", 0) > len(run.get("failures") or []):
        c.print(f"  … {run['failures_total']} failed in all")


def _watch(api: ApiClient, run_id: str, as_json: bool) -> int:
    """Follow the run's events until it ends; 0 when it COMPLETED, 1 otherwise."""
    last: dict | None = None
    if as_json:
        for event, data in api.events(f"/api/migrations/{run_id}/events"):
            typer.echo(json.dumps({"event": event, **data}))
            if event == "progress":
                last = data
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (
            TextColumn("{task.description:<13}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=Console()) as bars:
            tasks: dict[str, Any] = {}
            for event, data in api.events(f"/api/migrations/{run_id}/events"):
                if event != "progress":
                    continue
                last = data
                for phase in batched(data.get("phases") or in_order(data.get("counters") or run_phases())):
                    if phase not in tasks:
                        tasks[phase] = bars.add_task(phase, total=None, detail="", start=False)
                for phase, task in tasks.items():
                    c = (data.get("counters") or {}).get(phase)
                    if not c:
                        continue
                    done = c["created"] + c.get("adopted", 0) + c["skipped"] + c["failed"]
                    eta = (
                        f" ETA {data['eta_seconds']:.0f}s"
                        if data.get("eta_seconds") is not None and phase == data.get("phase")
                        else ""
                    )
                    bars.update(
                        task,
                        total=c["total"] or None,
                        completed=done,
                        detail=f"created {c['created']} already in Jira {c.get('adopted', 0)} "
                        f"skipped {c['skipped']} failed {c['failed']}{eta}",
                    )
                    if phase == data.get("phase") or done:
                        bars.start_task(task)
        if last:
            _render_run(Console(), last)
    if last is None:
        raise CliError(f"no progress received for {run_id}", FAILURE)
    return OK if last["status"] == "COMPLETED" else FAILURE


WatchOpt = Annotated[
    bool, typer.Option("--watch", help="follow live progress until the run ends (exit 0 only if it COMPLETED)")
]


def run(
    migration_id: MigrationId,
    watch: WatchOpt = False,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Start a run of a migration (its plan must be approved)."""
    return _run(**locals())


@command
def _run(migration_id, watch, api_url, token, as_json):
    api = client(api_url, token)
    started = api.post(f"/api/migrations/{migration_id}/runs", {})
    if not watch:
        return emit(
            as_json,
            started,
            lambda c, s: c.print(
                f"Run [bold]{s['run_id']}[/] started; follow it with: migrayt status {s['run_id']} --watch"
            ),
        )
    if not as_json:
        Console().print(f"Run [bold]{started['run_id']}[/] started")
    return _watch(api, started["run_id"], as_json)


def _control(action: str) -> Callable[..., None]:
    def control(
        run_id: RunId,
        reason: Annotated[str | None, typer.Option(help="why (kept in the audit trail)")] = None,
        api_url: ApiUrl = None,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        return _do_control(action, run_id, reason, api_url=api_url, token=token, as_json=as_json)

    control.__doc__ = {
        "pause": "Pause a RUNNING run: batches under way stop, PAUSED once nothing writes (exit 4 if it is not RUNNING).",
        "resume": "Resume a PAUSED run (exit 4 if it is not PAUSED).",
        "cancel": "Cancel a run; final (exit 4 if it already ended).",
    }[action]
    return control


@command
def _do_control(action, run_id, reason, api_url, token, as_json):
    done = client(api_url, token).post(f"/api/migrations/{run_id}/{action}", {"reason": reason} if reason else {})
    emit(as_json, done, lambda c, d: c.print(f"{action} of {d['run_id']} accepted"))


pause, resume, cancel = _control("pause"), _control("resume"), _control("cancel")


def rerun(
    run_id: RunId, watch: WatchOpt = False, api_url: ApiUrl = None, token: Token = None, as_json: Json = False
) -> None:
    """Run a FAILED, INCOMPLETE or CANCELLED run's migration again; it skips what exists."""
    return _rerun(**locals())


@command
def _rerun(run_id, watch, api_url, token, as_json):
    api = client(api_url, token)
    started = api.post(f"/api/migrations/{run_id}/rerun", {})
    if not watch:
        return emit(as_json, started, lambda c, s: c.print(f"Re-run [bold]{s['run_id']}[/] of {run_id} started"))
    return _watch(api, started["run_id"], as_json)


def status(
    id: Annotated[str, typer.Argument(help="run id (run-…) or migration id (mig-…)")],
    watch: WatchOpt = False,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """A run's status, phase, counters, ETA and failures (or a migration and its runs)."""
    return _status(**locals())


@command
def _status(id, watch, api_url, token, as_json):
    api = client(api_url, token)
    if watch:
        return _watch(api, id, as_json)
    emit(as_json, api.get(f"/api/migrations/{id}"), _render_run)


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
    return _audit(**locals())


@command
def _audit(migration, run_id, limit, after, api_url, token, as_json):
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


# --- tokens -----------------------------------------------------------------------------------

token_app = typer.Typer(
    no_args_is_help=True, help="Tenant API tokens (needs the admin token, except on the embedded default)."
)
AdminToken = Annotated[
    str | None,
    typer.Option(
        "--admin-token", envvar="MIGRAYT_ADMIN_TOKEN", help="the server's MIGRAYT_ADMIN_TOKEN", show_default=False
    ),
]


@token_app.command("create")
def token_create(
    tenant: Annotated[str, typer.Option(help="tenant id (lower case); created with its first token")],
    name: Annotated[str, typer.Option(help="what the token is for; audit events name it")] = "cli",
    admin_token: AdminToken = None,
    api_url: ApiUrl = None,
    as_json: Json = False,
) -> None:
    """Issue a token for a tenant. It is printed once; only its hash is kept."""
    return _token_create(**locals())


@command
def _token_create(tenant, name, admin_token, api_url, as_json):
    issued = client(api_url, admin_token).post("/api/admin/tokens", {"tenant": tenant, "name": name})
    if as_json:
        return emit(True, issued, lambda c, t: None)
    err_console.print(f"Token {issued['id']} for tenant {issued['tenant']} ({issued['name']}); shown once:")
    typer.echo(issued["token"])  # alone on stdout, so `$(migrayt token create …)` captures it


@token_app.command("list")
def token_list(
    tenant: Annotated[str | None, typer.Option(help="only this tenant")] = None,
    admin_token: AdminToken = None,
    api_url: ApiUrl = None,
    as_json: Json = False,
) -> None:
    """List tokens (never the tokens themselves)."""
    return _token_list(**locals())


@command
def _token_list(tenant, admin_token, api_url, as_json):
    rows = client(api_url, admin_token).get("/api/admin/tokens", tenant=tenant)

    def render(c: Console, rows: list) -> None:
        table = Table("id", "tenant", "name", "prefix", "created", "revoked")
        for t in rows:
            table.add_row(
                t["id"],
                t["tenant"],
                t["name"],
                t["prefix"] + "…",
                str(t["created_at"])[:19],
                str(t.get("revoked_at") or "")[:19],
            )
        c.print(table)

    emit(as_json, rows, render)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="token id (tok-…)")],
    admin_token: AdminToken = None,
    api_url: ApiUrl = None,
    as_json: Json = False,
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    return _token_revoke(**locals())


@command
def _token_revoke(token_id, admin_token, api_url, as_json):
    emit(
        as_json,
        client(api_url, admin_token).delete(f"/api/admin/tokens/{token_id}"),
        lambda c, t: c.print(f"Token {t['id']} revoked"),
    )


def register(app: typer.Typer) -> None:
    for name, fn in (
        ("connect", connect),
        ("migrations", migrations),
        ("scan", scan),
        ("preview", preview),
        ("run", run),
        ("pause", pause),
        ("resume", resume),
        ("cancel", cancel),
        ("rerun", rerun),
        ("status", status),
        ("audit", audit),
    ):
        app.command(name)(fn)
    app.add_typer(map_app, name="map")
    app.add_typer(token_app, name="token")
    from migrayt.api.cli_commands.connections import connection_app  # it builds on this module's options

    app.add_typer(connection_app, name="connection")
