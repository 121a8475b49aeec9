"""JQL search on the sandbox Jira: the supported language, nextPageToken paging and index lag."""

from __future__ import annotations

from jira_support import create, issue_body, jira

from migrayt.sandbox.fault_config import FaultConfig


async def _keys(client, jql: str, **extra) -> list[str]:
    r = await client.post("/rest/api/3/search/jql", json={"jql": jql, "fields": ["summary"], **extra})
    assert r.status_code == 200, r.text
    return [i["key"] for i in r.json()["issues"]]


async def _seed(client) -> None:
    epic = await create(client, "epic", "Epic", labels=["ado-id-1"])
    await create(client, "story a", "Story", parent={"key": epic}, labels=["ado-id-2", "team-a"])
    await create(client, "story b", "Story", parent={"key": epic}, labels=["ado-id-3"])
    await create(client, "bug", "Bug", priority={"name": "High"}, labels=["ado-id-4", "team-a"])
    await create(client, "task", "Task", labels=["ado-id-5"])


async def test_jql_clauses_and_ordering() -> None:
    async with jira() as (client, _):
        await _seed(client)
        assert await _keys(client, "project = PHX ORDER BY key ASC") == ["PHX-1", "PHX-2", "PHX-3", "PHX-4", "PHX-5"]
        assert await _keys(client, "project = PHX ORDER BY key DESC") == ["PHX-5", "PHX-4", "PHX-3", "PHX-2", "PHX-1"]
        assert await _keys(client, "labels = team-a ORDER BY key") == ["PHX-2", "PHX-4"]
        assert await _keys(client, 'labels in ("ado-id-3", ado-id-5) ORDER BY key') == ["PHX-3", "PHX-5"]
        assert await _keys(client, "key in (PHX-1, PHX-4) ORDER BY key") == ["PHX-1", "PHX-4"]
        assert await _keys(client, "issuetype = Story ORDER BY key") == ["PHX-2", "PHX-3"]
        assert await _keys(client, "issuetype in (Bug, Epic) ORDER BY key") == ["PHX-1", "PHX-4"]
        assert await _keys(client, "parent = PHX-1 ORDER BY key") == ["PHX-2", "PHX-3"]
        assert await _keys(client, 'status = "To Do" AND labels = ado-id-5') == ["PHX-5"]
        assert await _keys(client, "project = PHX AND (labels = ado-id-1 OR issuetype = Task) ORDER BY key") == [
            "PHX-1",
            "PHX-5",
        ]
        assert await _keys(client, "labels = team-a AND NOT issuetype = Bug") == ["PHX-2"]
        assert await _keys(client, "labels = nobody-has-this") == []
        assert await _keys(client, "project = PHX ORDER BY created DESC") == [
            "PHX-5",
            "PHX-4",
            "PHX-3",
            "PHX-2",
            "PHX-1",
        ]


async def test_bad_queries_are_400_with_jira_messages() -> None:
    async with jira() as (client, _):
        await _seed(client)
        for jql in (
            "",
            "ORDER BY key",
            "project = ",
            "labels = (a",
            "frobnicate = 1",
            "project = NOPE",
            "issuetype = Feature",
            "key in (PHX-99)",
            "project = PHX ORDER BY frob",
        ):
            r = await client.post("/rest/api/3/search/jql", json={"jql": jql})
            assert r.status_code == 400, jql
            assert r.json()["errorMessages"], jql


async def test_next_page_token_pages_through_everything_once() -> None:
    async with jira() as (client, _):
        for start in range(0, 120, 50):
            batch = [issue_body(f"n{i}", labels=["bulk"]) for i in range(start, min(start + 50, 120))]
            assert (await client.post("/rest/api/3/issue/bulk", json={"issueUpdates": batch})).status_code == 201
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            body = {"jql": "labels = bulk ORDER BY key", "maxResults": 50, "fields": ["summary"]}
            if token:
                body["nextPageToken"] = token
            r = (await client.post("/rest/api/3/search/jql", json=body)).json()
            pages += 1
            seen += [i["key"] for i in r["issues"]]
            if r["isLast"]:
                assert "nextPageToken" not in r
                break
            token = r["nextPageToken"]
        assert pages == 3
        assert seen == [f"PHX-{n}" for n in range(1, 121)]
        capped = (
            await client.post(
                "/rest/api/3/search/jql", json={"jql": "labels = bulk", "maxResults": 500, "fields": ["summary"]}
            )
        ).json()
        assert len(capped["issues"]) == 100
        r = await client.post("/rest/api/3/search/jql", json={"jql": "labels = other", "nextPageToken": token})
        assert r.status_code == 400


async def test_get_search_defaults_to_ids_only() -> None:
    async with jira() as (client, _):
        await _seed(client)
        r = await client.get("/rest/api/3/search/jql", params={"jql": "labels = team-a ORDER BY key"})
        issues = r.json()["issues"]
        assert [i["id"] for i in issues] == ["10002", "10004"]
        assert all(i["fields"] == {} for i in issues)
        r = await client.get(
            "/rest/api/3/search/jql", params={"jql": "labels = team-a ORDER BY key", "fields": "summary,labels"}
        )
        assert r.json()["issues"][0]["fields"] == {"summary": "story a", "labels": ["ado-id-2", "team-a"]}


async def test_search_index_lags_behind_writes() -> None:
    faults = FaultConfig(search_index_lag_seconds=30)
    async with jira(faults=faults) as (client, app):
        clock = [1_000_000.0]
        app.state.jira.clock = lambda: clock[0]
        key = await create(client, "fresh", labels=["ado-id-9"])
        # readable at once, but not yet searchable
        assert (await client.get(f"/rest/api/3/issue/{key}")).status_code == 200
        assert await _keys(client, "labels = ado-id-9") == []
        clock[0] += 29
        assert await _keys(client, "labels = ado-id-9") == []
        clock[0] += 2
        assert await _keys(client, "labels = ado-id-9") == [key]
        # an edit is searchable by its new value only after the lag; meanwhile the old value still matches
        await client.put(f"/rest/api/3/issue/{key}", json={"fields": {"labels": ["ado-id-10"]}})
        assert await _keys(client, "labels = ado-id-9") == [key]
        assert await _keys(client, "labels = ado-id-10") == []
        clock[0] += 31
        assert await _keys(client, "labels = ado-id-9") == []
        assert await _keys(client, "labels = ado-id-10") == [key]
        faults.search_index_lag_seconds = 0
        fresh = await create(client, "no lag", labels=["ado-id-11"])
        assert await _keys(client, "labels = ado-id-11") == [fresh]
