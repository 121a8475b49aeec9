"""Links, remote links, components, users and Agile sprints on the sandbox Jira."""

from __future__ import annotations

from jira_support import create, doc, jira

from migrayt.sandbox.jira.app import JiraSandboxConfig, JiraUserSeed


async def test_issue_links_show_on_both_sides_and_are_not_duplicated() -> None:
    async with jira() as (client, _):
        a = await create(client, "blocker")
        b = await create(client, "blocked")
        names = {t["name"] for t in (await client.get("/rest/api/3/issueLinkType")).json()["issueLinkTypes"]}
        assert {"Blocks", "Relates", "Duplicate", "Cloners"} <= names
        body = {"type": {"name": "Blocks"}, "inwardIssue": {"key": a}, "outwardIssue": {"key": b}}
        assert (await client.post("/rest/api/3/issueLink", json=body)).status_code == 201
        assert (await client.post("/rest/api/3/issueLink", json=body)).status_code == 201
        links_a = (await client.get(f"/rest/api/3/issue/{a}")).json()["fields"]["issuelinks"]
        links_b = (await client.get(f"/rest/api/3/issue/{b}")).json()["fields"]["issuelinks"]
        assert len(links_a) == 1 and links_a[0]["outwardIssue"]["key"] == b
        assert len(links_b) == 1 and links_b[0]["inwardIssue"]["key"] == a
        r = await client.post("/rest/api/3/issueLink", json={**body, "type": {"name": "Causes"}})
        assert r.status_code == 404
        r = await client.post("/rest/api/3/issueLink", json={**body, "outwardIssue": {"key": "PHX-77"}})
        assert r.status_code == 404
        assert (await client.get("/_sandbox/state")).json()["links"] == {"total": 1, "by_type": {"Blocks": 1}}


async def test_remote_links_upsert_by_global_id() -> None:
    async with jira() as (client, _):
        key = await create(client, "remote")
        link = {"globalId": "ado:commit:abc", "object": {"url": "https://dev.azure.com/c/abc", "title": "abc"}}
        r1 = await client.post(f"/rest/api/3/issue/{key}/remotelink", json=link)
        assert r1.status_code == 201
        r2 = await client.post(
            f"/rest/api/3/issue/{key}/remotelink",
            json={**link, "object": {"url": "https://dev.azure.com/c/abc", "title": "renamed"}},
        )
        assert r2.status_code == 200 and r2.json()["id"] == r1.json()["id"]
        listed = (await client.get(f"/rest/api/3/issue/{key}/remotelink")).json()
        assert [x["object"]["title"] for x in listed] == ["renamed"]
        r = await client.post(f"/rest/api/3/issue/{key}/remotelink", json={"object": {"url": "https://x"}})
        assert r.status_code == 400 and "title" in r.json()["errors"]


async def test_components_are_created_and_used_on_issues() -> None:
    async with jira() as (client, _):
        r = await client.post("/rest/api/3/component", json={"name": "Web", "project": "PHX"})
        assert r.status_code == 201
        assert (await client.post("/rest/api/3/component", json={"name": "Web", "project": "PHX"})).status_code == 400
        listed = (await client.get("/rest/api/3/project/PHX/components")).json()
        assert [c["name"] for c in listed] == ["Web"]
        key = await create(client, "web bug", components=[{"id": r.json()["id"]}])
        got = (await client.get(f"/rest/api/3/issue/{key}")).json()["fields"]["components"]
        assert [c["name"] for c in got] == ["Web"]


async def test_user_search_hides_private_emails() -> None:
    users = [
        JiraUserSeed(account_id="u-1", display_name="Ada Lovelace", email="ada@example.com"),
        JiraUserSeed(account_id="u-2", display_name="Grace Hopper", email="grace@example.com", email_visible=False),
        JiraUserSeed(account_id="u-3", display_name="Gone User", email="gone@example.com", active=False),
    ]
    async with jira(JiraSandboxConfig(users=users)) as (client, _):
        found = (await client.get("/rest/api/3/user/search", params={"query": "ada@"})).json()
        assert [u["accountId"] for u in found] == ["u-1"] and found[0]["emailAddress"] == "ada@example.com"
        assert (await client.get("/rest/api/3/user/search", params={"query": "grace@"})).json() == []
        exact = (await client.get("/rest/api/3/user/search", params={"query": "grace@example.com"})).json()
        assert [u["accountId"] for u in exact] == ["u-2"] and "emailAddress" not in exact[0]
        by_name = (await client.get("/rest/api/3/user/search", params={"query": "hopper"})).json()
        assert [u["accountId"] for u in by_name] == ["u-2"]
        assert (await client.get("/rest/api/3/user/search", params={"query": "gone"})).json() == []
        gone = (await client.get("/rest/api/3/user", params={"accountId": "u-3"})).json()
        assert gone["active"] is False
        assert (await client.get("/rest/api/3/user", params={"accountId": "nobody"})).status_code == 404
        assert (await client.get("/rest/api/3/user/search")).status_code == 400
        key = await create(client, "assigned", assignee={"accountId": "u-1"})
        assert (await client.get(f"/rest/api/3/issue/{key}")).json()["fields"]["assignee"]["accountId"] == "u-1"
        r = await client.post(
            "/rest/api/3/issue",
            json={
                "fields": {
                    "project": {"key": "PHX"},
                    "summary": "x",
                    "issuetype": {"name": "Task"},
                    "assignee": {"accountId": "nobody"},
                }
            },
        )
        assert r.status_code == 400 and "assignee" in r.json()["errors"]


async def test_sprints_on_the_board_and_moving_issues() -> None:
    async with jira() as (client, _):
        boards = (await client.get("/rest/agile/1.0/board", params={"projectKeyOrId": "PHX"})).json()["values"]
        board = boards[0]["id"]
        r = await client.post(
            "/rest/agile/1.0/sprint",
            json={"name": "Sprint 1", "originBoardId": board, "startDate": "2024-01-01T09:00:00.000+0000"},
        )
        assert r.status_code == 201
        sprint = r.json()["id"]
        assert (
            await client.post("/rest/agile/1.0/sprint", json={"name": "x", "originBoardId": 999})
        ).status_code == 400
        for n in range(2, 5):
            await client.post("/rest/agile/1.0/sprint", json={"name": f"Sprint {n}", "originBoardId": board})
        page = (await client.get(f"/rest/agile/1.0/board/{board}/sprint", params={"maxResults": 3})).json()
        assert page["isLast"] is False and len(page["values"]) == 3
        keys = [await create(client, f"s{n}", "Story") for n in range(3)]
        assert (await client.post(f"/rest/agile/1.0/sprint/{sprint}/issue", json={"issues": keys})).status_code == 204
        field = (await client.get(f"/rest/api/3/issue/{keys[0]}")).json()["fields"]["customfield_10020"]
        assert [s["id"] for s in field] == [sprint]
        r = await client.post(f"/rest/agile/1.0/sprint/{sprint}/issue", json={"issues": [keys[0]] * 51})
        assert r.status_code == 400
        assert (await client.post("/rest/agile/1.0/sprint/999/issue", json={"issues": keys})).status_code == 404
        r = await client.post("/rest/api/3/search/jql", json={"jql": f"sprint = {sprint} ORDER BY key"})
        assert len(r.json()["issues"]) == 3
        key = await create(client, "in sprint", customfield_10020=sprint, description=doc("d"))
        assert (await client.get("/_sandbox/state/issues", params={"offset": 3})).json()["issues"][0]["sprints"] == [
            sprint
        ]
        assert key == "PHX-4"
