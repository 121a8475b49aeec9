"""CLI commands that drive the HTTP API; `register(app)` adds them to the `migrayt` command."""

from migrayt.api.cli_commands.commands import register

__all__ = ["register"]
