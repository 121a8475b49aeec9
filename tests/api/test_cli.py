"""The CLI through its real commands against the API over HTTP: a whole migration, --json everywhere,
live --watch, and the exit codes scripts rely on (0 ok, 1 failure, 2 usage, 3 not found, 4 conflict)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from migrayt.api.cli import app
from migrayt.sandbox.testing import running_sandbox
from tests.api.helpers import tenant_secret_refs
from tests.integration.harness import REPO

ITEMS, SEED = 60, 11


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED) as server:
        yield server


class Cli:
    """`migrayt …` in-process (Typer's runner, in a thread so the API in this loop keeps serving)."""

    def __init__(self, api_url: str, token: str | None) -> None:
        self.api_url, self.token = api_url, token
        self.runner = CliRunner()

    async def __call__(self, *args: str, token: str | None = "default", code: int = 0):
        auth = [] if token is None else ["--token", self.token if token == "default" else token]
        result = await asyncio.to_thread(self.runner.invoke, app, [*args, "--api-url", self.api_url, *auth])
        assert result.exit_code == code, (
            f"migrayt {' '.join(args)} → {result.exit_code}: {result.output}\n{result.exception!r}"
        )
        return result

    async def json(self, *args: str, **kwargs):
        return json.loads((await self(*args, "--json", **kwargs)).stdout)


async def test_cli_drives_a_migration_with_json_and_exit_codes(api, worker, sandbox, tmp_path):
    admin = Cli(api.url, None)
    issued = await admin(
        "token", "create", "--tenant", "cli-corp", "--name", "cli-bot", "--admin-token", api.admin_token, token=None
    )
    token = issued.stdout.strip()
    assert token.startswith("mgt_") and "\n" not in token
    cli = Cli(api.url, token)
    pat_ref, token_ref = tenant_secret_refs("cli-corp")

    connect = [
        "connect",
        "--name",
        "CLI move",
        "--ado-url",
        sandbox.ado_url,
        "--ado-project",
        "Phoenix",
        "--ado-team",
        "Phoenix Team",
        "--ado-pat-ref",
        pat_ref,
        "--jira-url",
        sandbox.jira_url,
        "--jira-project",
        "PHX",
        "--jira-email",
        "migrator@example.com",
        "--jira-token-ref",
        token_ref,
    ]
    bad = await cli(*[("plain-secret" if a == pat_ref else a) for a in connect], "--json", code=2)
    assert json.loads(bad.stdout)["status"] == 422 and "pat_ref" in json.loads(bad.stdout)["error"]
    await cli("connect", "--name", "x", code=2)  # missing options: a usage error before any request
    migration = await cli.json(*connect)
    mid = migration["id"]
    assert migration["plan"] == {**migration["plan"], "version": 1, "status": "draft"}

    # run before approval: a conflict
    assert "approve" in json.loads((await cli("run", mid, "--json", code=4)).stdout)["error"]

    # map draft scans and drafts v2; an edit leaves the content phases out (v3); approve it.
    drafted = await cli.json("map", "draft", mid)
    assert drafted["version"] == 2 and drafted["origin"] == "rule" and drafted["plan"]["types"]
    shown = await cli("map", "show", mid)
    assert "User Story" in shown.stdout and "rule" in shown.stdout
    # A Jira value the project lacks is refused, naming it and the choices (exit 2: the API refused the input).
    typo_file = tmp_path / "typo.json"
    typo_file.write_text(json.dumps({**drafted["plan"], "types": {**drafted["plan"]["types"], "User Story": "Tset"}}))
    refused = await cli("map", "edit", mid, "--file", str(typo_file), code=2)
    said = " ".join(refused.output.split())  # the terminal wraps the message
    assert 'no issue type "Tset"' in said and "choose one of: Epic, Story" in said
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps({**drafted["plan"], "skip_phases": ["attachments", "comments"]}))
    edited = await cli.json("map", "edit", mid, "--file", str(plan_file))
    assert edited["version"] == 3 and edited["status"] == "draft"
    await cli("map", "approve", mid, "--version", "2", "--json", code=4)  # only the latest
    approved = await cli.json("map", "approve", mid)
    assert approved["version"] == 3 and approved["approved_by"] == "cli-bot"

    scan = await cli.json("scan", mid, "--no-draft", "--limit", "comments_per_issue=300")
    assert scan["status"] == "COMPLETED" and scan["catalog"]["items_total"] == ITEMS and scan["quote"]["total"] > 0
    preview = await cli.json("preview", mid, "--samples", "1")
    assert preview["status"] == "COMPLETED" and preview["report"]["items_total"] == ITEMS

    # run --watch --json: one JSON line per progress event, then the end; exit 0 as it COMPLETED.
    watched = await cli("run", mid, "--watch", "--json")
    lines = [json.loads(line) for line in watched.stdout.splitlines()]
    assert lines[-1]["event"] == "end" and lines[-1]["status"] == "COMPLETED"
    assert {line["event"] for line in lines[:-1]} == {"progress"} and lines[-2]["status"] == "COMPLETED"
    run_id = lines[-1]["run_id"]

    status = await cli.json("status", run_id)
    assert status["status"] == "COMPLETED" and status["counters"]["create_items"]["total"] == ITEMS
    bars = await cli("status", run_id, "--watch")  # Rich bars; a finished run ends at once
    assert "Create issues" in bars.stdout and "COMPLETED" in bars.stdout
    assert (await cli.json("status", mid))["runs"][0]["id"] == run_id

    conflict = json.loads((await cli("pause", run_id, "--json", code=4)).stdout)
    assert conflict == {"error": f"run {run_id} is COMPLETED: nothing to pause", "status": 409, "exit_code": 4}
    await cli("resume", run_id, code=4)
    await cli("cancel", run_id, code=4)
    await cli("rerun", run_id, code=4)
    await cli("status", "run-does-not-exist", code=3)
    await cli("status", run_id, token="mgt_wrong", code=1)

    audit = await cli.json("audit", "--run", run_id)
    assert ("run_requested", "cli-bot", "cli") in {(e["action"], e["actor"], e["door"]) for e in audit}
    assert any(e["action"] == "plan_approved" for e in await cli.json("audit", "--migration", mid))
    listed = await admin.json("token", "list", "--tenant", "cli-corp", "--admin-token", api.admin_token, token=None)
    assert [t["name"] for t in listed] == ["cli-bot"] and token not in json.dumps(listed)

    # The installed entry point, as a script would call it (token and URL from the environment).
    env = dict(os.environ, MIGRAYT_API_URL=api.url, MIGRAYT_API_TOKEN=token)

    def migrayt(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "migrayt.api.cli", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = await asyncio.to_thread(migrayt, "status", run_id, "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "COMPLETED", done.stderr
    refused = await asyncio.to_thread(migrayt, "pause", run_id)
    assert refused.returncode == 4 and "nothing to pause" in refused.stderr


async def test_cli_needs_no_token_on_the_embedded_default(api):
    from tests.api.conftest import served

    async with served(api.stack, auth="off", tenant="cli-local") as local:
        cli = Cli(local.url, None)
        assert await cli.json("migrations", token=None) == []
        issued = await cli.json(
            "token", "create", "--tenant", "cli-local-2", token=None
        )  # no admin token needed locally
        assert issued["tenant"] == "cli-local-2" and issued["token"].startswith("mgt_")
