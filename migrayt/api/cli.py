"""The `migrayt` command. Each sub-command lives with the layer it drives."""

from __future__ import annotations

import typer

from migrayt.sandbox.cli import sandbox_command
from migrayt.worker.cli import worker_command
from migrayt.api.demo import demo_command, up_command
from migrayt.api.cli_commands import register as register_api_commands
from migrayt.scheduling.cli import schedule_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Migrayt: Azure DevOps Boards → Jira, exactly once.")
# A group even while it has one command, so `migrayt sandbox` keeps its name.
app.callback()(lambda: None)
app.command("sandbox")(sandbox_command)
app.command("worker")(worker_command)
app.command("up")(up_command)
app.command("demo")(demo_command)
app.add_typer(schedule_app, name="schedule")
from migrayt.ops.cli import register as register_ops_commands  # noqa: E402

register_ops_commands(app)  # api, db upgrade, setup temporal, probe: running on real infrastructure (deploy/)
register_api_commands(app)  # connect, scan, map, preview, run, pause, resume, cancel, rerun, status, audit, token


def main() -> None:
    app()


if __name__ == "__main__":
    main()
