"""Users through the real CLI and the API (issue 16, item 2): `map show` lists every ADO user with its match,
`map edit --user` takes a Jira e-mail and stores the accountId, and the API searches the site's users."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from migrayt.api.cli import app
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.server import jira_account_id
from migrayt.sandbox.testing import running_sandbox
from tests.api.helpers import migration_body
from tests.api.test_migration_from_connections import api_and_worker  # noqa: F401 (fixture)

ITEMS, SEED = 8, 13
TENANT = "users-corp"


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED) as server:
        yield server


async def migrayt(*args: str, code: int = 0):
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == code, f"migrayt {' '.join(args)} → {result.exit_code}: {result.output}"
    return result


async def test_map_show_lists_users_and_map_edit_takes_an_email(api_and_worker, sandbox):  # noqa: F811
    api = api_and_worker
    token = await api.issue_token(TENANT, name="users")
    project = GeneratedProject(ProjectSpec(seed=SEED, items=ITEMS))
    someone = next(u for u in project.users if u.in_jira and not u.deleted and u.email and u.jira_email_visible)
    async with api.client(token) as http:
        r = await http.post("/api/migrations", json=migration_body(sandbox, TENANT))
        assert r.status_code == 201, r.text
        mid = r.json()["id"]
        # The picker's search: the Jira site's users by name, through the API with the migration's connection.
        found = (await http.get(f"/api/migrations/{mid}/jira-users", params={"query": "Ines"})).json()
        assert [u["display_name"] for u in found] == ["Ines Corbeau"]
        assert found[0]["account_id"] == jira_account_id("INES-LAPTOP\\ines")
    cli = ("--api-url", api.url, "--token", token)

    shown = " ".join((await migrayt("map", "show", mid, *cli)).output.split())
    assert "Users" in shown and "morgan.ellery@partner-agency.example" in shown
    assert "unmatched" in shown and "by e-mail" in shown and "users:" in shown
    listed = json.loads((await migrayt("map", "show", mid, "--json", *cli)).stdout)["users"]["users"]
    assert {u["ado_user"]: u["matched"] for u in listed}["ines-laptop\\ines"] == "unmatched"

    # An e-mail no Jira user has: a clear refusal, nothing saved.
    refused = await migrayt("map", "edit", mid, "--user", "ines-laptop\\ines=no.one@nowhere.example", *cli, code=2)
    assert "no Jira user has the e-mail no.one@nowhere.example" in " ".join(refused.output.split())

    edited = await migrayt(
        "map",
        "edit",
        mid,
        "--user",
        f"INES-LAPTOP\\ines={someone.email}",
        "--fallback-user",
        someone.email,
        "--json",
        *cli,
    )
    plan = json.loads(edited.stdout)["plan"]
    assert plan["users"] == {"ines-laptop\\ines": jira_account_id(someone.unique_name)}  # the accountId, not the e-mail
    assert plan["fallback_user_email"] == someone.email
    listed = json.loads((await migrayt("map", "show", mid, "--json", *cli)).stdout)["users"]["users"]
    matched = {u["ado_user"]: u["matched"] for u in listed}
    assert matched["ines-laptop\\ines"] == "picked"
    assert matched["morgan.ellery@partner-agency.example"] == "fallback"
    # Jira accounts by name and e-mail, as the web app shows them: an accountId says nothing to a person.
    shown = " ".join((await migrayt("map", "show", mid, *cli)).output.split())
    assert f"{someone.display_name} <{someone.email}>" in shown
    assert jira_account_id(someone.unique_name) not in shown
