"""The `migrayt` command. Each sub-command lives with the layer it drives."""

from __future__ import annotations

import typer

from migrayt.api.cli_commands import register as register_api_commands
from migrayt.api.cli_commands import schedules
from migrayt.launcher.demo import demo_command, up_command
from migrayt.worker.cli import worker_command

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Migrayt: Azure DevOps Boards → Jira, exactly once.")
# A group even while it has one command, so `migrayt sandbox` keeps its name.
app.callback()(lambda: None)


# The sandbox is a test double, not part of the product: imported only when `migrayt sandbox` runs
# (its options and help are the sandbox's own, handed every argument as given).
@app.command(
    "sandbox", add_help_option=False, context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def sandbox(ctx: typer.Context) -> None:
    """Serve a sandbox Azure DevOps and Jira Cloud (real REST contracts, switchable faults)."""
    from migrayt.sandbox.cli import sandbox_command

    command = typer.Typer(add_completion=False)
    command.command()(sandbox_command)
    command(args=ctx.args, prog_name=f"{ctx.parent.info_name if ctx.parent else 'migrayt'} sandbox")


app.command("worker")(worker_command)
app.command("up")(up_command)
app.command("demo")(demo_command)
schedules.register(app)
from migrayt.ops.cli import register as register_ops_commands  # noqa: E402

register_ops_commands(app)  # api, db upgrade, setup temporal, probe: running on real infrastructure (deploy/)
register_api_commands(app)  # connect, migrations, scan, map, preview, run, pause, …, status, audit, token, connection


def main() -> None:
    app()


if __name__ == "__main__":
    main()
