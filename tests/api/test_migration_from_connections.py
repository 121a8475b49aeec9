"""POST /api/migrations from two saved, tested connections (the web app's way) — for scripts too.

The migration really runs on the sealed secrets; another tenant's connection ids are a 404 (ids do
not leak); malformed or mixed bodies are a 422 that says what is wrong, and create nothing.
"""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN
from migrayt.sandbox.testing import running_sandbox
from migrayt.settings import get_settings
from migrayt.worker.main import run_worker
from tests.api.conftest import ADMIN_TOKEN, served
from tests.api.helpers import poll
from tests.integration.harness import jira_issues, structure_only_plan

ITEMS, SEED = 15, 23
FINAL = {"COMPLETED", "INCOMPLETE", "FAILED", "CANCELLED"}


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED) as server:
        yield server


async def save_connections(http, sandbox) -> tuple[str, str]:
    ado = await http.post(
        "/api/connections",
        json={
            "kind": "ado",
            "name": "ado",
            "organization_url": sandbox.ado_url,
            "project": "Phoenix",
            "pat": DEFAULT_ADO_PAT,
        },
    )
    jira = await http.post(
        "/api/connections",
        json={
            "kind": "jira_cloud",
            "name": "jira",
            "site_url": sandbox.jira_url,
            "email": DEFAULT_JIRA_EMAIL,
            "api_token": DEFAULT_JIRA_TOKEN,
        },
    )
    assert ado.status_code == 201 and jira.status_code == 201, (ado.text, jira.text)
    return ado.json()["id"], jira.json()["id"]


@pytest.fixture
async def api_and_worker(stack, monkeypatch):
    """The API and a worker sharing one MIGRAYT_SECRET_KEY, as a deployment does: the worker unseals
    saved connections' secrets with its process settings' key."""
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("MIGRAYT_SECRET_KEY", key)
    get_settings.cache_clear()
    overrides = dict(auth="on", admin_token=SecretStr(ADMIN_TOKEN), secret_key=SecretStr(key))
    try:
        async with (
            served(stack, **overrides) as api,
            run_worker(stack.settings.model_copy(update=overrides), stack.client, stack.database_url),
        ):
            yield api
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


async def test_a_script_creates_and_runs_a_migration_from_saved_connections(api_and_worker, sandbox):
    api = api_and_worker
    token = await api.issue_token("saved-conn-corp", name="script")
    other = await api.issue_token("saved-conn-other", name="intruder")
    async with api.client(token) as http, api.client(other) as intruder:
        ado_id, jira_id = await save_connections(http, sandbox)
        body = {
            "name": "Phoenix from saved",
            "source_connection_id": ado_id,
            "target_connection_id": jira_id,
            "project_key": "PHX",
            "plan": structure_only_plan().model_dump(mode="json"),
            "approve_plan": True,
        }

        # Another tenant naming these ids learns nothing: 404, and nothing is created for anyone.
        for swap in ({}, {"target_connection_id": "conn-does-not-exist"}):
            r = await intruder.post("/api/migrations", json={**body, **swap})
            assert r.status_code == 404 and "not found" in r.json()["detail"], r.text
        r = await intruder.post("/api/migrations", json={**body, "source_connection_id": "conn-nope"})
        assert r.status_code == 404 and "conn-nope" in r.json()["detail"]

        # Bad input: a 4xx naming the problem, never a 500.
        bad_bodies = {
            "project_key": {**body, "project_key": "phx lower"},
            "source_connection_id": {k: v for k, v in body.items() if k != "source_connection_id"},
            "project_key ": {k: v for k, v in body.items() if k != "project_key"},
            "source": {**body, "source": {"organization_url": sandbox.ado_url}},  # half of each shape
            "a JSON object": ["not", "an", "object"],
            "target_connection_id": {**body, "target_connection_id": "bad id!"},
        }
        for field, bad in bad_bodies.items():
            r = await http.post("/api/migrations", json=bad)
            assert r.status_code == 422 and field.strip() in r.text, (field, r.status_code, r.text)
        # The tenant's own connection, of the wrong kind: a 422 that says so.
        r = await http.post("/api/migrations", json={**body, "source_connection_id": jira_id})
        assert r.status_code == 422 and "jira_cloud" in r.json()["detail"] and "ado" in r.json()["detail"]
        assert (await http.get("/api/migrations")).json() == []
        assert (await intruder.get("/api/migrations")).json() == []

        r = await http.post("/api/migrations", json=body)
        assert r.status_code == 201, r.text
        migration = r.json()
        assert migration["name"] == "Phoenix from saved" and migration["plan"]["status"] == "approved"
        assert migration["source"]["project"] == "Phoenix" and migration["target"]["project_key"] == "PHX"
        assert DEFAULT_ADO_PAT not in r.text and DEFAULT_JIRA_TOKEN not in r.text
        # The sealed secrets are not handed out either, not even encrypted.
        assert migration["source"]["pat_ref"] == "sealed" and migration["target"]["token_ref"] == "sealed"
        assert "sealed:" not in r.text and "sealed:" not in (await http.get(f"/api/migrations/{migration['id']}")).text
        assert (await intruder.get(f"/api/migrations/{migration['id']}")).status_code == 404

        # The worker reads the sealed secrets: the run moves every item.
        r = await http.post(f"/api/migrations/{migration['id']}/runs")
        assert r.status_code == 202, r.text
        final = await poll(http, f"/api/migrations/{r.json()['run_id']}", lambda p: p["status"] in FINAL)
        assert final["status"] == "COMPLETED", final
        assert final["counters"]["create_items"]["created"] == ITEMS
        assert len(await jira_issues(sandbox)) == ITEMS

        # A draft by default, as from the web app: review before running.
        r = await http.post(
            "/api/migrations",
            json={k: v for k, v in body.items() if k not in ("plan", "approve_plan")} | {"name": "draft"},
        )
        assert r.status_code == 201 and r.json()["plan"]["status"] == "draft", r.text


async def test_the_cli_saves_connections_and_creates_a_migration_from_them(api_and_worker, sandbox):
    import asyncio
    import json

    from typer.testing import CliRunner

    from migrayt.api.cli import app

    api = api_and_worker
    token = await api.issue_token("saved-conn-cli", name="cli")
    runner = CliRunner()

    async def migrayt(*args: str, code: int = 0, env: dict | None = None):
        result = await asyncio.to_thread(
            runner.invoke, app, [*args, "--api-url", api.url, "--token", token, "--json"], env=env
        )
        assert result.exit_code == code, f"migrayt {' '.join(args)} → {result.exit_code}: {result.output}"
        return json.loads(result.stdout.strip().splitlines()[-1])

    # Secrets through the environment, never on the command line; never printed back.
    ado = await migrayt(
        "connection",
        "add-ado",
        "--name",
        "ado",
        "--url",
        sandbox.ado_url,
        "--project",
        "Phoenix",
        env={"MIGRAYT_ADO_PAT": DEFAULT_ADO_PAT},
    )
    jira = await migrayt(
        "connection",
        "add-jira",
        "--name",
        "jira",
        "--url",
        sandbox.jira_url,
        "--email",
        DEFAULT_JIRA_EMAIL,
        env={"MIGRAYT_JIRA_TOKEN": DEFAULT_JIRA_TOKEN},
    )
    assert ado["kind"] == "ado" and jira["kind"] == "jira_cloud" and DEFAULT_ADO_PAT not in json.dumps([ado, jira])
    wrong = await migrayt(
        "connection",
        "add-ado",
        "--name",
        "bad",
        "--url",
        sandbox.ado_url,
        "--project",
        "Nope",
        env={"MIGRAYT_ADO_PAT": DEFAULT_ADO_PAT},
        code=2,
    )
    assert wrong["status"] == 400 and "Nope" in wrong["error"]
    assert {c["id"] for c in await migrayt("connection", "list")} == {ado["id"], jira["id"]}

    created = await migrayt(
        "connect",
        "--name",
        "from saved",
        "--jira-project",
        "PHX",
        "--source-connection",
        ado["id"],
        "--target-connection",
        jira["id"],
    )
    assert (
        created["plan"]["status"] == "draft"
        and created["source"]["project"] == "Phoenix"
        and created["target"]["project_key"] == "PHX"
    )
    # Usage errors before any request, with exit code 2; an unknown id is a 404 → exit 3.
    half = await migrayt("connect", "--name", "x", "--jira-project", "PHX", "--source-connection", ado["id"], code=2)
    assert "--target-connection" in half["error"]
    mixed = await migrayt(
        "connect",
        "--name",
        "x",
        "--jira-project",
        "PHX",
        "--source-connection",
        ado["id"],
        "--target-connection",
        jira["id"],
        "--jira-url",
        sandbox.jira_url,
        code=2,
    )
    assert "--jira-url" in mixed["error"]
    missing = await migrayt("connect", "--name", "x", "--jira-project", "PHX", "--ado-url", sandbox.ado_url, code=2)
    assert (
        "--ado-project" in missing["error"] and "--jira-url" in missing["error"]
    )  # the refs may be left out: prompted
    gone = await migrayt(
        "connect",
        "--name",
        "x",
        "--jira-project",
        "PHX",
        "--source-connection",
        "conn-nope",
        "--target-connection",
        jira["id"],
        code=3,
    )
    assert gone["status"] == 404
    assert [m["id"] for m in await migrayt("migrations")] == [created["id"]]
