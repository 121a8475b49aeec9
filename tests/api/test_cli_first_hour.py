"""The first hour through the real CLI against a served API (issue 16, items 5, 9 and 11): `up --help`,
`connect` with the secrets at a hidden prompt, the audit door `cli`, and no run while the preview says no."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from migrayt.api.cli import app
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN
from migrayt.sandbox.testing import running_sandbox
from tests.api.helpers import migration_body, poll
from tests.api.test_migration_from_connections import api_and_worker  # noqa: F401 (fixture)

ITEMS, SEED = 8, 13


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED) as server:
        yield server


async def migrayt(*args: str, input: str | None = None, code: int = 0, env: dict | None = None):
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), input=input, env=env)
    assert result.exit_code == code, (
        f"migrayt {' '.join(args)} → {result.exit_code}: {result.output}\n{result.exception!r}"
    )
    return result


async def test_up_help_lists_its_options_as_flags_and_variables():
    shown = (await migrayt("up", "--help", env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})).output
    for flag, variable in (
        ("--api-port", "MIGRAYT_API_PORT"),
        ("--api-host", "MIGRAYT_API_HOST"),
        ("--temporal-port", "MIGRAYT_TEMPORAL_PORT"),
        ("--temporal-ui-port", "MIGRAYT_TEMPORAL_UI_PORT"),
        ("--state-dir", "MIGRAYT_STATE_DIR"),
        ("--auth", "MIGRAYT_AUTH"),
    ):
        assert flag in shown and variable in shown, (flag, shown)


async def test_connect_takes_secrets_at_a_hidden_prompt_saves_them_sealed_and_audits_door_cli(
    api_and_worker,  # noqa: F811 (the fixture imported above)
    sandbox,
    monkeypatch,
):
    api = api_and_worker
    token = await api.issue_token("prompt-corp", name="cli-user")
    for name in ("MIGRAYT_ADO_PAT", "MIGRAYT_JIRA_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    connect = [
        "connect",
        "--name",
        "Prompted",
        "--ado-url",
        sandbox.ado_url,
        "--ado-project",
        "Phoenix",
        "--jira-url",
        sandbox.jira_url,
        "--jira-email",
        DEFAULT_JIRA_EMAIL,
        "--jira-project",
        "PHX",
        "--approve",
        "--api-url",
        api.url,
        "--token",
        token,
    ]
    # Half given: a reference the worker resolves cannot be mixed with a prompted secret.
    await migrayt(*connect, "--ado-pat-ref", "env:ADO_PAT", code=2)
    done = await migrayt(*connect, "--json", input=f"{DEFAULT_ADO_PAT}\n{DEFAULT_JIRA_TOKEN}\n")
    assert DEFAULT_ADO_PAT not in done.output and DEFAULT_JIRA_TOKEN not in done.output  # hidden: never echoed
    migration = json.loads(done.stdout.strip().splitlines()[-1])
    mid = migration["id"]
    async with api.client(token) as http:
        saved = (await http.get("/api/connections")).json()
        assert sorted(c["kind"] for c in saved) == ["ado", "jira_cloud"]
        assert all(c["secret_hint"] == "saved" for c in saved)
        # The worker opens the sealed secrets: the scan reads the ADO project through the saved connection.
        scanned = json.loads(
            (await migrayt("scan", mid, "--no-draft", "--json", "--api-url", api.url, "--token", token)).stdout
        )
        assert scanned["status"] == "COMPLETED" and scanned["catalog"]["items_total"] == ITEMS
        # A header naming another door is not believed: recorded as the API.
        r = await http.post(f"/api/migrations/{mid}/previews", json={"samples": 1}, headers={"X-Migrayt-Door": "web"})
        assert r.status_code == 202, r.text
        events = (await http.get("/api/audit", params={"migration_id": mid})).json()
    doors = {(e["action"], e["door"]) for e in events}
    assert {("migration_created", "cli"), ("scan_requested", "cli"), ("preview_requested", "api")} <= doors, doors
    assert "web" not in {door for _, door in doors}


async def test_no_checkout_and_no_run_while_the_preview_says_the_run_would_not_start(api_and_worker, sandbox):  # noqa: F811
    api = api_and_worker
    token = await api.issue_token("verdict-corp", name="verdict")
    body = migration_body(sandbox, "verdict-corp", approve=True)
    body["plan"]["types"]["User Story"] = "Tset"  # no such issue type in PHX
    async with api.client(token) as http:
        r = await http.post("/api/migrations", json=body)
        assert r.status_code == 201, r.text
        mid = r.json()["id"]
        r = await http.post(f"/api/migrations/{mid}/previews", json={"samples": 1})
        preview = await poll(http, f"/api/previews/{r.json()['preview_id']}", lambda p: p["status"] != "RUNNING")
        assert preview["status"] == "COMPLETED" and preview["report"]["would_start"] is False
        for path in (f"/api/migrations/{mid}/checkout", f"/api/migrations/{mid}/runs"):
            r = await http.post(path)
            assert r.status_code == 409, (path, r.text)
            assert "would not start" in r.json()["detail"] and "'Tset'" in r.json()["detail"], (path, r.text)
        refused = await migrayt("run", mid, "--api-url", api.url, "--token", token, code=4)
        assert "would not start" in " ".join(refused.output.split()) and "Tset" in refused.output
        assert (await http.get(f"/api/migrations/{mid}/runs")).json() == []
