"""`migrayt run|pause|resume|cancel|rerun|status`: start a run, steer it, follow it live."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from migrayt.api.cli_commands.client import FAILURE, OK, ApiClient, CliError
from migrayt.api.cli_commands.options import ApiUrl, Json, MigrationId, RunId, Token, client, command, emit
from migrayt.contracts.phases import batched, in_order, run_phases, title, words
from migrayt.contracts.runs import SUCCESSFUL_STATUSES, RunKind, run_kind

# A migration's runs as its list shows them: an undo or a delta sync is never mistaken for a migration run.
KIND_SHOWN = {RunKind.RUN: "run", RunKind.DELTA_SYNC: "delta sync", RunKind.UNDO: "undo"}


def _render_run(c: Console, run: dict) -> None:
    if "runs" in run:  # a migration id was given
        plan = run.get("plan") or {}
        c.print(f"Migration [bold]{run['id']}[/] {run['name']}; plan v{plan.get('version')} {plan.get('status')}")
        for r in run["runs"]:
            c.print(f"  {r['id']} {KIND_SHOWN[RunKind(r.get('kind') or 'run')]} {r['status']} {r.get('phase') or ''}")
        return
    eta = f"  ETA {run['eta_seconds']:.0f}s" if run.get("eta_seconds") is not None else ""
    # Side by side, several phases run at once: each is named, as the API's phases_running has them.
    running = run.get("phases_running") or [run.get("phase")]
    shown = "phases " + ", ".join(map(str, running)) if len(running) > 1 else f"phase {running[0]}"
    c.print(
        f"{KIND_SHOWN[run_kind(run['run_id'])].capitalize()} [bold]{run['run_id']}[/] {run['status']}  "
        f"{shown}  "
        f"elapsed {run.get('elapsed_seconds', 0):.0f}s{eta}"
    )
    table = Table("phase", "total", "done", "already in Jira", "passed over", "accepted", "failed")
    for phase in batched(in_order(run.get("counters") or {})):
        counters = (run.get("counters") or {}).get(phase)
        if counters:
            table.add_row(title(phase), str(counters.get("total", 0)), *_counted(phase, counters))
    # Wide enough that "37 issues created" stays on one line, as a script or a pasted report reads it.
    Console(file=c.file, width=max(c.width, 110), force_terminal=c.is_terminal).print(table)
    users = f"; users: {run['users_unmatched']} unmatched" if run.get("users_unmatched") else ""
    if run.get("issues_given_users"):
        users += (
            f"; users: {run['users_given']} resolved, {run['issues_given_users']} issues given their assignee"
            " or reporter"
        )
    accepted = f"; {run['accepted_items']} accepted" if run.get("accepted_items") else ""
    c.print(f"{run.get('failed_items', 0)} failed items{accepted}{users}")
    for f in run.get("failures") or []:
        c.print(f"  [red]failed[/] {f['kind']} {f['source_key']}: {f['error']}")
    if run.get("failures_total", 0) > len(run.get("failures") or []):
        c.print(f"  … {run['failures_total']} failed in all")


def _counted(phase: str, counters: dict) -> tuple[str, str, str, str, str]:
    """A phase's counters in its own words (the registry's): "38 issues created", "2 already there"."""
    w = words(phase)
    done, adopted, passed = (f"{counters.get(k, 0)} {w[k]}" for k in ("created", "adopted", "skipped"))
    return done, adopted, passed, str(counters.get("accepted", 0)), str(counters.get("failed", 0))


def _watch(api: ApiClient, run_id: str, as_json: bool) -> int:
    """Follow the run's events until it ends; 0 when it COMPLETED (or COMPLETED_WITH_ACCEPTED_EXCEPTIONS), else 1."""
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
            shown_status = None
            for event, data in api.events(f"/api/migrations/{run_id}/events"):
                if event != "progress":
                    continue
                last = data
                if data.get("status") != shown_status:
                    # A status change is a line of its own: PAUSED must be seen, not inferred from still bars.
                    shown_status = data.get("status")
                    hint = f" (resume with: migrayt resume {run_id})" if shown_status == "PAUSED" else ""
                    bars.console.print(f"Run {run_id} {shown_status}{hint}")
                for phase in batched(data.get("phases") or in_order(data.get("counters") or run_phases())):
                    if phase not in tasks:
                        tasks[phase] = bars.add_task(title(phase), total=None, detail="", start=False)
                for phase, task in tasks.items():
                    c = (data.get("counters") or {}).get(phase)
                    if not c:
                        continue
                    done = c["created"] + c.get("adopted", 0) + c["skipped"] + c["failed"] + c.get("accepted", 0)
                    eta = (
                        f" ETA {data['eta_seconds']:.0f}s"
                        if data.get("eta_seconds") is not None and phase == data.get("phase")
                        else ""
                    )
                    bars.update(
                        task,
                        total=c["total"] or None,
                        completed=done,
                        detail=" · ".join(_counted(phase, c)[:3])
                        + (f" · accepted {c['accepted']}" if c.get("accepted") else "")
                        + f" · failed {c['failed']}{eta}",
                    )
                    if phase == data.get("phase") or phase in (data.get("phases_running") or ()) or done:
                        bars.start_task(task)
        if last:
            _render_run(Console(), last)
    if last is None:
        raise CliError(f"no progress received for {run_id}", FAILURE)
    return OK if last["status"] in SUCCESSFUL_STATUSES else FAILURE


WatchOpt = Annotated[
    bool,
    typer.Option(
        "--watch",
        help="follow live progress until the run ends (exit 0 only if it COMPLETED, also with accepted exceptions)",
    ),
]


@command
def run(
    migration_id: MigrationId,
    watch: WatchOpt = False,
    from_savepoint: Annotated[
        Path | None,
        typer.Option(
            "--from-savepoint",
            exists=True,
            dir_okay=False,
            help="a savepoint file (`migrayt savepoint download`): its items are skipped, not sent again",
        ),
    ] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> int:
    """Start a run of a migration (its plan must be approved), from a savepoint with --from-savepoint."""
    api = client(api_url, token)
    if from_savepoint is None:
        started = api.post(f"/api/migrations/{migration_id}/runs", {})
    else:
        started = api.request(
            "POST",
            f"/api/migrations/{migration_id}/runs/from-savepoint",
            content=from_savepoint.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
    if not watch:
        emit(
            as_json,
            started,
            lambda c, s: c.print(
                f"Run [bold]{s['run_id']}[/] started; follow it with: migrayt status {s['run_id']} --watch"
            ),
        )
        return OK
    if not as_json:
        Console().print(f"Run [bold]{started['run_id']}[/] started")
    return _watch(api, started["run_id"], as_json)


def _control(action: str, doc: str) -> Callable[..., None]:
    """`migrayt pause|resume|cancel RUN`: one command per action, each with its own help."""

    def control(
        run_id: RunId,
        reason: Annotated[str | None, typer.Option(help="why (kept in the audit trail)")] = None,
        api_url: ApiUrl = None,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        done = client(api_url, token).post(f"/api/migrations/{run_id}/{action}", {"reason": reason} if reason else {})
        emit(as_json, done, lambda c, d: c.print(f"{action} of {d['run_id']} accepted"))

    control.__doc__ = doc
    return command(control)


pause = _control(
    "pause", "Pause a RUNNING run: batches under way stop, PAUSED once nothing writes (exit 4 if it is not RUNNING)."
)
resume = _control("resume", "Resume a PAUSED run (exit 4 if it is not PAUSED).")
cancel = _control("cancel", "Cancel a run; final (exit 4 if it already ended).")


@command
def rerun(
    run_id: RunId, watch: WatchOpt = False, api_url: ApiUrl = None, token: Token = None, as_json: Json = False
) -> int:
    """Run a FAILED, INCOMPLETE, CANCELLED or COMPLETED_WITH_ACCEPTED_EXCEPTIONS run's migration again; it skips
    what exists and retries what failed (accepted failures too)."""
    api = client(api_url, token)
    started = api.post(f"/api/migrations/{run_id}/rerun", {})
    if not watch:
        emit(as_json, started, lambda c, s: c.print(f"Re-run [bold]{s['run_id']}[/] of {run_id} started"))
        return OK
    return _watch(api, started["run_id"], as_json)


@command
def status(
    id: Annotated[str, typer.Argument(help="run id (run-…) or migration id (mig-…)")],
    watch: WatchOpt = False,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> int:
    """A run's status, phase, counters, ETA and failures (or a migration and its runs)."""
    api = client(api_url, token)
    if watch:
        return _watch(api, id, as_json)
    emit(as_json, api.get(f"/api/migrations/{id}"), _render_run)
    return OK


def register(app: typer.Typer) -> None:
    for name, fn in (
        ("run", run),
        ("pause", pause),
        ("resume", resume),
        ("cancel", cancel),
        ("rerun", rerun),
        ("status", status),
    ):
        app.command(name)(fn)
