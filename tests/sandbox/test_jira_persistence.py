"""Sandbox Jira state survives a restart when it has a state dir; keys keep increasing."""

from __future__ import annotations

from pathlib import Path

from jira_support import create, doc, jira

from migrayt.sandbox.jira.app import JiraSandboxConfig

XSRF = {"X-Atlassian-Token": "no-check"}


async def test_state_survives_recreating_the_app(tmp_path: Path) -> None:
    config = JiraSandboxConfig(state_dir=tmp_path)
    async with jira(config) as (client, _):
        epic = await create(client, "epic", "Epic", labels=["ado-id-1"])
        story = await create(client, "story", "Story", parent={"key": epic}, labels=["ado-id-2"])
        doomed = await create(client, "deleted later", labels=["ado-id-3"])
        await client.post(f"/rest/api/3/issue/{story}/comment", json={"body": doc("first")})
        await client.post(
            f"/rest/api/3/issue/{story}/attachments", headers=XSRF, files={"file": ("a.bin", b"\x00\x01persisted")}
        )
        await client.post(
            "/rest/api/3/issueLink",
            json={"type": {"name": "Relates"}, "inwardIssue": {"key": epic}, "outwardIssue": {"key": story}},
        )
        tid = {
            t["to"]["name"]: t["id"]
            for t in (await client.get(f"/rest/api/3/issue/{story}/transitions")).json()["transitions"]
        }["In Progress"]
        await client.post(f"/rest/api/3/issue/{story}/transitions", json={"transition": {"id": tid}})
        await client.put(f"/rest/api/3/issue/{story}/properties/src", json={"ado": 2})
        sprint = (await client.post("/rest/agile/1.0/sprint", json={"name": "S1", "originBoardId": 1})).json()["id"]
        await client.post(f"/rest/agile/1.0/sprint/{sprint}/issue", json={"issues": [story]})
        assert (await client.delete(f"/rest/api/3/issue/{doomed}")).status_code == 204
        before = (await client.get("/_sandbox/state/issues")).json()

    async with jira(config) as (client, _):
        after = (await client.get("/_sandbox/state/issues")).json()
        assert after == before
        got = (await client.get(f"/rest/api/3/issue/{story}")).json()["fields"]
        assert got["status"]["name"] == "In Progress" and got["parent"]["key"] == epic
        att = got["attachment"][0]["id"]
        content = await client.get(f"/rest/api/3/attachment/content/{att}", follow_redirects=True)
        assert content.content == b"\x00\x01persisted"
        r = await client.post("/rest/api/3/search/jql", json={"jql": "labels = ado-id-2"})
        assert [i["id"] for i in r.json()["issues"]] == [got["parent"]["id"]][:0] + [r.json()["issues"][0]["id"]]
        assert r.json()["issues"][0]["key"] == story
        # the deleted issue's key is not handed out again
        assert await create(client, "after restart") == "PHX-4"
        assert (await client.post("/_sandbox/reset")).status_code == 204

    async with jira(config) as (client, _):
        assert (await client.get("/_sandbox/state")).json()["issues"]["total"] == 0


async def test_without_state_dir_nothing_is_written(tmp_path: Path) -> None:
    async with jira() as (client, app):
        await create(client, "ephemeral")
        assert app.state.jira.store.durable is False
