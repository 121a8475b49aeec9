"""The sandbox Jira's removals an undo uses, and the changelog it reads, answer as the spec says."""

from __future__ import annotations

from jira_support import create, doc, jira
from test_jira_contract import Recorder

OTHER = {"X-Sandbox-Act-As": "5b10ac8d82e05b22cc7d4ef5"}


async def test_bulk_delete_is_a_task_that_reports_what_it_deleted_and_what_was_not_there() -> None:
    async with jira() as (client, _):
        rec = Recorder(client)
        keys = [await create(client, f"issue {n}") for n in range(3)]
        r = await rec.call("POST", "/rest/api/3/bulk/issues/delete", 201, json={"selectedIssueIdsOrKeys": keys[:2]})
        task = r.json()["taskId"]
        first = (await rec.call("GET", f"/rest/api/3/bulk/queue/{task}", 200)).json()
        assert first["status"] == "RUNNING"
        done = (await rec.call("GET", f"/rest/api/3/bulk/queue/{task}", 200)).json()
        assert done["status"] == "COMPLETE" and len(done["processedAccessibleIssues"]) == 2
        for key in keys[:2]:
            assert (await client.get(f"/rest/api/3/issue/{key}")).status_code == 404
        # Again, with one still there: the gone ones are counted invalid, the other deleted.
        r = await rec.call("POST", "/rest/api/3/bulk/issues/delete", 201, json={"selectedIssueIdsOrKeys": keys})
        task = r.json()["taskId"]
        await client.get(f"/rest/api/3/bulk/queue/{task}")
        done = (await client.get(f"/rest/api/3/bulk/queue/{task}")).json()
        assert done["invalidOrInaccessibleIssueCount"] == 2 and len(done["processedAccessibleIssues"]) == 1
        # All gone: refused, as Jira refuses a bulk delete with nothing to delete.
        r = await client.post("/rest/api/3/bulk/issues/delete", json={"selectedIssueIdsOrKeys": keys})
        assert r.status_code == 400


async def test_the_changelog_names_who_changed_an_issue_and_deletes_answer_404_once_gone() -> None:
    async with jira() as (client, _):
        rec = Recorder(client)
        key = await create(client, "edited twice")
        await client.put(f"/rest/api/3/issue/{key}", json={"fields": {"summary": "by the migration"}})
        r = await client.put(f"/rest/api/3/issue/{key}", json={"fields": {"summary": "by someone"}}, headers=OTHER)
        assert r.status_code == 204
        log = (await rec.call("GET", f"/rest/api/3/issue/{key}/changelog", 200)).json()
        authors = [v["author"]["accountId"] for v in log["values"]]
        assert len(authors) == 2 and authors[1] == OTHER["X-Sandbox-Act-As"] and authors[0] != authors[1]

        c = (await client.post(f"/rest/api/3/issue/{key}/comment", json={"body": doc("hi")}, headers=OTHER)).json()
        assert c["author"]["accountId"] == OTHER["X-Sandbox-Act-As"]
        await rec.call("DELETE", f"/rest/api/3/issue/{key}/comment/{c['id']}", 204)
        assert (await client.delete(f"/rest/api/3/issue/{key}/comment/{c['id']}")).status_code == 404
        w = (await client.post(f"/rest/api/3/issue/{key}/worklog", json={"timeSpentSeconds": 60})).json()
        await rec.call("DELETE", f"/rest/api/3/issue/{key}/worklog/{w['id']}", 204)
        assert (await client.delete(f"/rest/api/3/issue/{key}/worklog/{w['id']}")).status_code == 404
        link = {"globalId": "g1", "object": {"url": "https://example.com/a", "title": "a"}}
        rl = (await client.post(f"/rest/api/3/issue/{key}/remotelink", json=link)).json()
        await rec.call("DELETE", f"/rest/api/3/issue/{key}/remotelink/{rl['id']}", 204)
        assert (await client.delete(f"/rest/api/3/issue/{key}/remotelink/{rl['id']}")).status_code == 404


async def test_a_component_and_a_sprint_say_how_many_issues_use_them_and_can_be_deleted() -> None:
    async with jira() as (client, _):
        rec = Recorder(client)
        comp = (await client.post("/rest/api/3/component", json={"name": "Platform", "project": "PHX"})).json()
        key = await create(client, "in a component", components=[{"id": comp["id"]}])
        counts = (await rec.call("GET", f"/rest/api/3/component/{comp['id']}/relatedIssueCounts", 200)).json()
        assert counts["issueCount"] == 1
        await rec.call("DELETE", f"/rest/api/3/component/{comp['id']}", 204)
        assert (await client.get(f"/rest/api/3/issue/{key}")).json()["fields"]["components"] == []
        sprint = (await client.post("/rest/agile/1.0/sprint", json={"name": "S1", "originBoardId": 1})).json()
        await client.post(f"/rest/agile/1.0/sprint/{sprint['id']}/issue", json={"issues": [key]})
        assert (await client.get(f"/rest/agile/1.0/sprint/{sprint['id']}/issue")).json()["total"] == 1
        assert (await client.delete(f"/rest/agile/1.0/sprint/{sprint['id']}")).status_code == 204
        assert (await client.get(f"/rest/agile/1.0/sprint/{sprint['id']}")).status_code == 404
