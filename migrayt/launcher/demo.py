"""`migrayt up` and `migrayt demo`: the embedded stack, and a whole migration of a generated project on it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.contracts.phases import BY_NAME, PhaseKind, batched, run_phases
from migrayt.contracts.runs import FINAL_STATUSES, RunProgress
from migrayt.mapping.plan import default_plan
from migrayt.settings import get_settings
from migrayt.stack import StackError

# The stack pulls in the API, Temporal and SQLAlchemy: imported when a command runs, so `migrayt --help` is quick.
if TYPE_CHECKING:
    from migrayt.launcher.local import LocalStack

DEMO_ADO_PAT_ENV = "MIGRAYT_DEMO_ADO_PAT"
DEMO_JIRA_TOKEN_ENV = "MIGRAYT_DEMO_JIRA_TOKEN"
TENANT = "demo"


async def _until_interrupted() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _apply_flags(**values: object) -> None:
    """A flag of `up` sets its variable, so the API, the worker and every lookup of the settings in this
    process (get_settings) agree on it; unset flags leave the environment (and its defaults) alone."""
    for name, value in values.items():
        if value is not None:
            os.environ[f"MIGRAYT_{name.upper()}"] = str(value)
    get_settings.cache_clear()


def _up_option(name: str, help: str) -> typer.models.OptionInfo:
    return typer.Option(envvar=f"MIGRAYT_{name}", help=help, show_default=False)


def up_command(
    api_port: Annotated[int | None, _up_option("API_PORT", "port of the HTTP API and web app (default 8000)")] = None,
    api_host: Annotated[str | None, _up_option("API_HOST", "address the API listens on (default 127.0.0.1)")] = None,
    temporal_port: Annotated[
        int | None, _up_option("TEMPORAL_PORT", "port of the embedded Temporal (default 7233)")
    ] = None,
    temporal_ui_port: Annotated[
        int | None, _up_option("TEMPORAL_UI_PORT", "port of the Temporal UI (default 8233)")
    ] = None,
    state_dir: Annotated[
        str | None, _up_option("STATE_DIR", "folder of the embedded databases and keys (default .migrayt)")
    ] = None,
    auth: Annotated[
        str | None, _up_option("AUTH", "API authentication: embedded (off on this machine, the default), on or off")
    ] = None,
) -> None:
    """Start PostgreSQL, Temporal (with its UI), the worker and the HTTP API; run until Ctrl-C."""
    from migrayt.launcher.local import local_stack

    _apply_flags(
        api_port=api_port,
        api_host=api_host,
        temporal_port=temporal_port,
        temporal_ui_port=temporal_ui_port,
        state_dir=state_dir,
        auth=auth,
    )
    settings = get_settings()
    console = Console()

    async def main() -> None:
        async with local_stack(settings) as stack:
            for line in banner(stack):
                console.print(line)
            await _until_interrupted()

    _run_cleanly(main(), console)


def banner(stack: LocalStack) -> list[str]:
    from migrayt.connections_store import secret_key_path

    settings = stack.settings
    lines = [f"[bold green]Migrayt is up[/]  API {stack.api_url}  Temporal {stack.temporal_address}"]
    if stack.temporal_ui_url:
        lines.append(f"Temporal UI {stack.temporal_ui_url}  (filter: MigrationStatus='PAUSED')")
    if settings.secret_key is None:
        lines.append(
            f"Saved connections' secrets are sealed with the key in {secret_key_path(settings)} (keep it; "
            "set MIGRAYT_SECRET_KEY to use your own)"
        )
    lines.append(f"State kept under {settings.state_dir.resolve()}; Ctrl-C stops.")
    return lines


def _run_cleanly(coro, console: Console) -> int:
    """A stack that cannot start is the user's to fix: say why in one line, no traceback."""
    try:
        return asyncio.run(coro) or 0
    except StackError as err:
        console.print(f"[bold red]error:[/] {err}")
        raise typer.Exit(2) from None


def demo_command(
    items: Annotated[int, typer.Option(min=1, max=100_000, help="work items in the generated ADO project")] = 300,
    seed: Annotated[int, typer.Option(help="generator seed (same seed, same project)")] = 7,
    keep_running: Annotated[bool, typer.Option(help="keep stack and sandbox up after the run")] = False,
    ado_port: Annotated[int, typer.Option(help="sandbox ADO port (0: any free)")] = 0,
    jira_port: Annotated[int, typer.Option(help="sandbox Jira port (0: any free)")] = 0,
) -> None:
    """Migrate a generated ADO project into the sandbox Jira on the embedded stack, live."""
    from migrayt.launcher.local import local_stack
    from migrayt.sandbox.testing import running_sandbox

    settings = get_settings()
    console = Console()
    os.environ[DEMO_ADO_PAT_ENV] = "sandbox-pat"
    os.environ[DEMO_JIRA_TOKEN_ENV] = "sandbox-token"

    async def main() -> int:
        with running_sandbox(items=items, seed=seed, ado_port=ado_port, jira_port=jira_port) as sandbox:
            console.print(f"Sandbox ADO {sandbox.ado_url}  Jira {sandbox.jira_url}")
            async with local_stack(settings) as stack:
                summary = await _run_demo(stack, sandbox, console)
                print(json.dumps(summary))
                if keep_running:
                    console.print("Still running (Ctrl-C stops).")
                    await _until_interrupted()
                return 0 if summary["status"] in ("COMPLETED", "INCOMPLETE") else 1

    raise typer.Exit(_run_cleanly(main(), console))


async def _run_demo(stack: LocalStack, sandbox, console: Console) -> dict:
    started = time.monotonic()
    migration_id = await stack.service.create_migration(
        TENANT,
        "Demo: Phoenix → PHX",
        SourceConnection(
            organization_url=sandbox.ado_url, project="Phoenix", team="Phoenix Team", pat_ref=f"env:{DEMO_ADO_PAT_ENV}"
        ),
        TargetConnection(
            base_url=sandbox.jira_url,
            project_key="PHX",
            email="migrator@example.com",
            token_ref=f"env:{DEMO_JIRA_TOKEN_ENV}",
        ),
        default_plan(),
        actor="demo",
        door="cli",
    )
    run_id = await stack.service.start_run(TENANT, migration_id, actor="demo", door="cli")
    console.print(f"Run [bold]{run_id}[/] started")
    progress: RunProgress
    columns = (
        TextColumn("{task.description:<13}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bars:
        phases = run_phases()
        tasks = {phase: bars.add_task(phase, total=None, detail="", start=False) for phase in phases}
        while True:
            progress = await stack.service.progress(TENANT, run_id)
            for phase in phases:
                c = progress.counters.get(phase)
                if c is None:
                    continue
                done = c.created + c.adopted + c.skipped + c.failed
                if BY_NAME[phase].kind == PhaseKind.PREFLIGHT:
                    finished = progress.phase not in (None, phase) or progress.status in FINAL_STATUSES
                    bars.update(tasks[phase], total=1, completed=1 if finished else 0)
                else:
                    bars.update(
                        tasks[phase],
                        total=c.total or None,
                        completed=done,
                        detail=f"{BY_NAME[phase].counts} {c.created} already in Jira {c.adopted} "
                        f"skipped {c.skipped} failed {c.failed}",
                    )
                if phase == progress.phase or done:
                    bars.start_task(tasks[phase])
            if progress.status in FINAL_STATUSES:
                break
            await asyncio.sleep(0.3)
    duration = time.monotonic() - started
    async with httpx.AsyncClient(timeout=30) as http:
        state = (await http.get(f"{sandbox.jira_url}/_sandbox/state")).json()
    table = Table(title=f"Run {run_id}: {progress.status.value} in {duration:.1f}s")
    for column in ("phase", "total", "created", "already in Jira", "skipped", "failed"):
        table.add_column(column, justify="right" if column != "phase" else "left")
    for phase in batched(phases):
        c = progress.counters[phase]
        table.add_row(phase, str(c.total), str(c.created), str(c.adopted), str(c.skipped), str(c.failed))
    console.print(table)
    failures = await stack.service.failure_page(TENANT, run_id, limit=5)
    for group in failures.groups:
        console.print(f"  {group.count} failed: {group.reason} — {group.remedy}")
    for f in failures.failures:
        console.print(f"  failed ADO #{f.ado_id} {f.what}: {f.error}")
    if failures.total > len(failures.failures):
        console.print(f"  … all {failures.total} failures: GET /api/migrations/{run_id}/report?format=html")
    console.print(f"Temporal UI: {stack.temporal_ui_url or stack.temporal_address}  (workflow id {run_id})")
    console.print(f"Sandbox state: {sandbox.jira_url}/_sandbox/state")
    return {
        "run_id": run_id,
        "migration_id": migration_id,
        "status": progress.status.value,
        "duration_seconds": round(duration, 2),
        "phases": {p: progress.counters[p].model_dump() for p in batched(phases)},
        "jira_issues": state.get("issues", {}).get("total")
        if isinstance(state.get("issues"), dict)
        else state.get("issues"),
        "temporal_ui": stack.temporal_ui_url,
        "sandbox_state": f"{sandbox.jira_url}/_sandbox/state",
    }
