"""`migrayt connect|migrations`: create a migration between an ADO project and a Jira project, list them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from migrayt.api.cli_commands.client import USAGE, CliError
from migrayt.api.cli_commands.options import ApiUrl, Json, Token, client, command, emit
from migrayt.contracts.runs import PhaseSchedule


@command
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
    mute_notifications: Annotated[
        bool | None,
        typer.Option(
            "--mute-notifications/--no-mute-notifications",
            help=(
                "mute the Jira project's notifications during each run, its own scheme put back at the end (default: "
                "as the plan says, on; needs a Jira user with Administer Jira)"
            ),
        ),
    ] = None,
    phase_schedule: Annotated[
        PhaseSchedule | None,
        typer.Option(
            help=(
                "side_by_side: links, files, statuses, comments and plugins at once once the issues exist (each item's "
                "files before its comments); sequential: one phase after the other. Both end in the same Jira state "
                "(default: as the plan says, side_by_side)"
            ),
        ),
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
    if mute_notifications is not None:
        chosen.mute_notifications = mute_notifications
    if phase_schedule is not None:
        chosen.phase_schedule = phase_schedule
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
        emit(
            as_json,
            created,
            lambda c, m: c.print(
                f"Migration [bold]{m['id']}[/] created; plan v{m['plan']['version']} is {m['plan']['status']}"
            ),
        )
        return
    refs = ("--ado-pat-ref", "--jira-token-ref")
    missing = [flag for flag, value in details.items() if not value and flag not in refs]
    if missing:
        raise CliError(f"missing {', '.join(missing)} (or use --source-connection and --target-connection)", USAGE)
    if not ado_pat_ref and not jira_token_ref:
        _connect_with_prompted_secrets(
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
        return
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


@command
def migrations(api_url: ApiUrl = None, token: Token = None, as_json: Json = False) -> None:
    """List the tenant's migrations."""
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


def register(app: typer.Typer) -> None:
    app.command("connect")(connect)
    app.command("migrations")(migrations)
