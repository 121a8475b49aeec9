"""`migrayt migration rename|delete`, `migrayt connection delete|rotate`, `migrayt accept`: manage what you made.

Refusals keep their exit codes: a delete refused while a run is active or a connection is in use is a conflict (4);
a new secret that fails its test call is refused input (2) and the old secret stays.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

from migrayt.api.cli_commands.client import USAGE, CliError
from migrayt.api.cli_commands.connections import connection_app
from migrayt.api.cli_commands.options import ApiUrl, Json, MigrationId, Token, client, command, emit

migration_app = typer.Typer(no_args_is_help=True, help="Rename or delete a migration.")

# Where `connection rotate` reads the new secret when no prompt is wanted, by the connection's kind.
SECRET_VARIABLES = {"ado": "MIGRAYT_ADO_PAT", "jira_cloud": "MIGRAYT_JIRA_TOKEN", "jira_dc": "MIGRAYT_JIRA_TOKEN"}


@migration_app.command("rename")
@command
def rename(
    migration_id: MigrationId,
    name: Annotated[str, typer.Argument(help="the new name")],
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Rename a migration."""
    renamed = client(api_url, token).request("PATCH", f"/api/migrations/{migration_id}", json={"name": name})
    emit(as_json, renamed, lambda c, m: c.print(f"Migration [bold]{m['id']}[/] renamed to {m['name']}"))


@migration_app.command("delete")
@command
def delete(
    migration_id: MigrationId,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask to confirm")] = False,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Delete a migration with its plans, scans, previews, runs and records (its audit trail stays). What it wrote
    to Jira stays there (`migrayt undo` first to take it out). Refused while a run of it is RUNNING or PAUSED
    (exit 4)."""
    if not yes:
        typer.confirm(f"Delete migration {migration_id} and everything kept of it?", abort=True)
    client(api_url, token).delete(f"/api/migrations/{migration_id}")
    emit(as_json, {"id": migration_id, "deleted": True}, lambda c, d: c.print(f"Migration {d['id']} deleted"))


@connection_app.command("delete")
@command
def delete_connection(
    connection_id: Annotated[str, typer.Argument(help="connection id (conn-…)")],
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Delete a saved connection; refused, naming them, while migrations use it (exit 4)."""
    client(api_url, token).delete(f"/api/connections/{connection_id}")
    emit(as_json, {"id": connection_id, "deleted": True}, lambda c, d: c.print(f"Connection {d['id']} deleted"))


@connection_app.command("rotate")
@command
def rotate(
    connection_id: Annotated[str, typer.Argument(help="connection id (conn-…)")],
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Replace a saved connection's secret: the new one (MIGRAYT_ADO_PAT / MIGRAYT_JIRA_TOKEN by the connection's
    kind, or a hidden prompt) is tested against the service first; refused (exit 2), the old one stays. The
    migrations made from the connection use the new one."""
    api = client(api_url, token)
    kind = api.get(f"/api/connections/{connection_id}")["kind"]
    variable = SECRET_VARIABLES.get(kind, "MIGRAYT_JIRA_TOKEN")
    secret = os.environ.get(variable) or typer.prompt(f"New secret (or set {variable})", hide_input=True)
    rotated = api.put(f"/api/connections/{connection_id}/secret", {"secret": secret})

    def render(c: Console, r: dict) -> None:
        c.print(f"Connection [bold]{r['connection']['id']}[/] tested with its new secret and updated")
        if r["migrations_updated"]:
            c.print(f"  migrations using it now: {', '.join(r['migrations_updated'])}")

    emit(as_json, rotated, render)


@command
def accept(
    id: Annotated[str, typer.Argument(help="run id (run-…) or migration id (mig-…)")],
    reason: Annotated[str, typer.Option(help="why these failures are acceptable (kept with who and when)")],
    record: Annotated[
        list[str] | None,
        typer.Option(help="a failed record as KIND:SOURCE_KEY, as `migrayt failures --json` lists it (repeatable)"),
    ] = None,
    failure_reason: Annotated[
        str | None,
        typer.Option(
            help='every failure of this reason, as `migrayt failures` groups them ("File too large for Jira")'
        ),
    ] = None,
    phase: Annotated[str | None, typer.Option(help="with --failure-reason: only this phase's")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Accept known failures with a reason: the run counts them as accepted, not failed; when none is left failed it
    is closed as COMPLETED_WITH_ACCEPTED_EXCEPTIONS (and `status --watch` exits 0 for it). A re-run still retries
    accepted items."""
    if bool(record) == bool(failure_reason):
        raise CliError("name the failures to accept: --record KIND:SOURCE_KEY (repeatable) or --failure-reason", USAGE)
    body: dict = {"reason": reason, "phase": phase}
    if record:
        refs = [r.partition(":") for r in record]
        if any(not kind or not key for kind, _, key in refs):
            raise CliError("--record is KIND:SOURCE_KEY, e.g. attachment:48:7f3a…", USAGE)
        body["records"] = [{"kind": kind, "source_key": key} for kind, _, key in refs]
    else:
        body["failure_reason"] = failure_reason
    outcome = client(api_url, token).post(f"/api/migrations/{id}/accept-failures", body)

    def render(c: Console, o: dict) -> None:
        c.print(f"{o['accepted']} failure(s) accepted: {reason}")
        if o.get("run_id"):
            c.print(
                f"Run [bold]{o['run_id']}[/] {o['status']}: {o['failed_items']} failed items, "
                f"{o['accepted_items']} accepted"
            )

    emit(as_json, outcome, render)


def register(app: typer.Typer) -> None:
    app.command("accept")(accept)
    app.add_typer(migration_app, name="migration")
