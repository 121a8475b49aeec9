"""The sandbox Jira workflow: only transitions available from the current status succeed."""

from __future__ import annotations

from jira_support import create, jira


async def _status(client, key: str) -> str:
    return (await client.get(f"/rest/api/3/issue/{key}", params={"fields": "status"})).json()["fields"]["status"][
        "name"
    ]


async def _available(client, key: str) -> dict[str, str]:
    r = await client.get(f"/rest/api/3/issue/{key}/transitions")
    return {t["to"]["name"]: t["id"] for t in r.json()["transitions"]}


async def test_done_is_not_one_step_from_to_do() -> None:
    async with jira() as (client, _):
        key = await create(client, "walk me", "Story")
        assert set(await _available(client, key)) == {"In Progress"}
        # the Done transition id exists in the workflow but is not available from To Do
        r = await client.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": "31"}})
        assert r.status_code == 400 and r.json()["errorMessages"]
        assert await _status(client, key) == "To Do"


async def test_walking_the_workflow_reaches_done_and_reopen_goes_back() -> None:
    async with jira() as (client, _):
        key = await create(client, "walk me", "Task")
        for target in ("In Progress", "In Review", "Done"):
            tid = (await _available(client, key))[target]
            r = await client.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": tid}})
            assert r.status_code == 204
            assert await _status(client, key) == target
        done = (await client.get(f"/rest/api/3/issue/{key}")).json()["fields"]["status"]
        assert done["statusCategory"]["key"] == "done"
        assert set(await _available(client, key)) == {"To Do"}
        state = (await client.get("/_sandbox/state")).json()
        assert state["issues"]["by_status"] == {"Done": 1}


async def test_only_bugs_can_be_closed_as_wont_fix() -> None:
    async with jira() as (client, _):
        bug = await create(client, "bug", "Bug", priority={"name": "Low"})
        task = await create(client, "task", "Task")
        for key in (bug, task):
            tid = (await _available(client, key))["In Progress"]
            await client.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": tid}})
        assert set(await _available(client, bug)) == {"To Do", "In Review", "Won't Fix"}
        assert set(await _available(client, task)) == {"To Do", "In Review"}
        r = await client.post(f"/rest/api/3/issue/{task}/transitions", json={"transition": {"id": "71"}})
        assert r.status_code == 400


async def test_transition_without_id_or_on_missing_issue() -> None:
    async with jira() as (client, _):
        key = await create(client, "x")
        assert (await client.post(f"/rest/api/3/issue/{key}/transitions", json={})).status_code == 400
        r = await client.post("/rest/api/3/issue/PHX-99/transitions", json={"transition": {"id": "11"}})
        assert r.status_code == 404
