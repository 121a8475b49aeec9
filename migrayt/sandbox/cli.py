"""`migrayt sandbox`: serve the sandbox Azure DevOps and Jira until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from migrayt.sandbox.defaults import (
    DEFAULT_ADO_PAT,
    DEFAULT_HOST,
    DEFAULT_JIRA_EMAIL,
    DEFAULT_JIRA_TOKEN,
    DEFAULT_PROJECT_KEY,
)


def _secret_hint(value: str, default: str, flag: str) -> str:
    # The defaults are public sandbox values; a secret someone chose is never echoed.
    return f"'{value}'" if value == default else f"(the value given by {flag})"


def sandbox_command(
    ado_port: Annotated[int, typer.Option(help="ADO port (0 picks a free one).")] = 8081,
    jira_port: Annotated[int, typer.Option(help="Jira port (0 picks a free one).")] = 8082,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = DEFAULT_HOST,
    items: Annotated[int, typer.Option(min=1, help="Work items to generate.")] = 500,
    seed: Annotated[int, typer.Option(help="Generator seed: same seed, same project.")] = 7,
    organization: Annotated[str, typer.Option(help="ADO organization.")] = "acme",
    project: Annotated[str, typer.Option(help="ADO project.")] = "Phoenix",
    team: Annotated[str, typer.Option(help="ADO team.")] = "Phoenix Team",
    jira_project: Annotated[str, typer.Option(help="Jira project key.")] = DEFAULT_PROJECT_KEY,
    ado_pat: Annotated[str, typer.Option(envvar="MIGRAYT_SANDBOX_ADO_PAT", help="PAT ADO accepts.")] = DEFAULT_ADO_PAT,
    jira_email: Annotated[str, typer.Option(help="Email Jira accepts (Basic auth user).")] = DEFAULT_JIRA_EMAIL,
    jira_token: Annotated[
        str, typer.Option(envvar="MIGRAYT_SANDBOX_JIRA_TOKEN", help="API token Jira accepts.")
    ] = DEFAULT_JIRA_TOKEN,
    state_dir: Annotated[Path | None, typer.Option(help="Keep Jira's state here across restarts.")] = None,
    latency_ms: Annotated[float, typer.Option(min=0, help="Added latency per request.")] = 0.0,
    jitter_ms: Annotated[float, typer.Option(min=0, help="Uniform random extra latency, up to this.")] = 0.0,
    rate_limit: Annotated[float | None, typer.Option(min=0.001, help="Requests per second before 429.")] = None,
    share_429: Annotated[float, typer.Option(min=0, max=1, help="Share of requests answered 429.")] = 0.0,
    share_5xx: Annotated[float, typer.Option(min=0, max=1, help="Share of requests answered 500/502/503.")] = 0.0,
    share_drop: Annotated[
        float,
        typer.Option(min=0, max=1, help="Share of writes applied, then the connection dropped before the answer."),
    ] = 0.0,
    index_lag: Annotated[
        float, typer.Option(min=0, help="Seconds before a new Jira issue shows up in JQL search.")
    ] = 0.0,
    retry_after: Annotated[float, typer.Option(min=0, help="Retry-After seconds on injected 429s.")] = 1.0,
    fault_seed: Annotated[int | None, typer.Option(help="Seed for the fault dice (reproducible faults).")] = None,
    limit_profile: Annotated[
        str | None,
        typer.Option(
            help="Scoped rate limits by name, as Jira Cloud and ADO count them: 'jira-cloud-like' "
            "(values and why: bench/README.md). Off by default."
        ),
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Serve a sandbox Azure DevOps and Jira Cloud (real REST contracts, switchable faults)."""
    # The servers load on use, not at import: `migrayt --help` stays quick.
    from migrayt.sandbox.fault_config import LIMIT_PROFILES, FaultConfig
    from migrayt.sandbox.generator import ProjectSpec
    from migrayt.sandbox.server import PortInUseError, SandboxServer, build_sandbox

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if limit_profile is not None and limit_profile not in LIMIT_PROFILES:
        typer.echo(f"error: unknown --limit-profile {limit_profile!r}; known: {', '.join(LIMIT_PROFILES)}", err=True)
        raise typer.Exit(2)
    faults = FaultConfig(
        limit_profile=limit_profile,
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        rate_limit_rps=rate_limit,
        share_429=share_429,
        share_5xx=share_5xx,
        share_drop_after_write=share_drop,
        retry_after_seconds=retry_after,
        seed=fault_seed,
    )
    spec = ProjectSpec(seed=seed, items=items, organization=organization, project=project, team=team)
    started = time.perf_counter()
    sandbox = build_sandbox(
        spec,
        ado_pat=ado_pat,
        jira_email=jira_email,
        jira_token=jira_token,
        project_key=jira_project,
        jira_state_dir=state_dir,
        ado_faults=faults.model_copy(update={"search_index_lag_seconds": 0.0}),
        jira_faults=faults.model_copy(update={"search_index_lag_seconds": index_lag}),
    )
    server = SandboxServer(
        sandbox,
        ado_port=ado_port,
        jira_port=jira_port,
        host=host,
        log_level="info" if access_log else "warning",
        access_log=access_log,
    )
    try:
        server.start()
    except PortInUseError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    ado_hint = _secret_hint(ado_pat, DEFAULT_ADO_PAT, "--ado-pat")
    jira_hint = _secret_hint(jira_token, DEFAULT_JIRA_TOKEN, "--jira-token")
    lines = [
        f"Sandbox ready in {time.perf_counter() - started:.1f}s: {items} work items, seed {seed}",
        f"ADO   {server.ado_url}   project '{project}', team '{team}'",
        f"      Basic auth: any user name, PAT {ado_hint}",
        f"Jira  {server.jira_url}   project {jira_project}",
        f"      Basic auth: {jira_email} with API token {jira_hint}",
        f"Xray  {server.xray_url}   API key: client id {sandbox.xray_client_id}, secret as in sandbox/defaults.py",
        f"Admin {server.ado_root}/_sandbox/faults  {server.jira_url}/_sandbox/faults  (and /_sandbox/state; "
        "Jira's upload limit: /_sandbox/settings)",
        "Ctrl-C or SIGTERM stops.",
    ]
    typer.echo("\n".join(lines))
    sys.stdout.flush()

    try:
        while not stopping.wait(0.2):
            pass
    finally:
        server.stop()
    typer.echo("Sandbox stopped.")
