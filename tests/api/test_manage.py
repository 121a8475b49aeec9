"""Manage what you made, through the API and the CLI: rename and delete a migration (refused while a run is RUNNING
or PAUSED), delete a saved connection (refused, naming the migrations that use it) and rotate its secret (tested
first; a failing one leaves the old in place). Each action is audited with its door; another tenant gets 404."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_TOKEN
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord, Migration, Run, StoredConnection
from migrayt.store.savepoints import folder as savepoint_folder
from tests.api.helpers import migration_body, poll
from tests.api.test_cli import Cli
from tests.api.test_migration_from_connections import save_connections
from tests.integration.harness import ISSUE_CREATES, hold_jira, release_jira, wait_until_held

TENANT, OTHER = "manage-corp", "manage-other"
FINAL = {"COMPLETED", "INCOMPLETE", "FAILED", "CANCELLED", "COMPLETED_WITH_ACCEPTED_EXCEPTIONS"}


@pytest.fixture
def sandbox():
    with running_sandbox(items=60, seed=31) as server:
        yield server


async def audit_actions(http, migration_id: str | None = None) -> list[tuple[str, str]]:
    params = {"migration_id": migration_id} if migration_id else {}
    return [(e["action"], e["door"]) for e in (await http.get("/api/audit", params=params)).json()]


async def test_rename_and_delete_a_migration_refused_while_its_run_is_running_or_paused(api, worker, sandbox):
    token, other = await api.issue_token(TENANT), await api.issue_token(OTHER)
    async with api.client(token) as http, api.client(other) as intruder:
        r = await http.post("/api/migrations", json=migration_body(sandbox, TENANT, name="Phoenix", approve=True))
        assert r.status_code == 201, r.text
        mid = r.json()["id"]

        # Rename: seen in the list, audited; another tenant cannot rename it, nor learn it exists.
        r = await http.patch(f"/api/migrations/{mid}", json={"name": "Phoenix (final cutover)"})
        assert r.status_code == 200 and r.json()["name"] == "Phoenix (final cutover)", r.text
        assert [m["name"] for m in (await http.get("/api/migrations")).json()] == ["Phoenix (final cutover)"]
        assert (await intruder.patch(f"/api/migrations/{mid}", json={"name": "mine"})).status_code == 404
        assert (await http.patch(f"/api/migrations/{mid}", json={"name": ""})).status_code == 422
        assert (await http.patch(f"/api/migrations/{mid}", json={"name": "x" * 201})).status_code == 422

        # A RUNNING run: held at its first bulk create, so it is still running when the delete comes.
        await hold_jira(sandbox, ISSUE_CREATES)
        run_id = (await http.post(f"/api/migrations/{mid}/runs")).json()["run_id"]
        await wait_until_held(sandbox)
        r = await http.delete(f"/api/migrations/{mid}")
        assert r.status_code == 409, r.text
        assert f"RUNNING run {run_id}" in r.json()["detail"] and "cancel it" in r.json()["detail"]

        # PAUSED is active too: a paused run is resumed later, into a migration that must still be there.
        assert (await http.post(f"/api/migrations/{run_id}/pause")).status_code == 202
        await release_jira(sandbox)
        await poll(http, f"/api/migrations/{run_id}", lambda b: b["status"] == "PAUSED")
        r = await http.delete(f"/api/migrations/{mid}")
        assert r.status_code == 409 and f"PAUSED run {run_id}" in r.json()["detail"], r.text
        assert (await intruder.delete(f"/api/migrations/{mid}")).status_code == 404
        assert (await http.get(f"/api/migrations/{mid}")).status_code == 200  # nothing changed

        assert (await http.post(f"/api/migrations/{run_id}/cancel")).status_code == 202
        await poll(http, f"/api/migrations/{run_id}", lambda b: b["status"] in FINAL)
        assert (await intruder.delete(f"/api/migrations/{mid}")).status_code == 404
        kept = (await http.get(f"/api/runs/{run_id}/savepoints")).json()
        assert kept, "the paused run wrote a savepoint"
        r = await http.delete(f"/api/migrations/{mid}")
        assert r.status_code == 204, r.text
        # Its savepoints held its item records: they go too.
        assert not (savepoint_folder(api.stack.settings) / run_id).exists()

        # Gone from every list and every read; its audit trail stays and ends with the deletion.
        assert (await http.get("/api/migrations")).json() == []
        assert (await http.get(f"/api/migrations/{mid}")).status_code == 404
        assert (await http.get(f"/api/migrations/{run_id}")).status_code == 404
        assert (await http.delete(f"/api/migrations/{mid}")).status_code == 404
        actions = await audit_actions(http, mid)
        assert ("migration_renamed", "api") in actions and actions[-1] == ("migration_deleted", "api"), actions
        async with api.stack.service.sessions() as session:
            assert await session.get(Migration, mid) is None
            assert list(await session.scalars(select(Run.id).where(Run.migration_id == mid))) == []
            assert list(await session.scalars(select(ItemRecord.id).where(ItemRecord.migration_id == mid))) == []


async def test_delete_a_connection_refused_while_used_and_rotate_its_secret_after_a_test(api, sandbox):
    token, other = await api.issue_token(TENANT + "-conn"), await api.issue_token(OTHER + "-conn")
    async with api.client(token) as http, api.client(other) as intruder:
        ado_id, jira_id = await save_connections(http, sandbox)
        r = await http.post(
            "/api/migrations",
            json={
                "name": "From saved",
                "source_connection_id": ado_id,
                "target_connection_id": jira_id,
                "project_key": "PHX",
            },
        )
        assert r.status_code == 201, r.text
        mid = r.json()["id"]

        # In use: refused, naming the migration; nothing deleted.
        for conn in (ado_id, jira_id):
            r = await http.delete(f"/api/connections/{conn}")
            assert r.status_code == 409, r.text
            assert f'is used by 1 migration: "From saved" ({mid}); delete it first' in r.json()["detail"]
            assert (await intruder.delete(f"/api/connections/{conn}")).status_code == 404
        assert {c["id"] for c in (await http.get("/api/connections")).json()} == {ado_id, jira_id}

        async with api.stack.service.sessions() as session:
            before = (await session.get(StoredConnection, jira_id)).secret_encrypted
            target_before = (await session.get(Migration, mid)).target["token_ref"]
        assert target_before == f"sealed:{before}"

        # A secret that fails its test call replaces nothing.
        r = await http.put(f"/api/connections/{jira_id}/secret", json={"secret": "revoked-or-mistyped-token"})
        assert r.status_code == 400, r.text
        assert "the old one stays" in r.json()["detail"] and "refused" in r.json()["detail"]
        assert "revoked-or-mistyped" not in r.text
        assert (await intruder.put(f"/api/connections/{jira_id}/secret", json={"secret": "x"})).status_code == 404
        async with api.stack.service.sessions() as session:
            assert (await session.get(StoredConnection, jira_id)).secret_encrypted == before
            assert (await session.get(Migration, mid)).target["token_ref"] == target_before

        # A secret that passes: sealed anew, and the migration made from the connection uses it too.
        r = await http.put(f"/api/connections/{jira_id}/secret", json={"secret": DEFAULT_JIRA_TOKEN})
        assert r.status_code == 200, r.text
        assert r.json()["migrations_updated"] == [mid] and DEFAULT_JIRA_TOKEN not in r.text
        assert r.json()["connection"]["secret_hint"] == "saved" and DEFAULT_JIRA_TOKEN[-4:] not in r.text
        async with api.stack.service.sessions() as session:
            after = (await session.get(StoredConnection, jira_id)).secret_encrypted
            assert after != before
            assert (await session.get(Migration, mid)).target["token_ref"] == f"sealed:{after}"
        r = await http.put(f"/api/connections/{ado_id}/secret", json={"secret": DEFAULT_ADO_PAT})
        assert r.status_code == 200 and r.json()["migrations_updated"] == [mid], r.text

        # Still in use after the rotation (the migration follows the connection); free once the migration is gone.
        assert (await http.delete(f"/api/connections/{jira_id}")).status_code == 409
        assert (await http.delete(f"/api/migrations/{mid}")).status_code == 204
        for conn in (ado_id, jira_id):
            assert (await http.delete(f"/api/connections/{conn}")).status_code == 204
            assert (await http.get(f"/api/connections/{conn}")).status_code == 404
        assert (await http.get("/api/connections")).json() == []
        actions = await audit_actions(http)
        assert actions.count(("connection_secret_rotated", "api")) == 2
        assert actions.count(("connection_deleted", "api")) == 2


async def test_the_cli_renames_deletes_and_rotates_with_door_cli(api, sandbox, monkeypatch):
    token = await api.issue_token(TENANT + "-cli")
    cli = Cli(api.url, token)
    async with api.client(token) as http:
        ado_id, jira_id = await save_connections(http, sandbox)
    made = await cli.json(
        "connect", "--name", "Saved", "--jira-project", "PHX", "--source-connection", ado_id,
        "--target-connection", jira_id,
    )  # fmt: skip
    mid = made["id"]

    renamed = await cli.json("migration", "rename", mid, "Saved (renamed)")
    assert renamed["name"] == "Saved (renamed)"
    assert [m["name"] for m in await cli.json("migrations")] == ["Saved (renamed)"]

    refused = json.loads((await cli("connection", "delete", jira_id, "--json", code=4)).stdout)
    assert f'1 migration: "Saved (renamed)" ({mid})' in refused["error"] and refused["status"] == 409

    # The new secret from the environment (or a hidden prompt), never from an argument.
    monkeypatch.setenv("MIGRAYT_JIRA_TOKEN", "wrong-token")
    failed = await cli("connection", "rotate", jira_id, "--json", code=2)
    assert "the old one stays" in json.loads(failed.stdout)["error"] and "wrong-token" not in failed.output
    monkeypatch.setenv("MIGRAYT_JIRA_TOKEN", DEFAULT_JIRA_TOKEN)
    rotated = await cli.json("connection", "rotate", jira_id)
    assert rotated["migrations_updated"] == [mid]

    await cli("migration", "delete", mid, code=1)  # asks to confirm; none given: nothing deleted
    assert (await cli.json("status", mid))["id"] == mid
    await cli("migration", "delete", mid, "--yes")
    await cli("status", mid, code=3)
    await cli("connection", "delete", jira_id)
    async with api.client(token) as http:
        actions = await audit_actions(http)
    for action in ("migration_renamed", "connection_secret_rotated", "migration_deleted", "connection_deleted"):
        assert (action, "cli") in actions, actions
