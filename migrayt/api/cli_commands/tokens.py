"""`migrayt token create|list|revoke`: tenant API tokens, issued by the server's admin."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from migrayt.api.cli_commands.options import ApiUrl, Json, client, command, emit, err_console

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
@command
def token_create(
    tenant: Annotated[str, typer.Option(help="tenant id (lower case); created with its first token")],
    name: Annotated[str, typer.Option(help="what the token is for; audit events name it")] = "cli",
    admin_token: AdminToken = None,
    api_url: ApiUrl = None,
    as_json: Json = False,
) -> None:
    """Issue a token for a tenant. It is printed once; only its hash is kept."""
    issued = client(api_url, admin_token).post("/api/admin/tokens", {"tenant": tenant, "name": name})
    if as_json:
        emit(True, issued, lambda c, t: None)
        return
    err_console.print(f"Token {issued['id']} for tenant {issued['tenant']} ({issued['name']}); shown once:")
    typer.echo(issued["token"])  # alone on stdout, so `$(migrayt token create …)` captures it


@token_app.command("list")
@command
def token_list(
    tenant: Annotated[str | None, typer.Option(help="only this tenant")] = None,
    admin_token: AdminToken = None,
    api_url: ApiUrl = None,
    as_json: Json = False,
) -> None:
    """List tokens (never the tokens themselves)."""
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
@command
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="token id (tok-…)")],
    admin_token: AdminToken = None,
    api_url: ApiUrl = None,
    as_json: Json = False,
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    emit(
        as_json,
        client(api_url, admin_token).delete(f"/api/admin/tokens/{token_id}"),
        lambda c, t: c.print(f"Token {t['id']} revoked"),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
