"""What every command that talks to the API shares: its options, its client, its output and its exit codes.

Every command talks to the API (`--api-url` / MIGRAYT_API_URL, default the local `migrayt up`), with `--token` /
MIGRAYT_API_TOKEN (not needed on the embedded default), and prints JSON with `--json` (one object; `--watch` prints
one JSON line per progress event). Exit codes: see client.py.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console

from migrayt.api.cli_commands.client import FAILURE, OK, ApiClient, CliError

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
    """Run `fn`, turning API errors into a message and the documented exit code; `fn` returns its exit code (None: 0).

    functools.wraps keeps `fn`'s signature and docstring (`__wrapped__`): Typer reads its options from them.
    """

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


def _default_api_url() -> str:
    from migrayt.settings import get_settings

    s = get_settings()
    return f"http://{s.api_host}:{s.api_port}"


def client(api_url: str | None, token: str | None) -> ApiClient:
    return ApiClient(api_url or _default_api_url(), token)


def emit(as_json: bool, data: Any, render: Callable[[Console, Any], None]) -> None:
    if as_json:
        typer.echo(json.dumps(data, default=str))
    else:
        render(Console(), data)


def wait_until_done(api: ApiClient, path: str, timeout: float) -> dict:
    """Poll a scan's or a preview's status until it is no longer RUNNING."""
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(path)
        if body["status"] != "RUNNING":
            return body
        if time.monotonic() > deadline:
            raise CliError(f"still RUNNING after {timeout:.0f}s: {path}", FAILURE)
        time.sleep(0.5)
