"""`migrayt schedule cutover|delta|list|show|pause|resume|trigger|delete|now` over the HTTP API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from migrayt.api.cli_commands.options import ApiUrl, Json, MigrationId, Token, client, command, emit

schedule_app = typer.Typer(no_args_is_help=True, help="Scheduled runs: a cutover at a set time, recurring delta syncs.")
ScheduleId = Annotated[str, typer.Argument(help="schedule id (cutover-… or delta-…)")]


def _render(c: Console, view: dict) -> None:
    when = view.get("at") or (
        f"every {view['every_minutes']} min" if view.get("every_minutes") else f"cron {view.get('cron')}"
    )
    state = "paused" if view["paused"] else "active"
    nxt = ", ".join(str(t)[:19] for t in view.get("next_action_times", [])[:2]) or "-"
    c.print(f"{view['schedule_id']}  {view['kind']}  {view['migration_id']}  {when}  {state}  next: {nxt}")


def _render_many(c: Console, rows: list[dict[str, Any]]) -> None:
    table = Table("schedule", "kind", "migration", "when", "state", "next", "last run")
    for v in rows:
        when = v.get("at") or (f"every {v['every_minutes']} min" if v.get("every_minutes") else f"cron {v.get('cron')}")
        table.add_row(
            v["schedule_id"],
            v["kind"],
            v["migration_id"],
            str(when)[:25],
            "paused" if v["paused"] else "active",
            str((v.get("next_action_times") or ["-"])[0])[:19],
            (v.get("recent_runs") or ["-"])[-1],
        )
    c.print(table)


@schedule_app.command("cutover")
@command
def cutover(
    migration_id: MigrationId,
    at: Annotated[datetime, typer.Option(help="when the run starts, ISO 8601 (UTC unless an offset is given)")],
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Start a run of the migration at a set time (the cutover window)."""
    view = client(api_url, token).post(
        "/api/schedules", {"migration_id": migration_id, "kind": "cutover", "at": at.isoformat()}
    )
    emit(as_json, view, _render)


@schedule_app.command("delta")
@command
def delta(
    migration_id: MigrationId,
    every: Annotated[int | None, typer.Option(help="run every N minutes", min=1)] = None,
    cron: Annotated[str | None, typer.Option(help="cron expression (UTC), instead of --every")] = None,
    paused: Annotated[bool, typer.Option("--paused", help="create it paused")] = False,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Sync what changed in ADO since the last successful run, on a recurring schedule."""
    body = {"migration_id": migration_id, "kind": "delta", "every_minutes": every, "cron": cron, "paused": paused}
    emit(as_json, client(api_url, token).post("/api/schedules", body), _render)


@schedule_app.command("now")
@command
def now(migration_id: MigrationId, api_url: ApiUrl = None, token: Token = None, as_json: Json = False) -> None:
    """One delta sync now; prints its run id (watch it with `migrayt status RUN --watch`)."""
    started = client(api_url, token).post("/api/delta-syncs", {"migration_id": migration_id})
    emit(as_json, started, lambda c, s: typer.echo(s["run_id"]))


@schedule_app.command("list")
@command
def list_(
    migration: Annotated[str | None, typer.Option(help="only this migration's schedules")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """This tenant's schedules."""
    emit(as_json, client(api_url, token).get("/api/schedules", migration_id=migration), _render_many)


@schedule_app.command("show")
@command
def show(schedule_id: ScheduleId, api_url: ApiUrl = None, token: Token = None, as_json: Json = False) -> None:
    """One schedule: what it does, when it next fires, paused or not, its last result."""
    emit(as_json, client(api_url, token).get(f"/api/schedules/{schedule_id}"), _render)


def _action(action: str, doc: str) -> Callable[..., None]:
    """`migrayt schedule pause|resume|trigger ID`: one command per action, each with its own help."""

    def act(schedule_id: ScheduleId, api_url: ApiUrl = None, token: Token = None, as_json: Json = False) -> None:
        emit(as_json, client(api_url, token).post(f"/api/schedules/{schedule_id}/{action}"), _render)

    act.__doc__ = doc
    return command(act)


schedule_app.command("pause")(_action("pause", "Pause a schedule (no new actions until resumed)."))
schedule_app.command("resume")(_action("resume", "Resume a paused schedule."))
schedule_app.command("trigger")(_action("trigger", "Run the schedule's action now."))


@schedule_app.command("delete")
@command
def delete(schedule_id: ScheduleId, api_url: ApiUrl = None, token: Token = None, as_json: Json = False) -> None:
    """Delete a schedule (runs it started are not touched)."""
    client(api_url, token).delete(f"/api/schedules/{schedule_id}")
    emit(
        as_json, {"schedule_id": schedule_id, "deleted": True}, lambda c, d: c.print(f"Schedule {schedule_id} deleted")
    )


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")
