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
from migrayt.contracts.runs import FINAL_STATUSES, RunProgress, RunStatus
from migrayt.launcher.demo_story import (
    RAISED_UPLOAD_LIMIT,
    failure_lines,
    fix_lines,
    link_lines,
    next_step_lines,
    planted,
    planted_lines,
)
from migrayt.mapping.plan import default_plan
from migrayt.settings import Settings, get_settings
from migrayt.stack import StackError

# The stack pulls in the API, Temporal and SQLAlchemy: imported when a command runs, so `migrayt --help` is quick.
if TYPE_CHECKING:
    from migrayt.core.intake import IntakeService
    from migrayt.launcher.local import LocalStack
    from migrayt.sandbox.server import SandboxServer

DEMO_ADO_PAT_ENV = "MIGRAYT_DEMO_ADO_PAT"
DEMO_JIRA_TOKEN_ENV = "MIGRAYT_DEMO_JIRA_TOKEN"
DEMO_XRAY_SECRET_ENV = "MIGRAYT_DEMO_XRAY_SECRET"
ACTOR, DOOR = "demo", "cli"
# The CLI's own default (a shell with no MIGRAYT_ variable): no --api-url to print for it.
DEFAULT_API_URL = f"http://{Settings.model_fields['api_host'].default}:{Settings.model_fields['api_port'].default}"
FAILURES_SHOWN = 20


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
    if stack.api_url:
        lines.append(f"Web app {stack.api_url}/app")
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
    keep_running: Annotated[
        bool, typer.Option(help="keep stack and sandbox up after the run: the web app, API and CLI show it")
    ] = False,
    ado_port: Annotated[int, typer.Option(help="sandbox ADO port (0: any free)")] = 0,
    jira_port: Annotated[int, typer.Option(help="sandbox Jira port (0: any free)")] = 0,
) -> None:
    """Migrate a generated ADO project into the sandbox Jira on the embedded stack, live: a first run fails on
    planted problems, the demo fixes them as a user would and re-runs to COMPLETED."""
    from migrayt.launcher.local import local_stack
    from migrayt.sandbox.generator import ProjectSpec
    from migrayt.sandbox.testing import running_sandbox

    settings = get_settings()
    console = Console()
    os.environ[DEMO_ADO_PAT_ENV] = "sandbox-pat"
    os.environ[DEMO_JIRA_TOKEN_ENV] = "sandbox-token"
    # 7pace work logs and test cases in the project, Xray on the site: phase 8 writes through both plugins.
    spec = ProjectSpec(items=items, seed=seed, timetracker=True, test_management=True)

    async def main() -> int:
        with running_sandbox(spec, ado_port=ado_port, jira_port=jira_port) as sandbox:
            console.print(f"Sandbox ADO {sandbox.ado_url}  Jira {sandbox.jira_url}  Xray {sandbox.xray_url}")
            os.environ[DEMO_XRAY_SECRET_ENV] = sandbox.sandbox.xray_client_secret
            async with local_stack(settings) as stack:
                if stack.api_url:
                    note = "until Ctrl-C" if keep_running else "valid while the demo runs"
                    console.print(f"Web app {stack.api_url}/app  ({note})")
                summary = await _run_demo(stack, sandbox, console, keep_running)
                print(json.dumps(summary))
                if keep_running:
                    console.print("Still running (Ctrl-C stops).")
                    await _until_interrupted()
                return 0 if summary["status"] == "COMPLETED" else 1

    raise typer.Exit(_run_cleanly(main(), console))


def _tenant(settings: Settings) -> str:
    """The demo's migration belongs to the local tenant (MIGRAYT_TENANT), the one a token-less `migrayt up` user
    is: on the embedded default (auth off) the web app, the API and the CLI show it with no token. With auth on
    nothing opens: that tenant's token is needed, as for any of its migrations."""
    return settings.tenant


async def _watch(stack: LocalStack, tenant: str, run_id: str, console: Console) -> RunProgress:
    """A bar per phase until the run is final."""
    columns = (
        TextColumn("{task.description:<13}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bars:
        phases = run_phases()
        tasks = {phase: bars.add_task(BY_NAME[phase].title, total=None, detail="", start=False) for phase in phases}
        while True:
            progress = await stack.service.progress(tenant, run_id)
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
                        detail=f"{c.created} {BY_NAME[phase].counts} · {c.adopted} already in Jira · "
                        f"{c.skipped} {BY_NAME[phase].skipped} · failed {c.failed}",
                    )
                if phase == progress.phase or done:
                    bars.start_task(tasks[phase])
            if progress.status in FINAL_STATUSES:
                return progress
            await asyncio.sleep(0.3)


def plugin_lines(progress: RunProgress) -> list[str]:
    """Phase 8 named per plugin, as scan, progress and report name it ("7pace worklogs: 12 logged")."""
    lines = []
    for phase in batched(run_phases()):
        if BY_NAME[phase].plugin is None or (c := progress.counters.get(phase)) is None:
            continue
        w = BY_NAME[phase].words()
        lines.append(
            f"{BY_NAME[phase].title}: {c.created:,} {w['created']} · {c.skipped:,} {w['skipped']} · {c.failed:,} failed"
        )
    return lines


def _phase_table(title: str, progress: RunProgress) -> Table:
    table = Table(title=title)
    for column in ("phase", "total", "done", "already in Jira", "passed over", "failed"):
        table.add_column(column, justify="right" if column != "phase" else "left")
    for phase in batched(run_phases()):
        c, w = progress.counters[phase], BY_NAME[phase].words()
        table.add_row(
            BY_NAME[phase].title,
            str(c.total),
            f"{c.created} {w['created']}",
            str(c.adopted),
            f"{c.skipped} {w['skipped']}",
            str(c.failed),
        )
    return table


async def _run_demo(stack: LocalStack, sandbox: SandboxServer, console: Console, keep_running: bool) -> dict:
    from migrayt.core.intake import IntakeService

    started = time.monotonic()
    tenant = _tenant(stack.settings)
    intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
    jira_admin = httpx.AsyncClient(base_url=f"{sandbox.jira_url}/_sandbox", timeout=30)
    async with jira_admin:
        upload_limit = (await jira_admin.get("/settings")).json()["max_attachment_bytes"]
        story = planted(sandbox.sandbox.project, upload_limit)
        migration_id = await stack.service.create_migration(
            tenant,
            "Demo: Phoenix → PHX",
            SourceConnection(
                organization_url=sandbox.ado_url,
                project="Phoenix",
                team="Phoenix Team",
                pat_ref=f"env:{DEMO_ADO_PAT_ENV}",
            ),
            TargetConnection(
                base_url=sandbox.jira_url,
                project_key="PHX",
                email=sandbox.sandbox.jira_email,
                token_ref=f"env:{DEMO_JIRA_TOKEN_ENV}",
                xray_client_id=sandbox.sandbox.xray_client_id,
                xray_secret_ref=f"env:{DEMO_XRAY_SECRET_ENV}",
                xray_url=sandbox.xray_url,
            ),
            default_plan(),
            actor=ACTOR,
            door=DOOR,
        )
        web_app = f"{stack.api_url}/app" if stack.api_url else None
        for line in planted_lines(story):
            console.print(line)
        first_id = await stack.service.start_run(tenant, migration_id, actor=ACTOR, door=DOOR)
        console.print(f"Run [bold]{first_id}[/] started")
        run_started = time.monotonic()
        first = await _watch(stack, tenant, first_id, console)
        first_seconds = time.monotonic() - run_started
        console.print(_phase_table(f"Run {first_id}: {first.status.value} in {first_seconds:.1f}s", first))
        for line in plugin_lines(first):
            console.print(line)

        final, final_id, final_seconds = first, first_id, first_seconds
        # Every failed record, users' too (the phase counters hold only the items').
        failures = await stack.service.failure_page(tenant, first_id, limit=FAILURES_SHOWN)
        if first.status == RunStatus.INCOMPLETE:
            for line in failure_lines(first_id, first.status.value, failures.failures, failures.total, story):
                console.print(line)
            for line in next_step_lines(failures.groups, first_id, migration_id, web_app):
                console.print(line)
            # The fix, through the services the doors use: the plan edited and approved, the site's limit raised.
            fallback = sandbox.sandbox.jira_email
            version = await _fall_back_to(intake, tenant, migration_id, fallback)
            if story.files:
                await jira_admin.patch("/settings", json={"max_attachment_bytes": RAISED_UPLOAD_LIMIT})
            final_id = await stack.service.rerun(tenant, first_id, actor=ACTOR, door=DOOR)
            for line in fix_lines(story, fallback, version, migration_id, first_id, final_id):
                console.print(line)
            run_started = time.monotonic()
            final = await _watch(stack, tenant, final_id, console)
            final_seconds = time.monotonic() - run_started
            console.print(_phase_table(f"Re-run {final_id}: {final.status.value} in {final_seconds:.1f}s", final))
            for line in plugin_lines(final):
                console.print(line)
            if final.status == RunStatus.COMPLETED:
                written = sum(c.created for c in final.counters.values())
                console.print(
                    f"[bold green]COMPLETED[/]: the {story.count} planted failures are resolved; the re-run tried "
                    f"again only what had failed ({written} written) and passed over what was already in Jira."
                )
        state = (await jira_admin.get("/state")).json()
    duration = time.monotonic() - started
    links = {}
    if web_app:
        links["web app, the run"] = f"{web_app}/runs/{final_id}"
        links["API"] = f"{stack.api_url}/api/migrations/{final_id}"
    links["Temporal UI"] = f"{stack.temporal_ui_url or stack.temporal_address}  (workflow id {final_id})"
    links["sandbox Jira state"] = f"{sandbox.jira_url}/_sandbox/state"
    for line in link_lines(links, keep_running):
        console.print(line)
    if keep_running and stack.api_url:
        api = "" if stack.api_url == DEFAULT_API_URL else f" --api-url {stack.api_url}"
        console.print(
            f"CLI (no token needed here): migrayt status {final_id}{api}; migrayt map show {migration_id}{api} "
            "(the users, now with the fallback user)"
        )
    return {
        "run_id": final_id,
        "migration_id": migration_id,
        "status": final.status.value,
        # The keys beside run_id are that run's; the whole demo (sandbox, stack, both runs) is demo_seconds.
        "duration_seconds": round(final_seconds, 2),
        "demo_seconds": round(duration, 2),
        "phases": {p: final.counters[p].model_dump() for p in batched(run_phases())},
        "first_run": {
            "run_id": first_id,
            "status": first.status.value,
            "failed": failures.total,
            "duration_seconds": round(first_seconds, 2),
            "planted": story.count,
            "phases": {p: first.counters[p].model_dump() for p in batched(run_phases())},
        },
        "jira_issues": state.get("issues", {}).get("total")
        if isinstance(state.get("issues"), dict)
        else state.get("issues"),
        "web_app": f"{web_app}/runs/{final_id}" if web_app else None,
        "temporal_ui": stack.temporal_ui_url,
        "sandbox_state": f"{sandbox.jira_url}/_sandbox/state",
    }


async def _fall_back_to(intake: IntakeService, tenant: str, migration_id: str, email: str) -> int:
    """Users with no Jira account written as `email`: a new plan version, approved (PUT …/plan, then approve)."""
    row, plan = await intake.plan(tenant, migration_id)
    plan.fallback_user_email = email
    version = await intake.edit_plan(tenant, migration_id, row.version, plan, actor=ACTOR, door=DOOR)
    await intake.approve_plan(tenant, migration_id, version, actor=ACTOR, door=DOOR)
    return version
