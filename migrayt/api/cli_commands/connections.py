"""`migrayt connection add-ado|add-jira|list`: saved connections, tested by the API before they are kept.

The secret goes to the API once (it tests and encrypts it) and is never shown back. Give it through
the environment (MIGRAYT_ADO_PAT / MIGRAYT_JIRA_TOKEN) or at the hidden prompt rather than on the
command line, where other users of the machine could see it. Then `migrayt connect
--source-connection conn-… --target-connection conn-… --jira-project KEY` creates a migration.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from migrayt.api.cli_commands.client import USAGE, CliError
from migrayt.api.cli_commands.options import ApiUrl, Json, Token, client, command, emit

connection_app = typer.Typer(
    no_args_is_help=True, help="Saved ADO and Jira connections (tested on save; secrets never shown back)."
)
Name = Annotated[str, typer.Option(help="a name for this connection")]


def _saved(c: Console, view: dict) -> None:
    c.print(f"Connection [bold]{view['id']}[/] ({view['kind']}) saved and tested: {view['url']}")


@connection_app.command("add-ado")
@command
def add_ado(
    name: Name,
    url: Annotated[str, typer.Option(help="Azure DevOps organization URL, e.g. https://dev.azure.com/acme")],
    project: Annotated[str, typer.Option(help="ADO project")],
    pat: Annotated[
        str,
        typer.Option(
            envvar="MIGRAYT_ADO_PAT",
            prompt="ADO personal access token",
            hide_input=True,
            help="the PAT (better: MIGRAYT_ADO_PAT or the prompt)",
            show_default=False,
        ),
    ],
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Save an Azure DevOps connection (the API checks the PAT and the project first)."""
    body = {"kind": "ado", "name": name, "organization_url": url, "project": project, "pat": pat}
    emit(as_json, client(api_url, token).post("/api/connections", body), _saved)


@connection_app.command("add-jira")
@command
def add_jira(
    name: Name,
    url: Annotated[str, typer.Option(help="Jira site URL, e.g. https://acme.atlassian.net")],
    secret: Annotated[
        str,
        typer.Option(
            "--token-value",
            envvar="MIGRAYT_JIRA_TOKEN",
            prompt="Jira API token (or Data Center PAT)",
            hide_input=True,
            help="the API token (better: MIGRAYT_JIRA_TOKEN or the prompt)",
            show_default=False,
        ),
    ],
    email: Annotated[str | None, typer.Option(help="Jira Cloud account e-mail")] = None,
    data_center: Annotated[bool, typer.Option("--data-center", help="Jira Data Center with a PAT (no e-mail)")] = False,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: Json = False,
) -> None:
    """Save a Jira Cloud (or Data Center) connection (the API checks the token first)."""
    if data_center:
        body = {"kind": "jira_dc", "name": name, "base_url": url, "pat": secret}
    elif not email:
        raise CliError("Jira Cloud needs --email (or pass --data-center for a Data Center PAT)", USAGE)
    else:
        body = {"kind": "jira_cloud", "name": name, "site_url": url, "email": email, "api_token": secret}
    emit(as_json, client(api_url, token).post("/api/connections", body), _saved)


@connection_app.command("list")
@command
def list_connections(api_url: ApiUrl = None, token: Token = None, as_json: Json = False) -> None:
    """List the tenant's saved connections (never their secrets)."""

    def render(c: Console, rows: list) -> None:
        table = Table("id", "kind", "name", "url", "user", "secret")
        for r in rows:
            table.add_row(r["id"], r["kind"], r["name"], r["url"], r.get("username") or "", r["secret_hint"])
        c.print(table)

    emit(as_json, client(api_url, token).get("/api/connections"), render)


def register(app: typer.Typer) -> None:
    app.add_typer(connection_app, name="connection")
