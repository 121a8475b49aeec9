"""CLI commands that drive the HTTP API, one module per thing the user does; `register(app)` adds them all.

Shared options, the client and the error handling are in options.py. A new command: a typed function decorated
with `options.command` in the module of what it is for (or a new module with its own `register`, listed here).
"""

import typer

from migrayt.api.cli_commands import (
    audit,
    connections,
    manage,
    migrations,
    planning,
    reports,
    runs,
    savepoints,
    tokens,
    undo,
    validations,
)


def register(app: typer.Typer) -> None:
    # The order is that of `migrayt --help` (commands as registered, then the groups).
    for module in (
        migrations,
        planning,
        runs,
        manage,
        undo,
        reports,
        validations,
        audit,
        savepoints,
        tokens,
        connections,
    ):
        module.register(app)


__all__ = ["register"]
