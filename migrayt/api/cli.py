"""The `migrayt` command. Each sub-command lives with the layer it drives."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Migrayt: Azure DevOps Boards → Jira, exactly once.")


def main() -> None:
    app()
