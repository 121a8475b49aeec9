"""The sandbox Jira's reads a validation needs: bulkfetch, the changelog with each change's author, comment edits."""

from __future__ import annotations

from jira_support import create, doc, jira

OTHER = "557058:colleague"


async def test_bulkfetch_returns_the_issues_that_exist_and_leaves_out_the_rest() -> None:
    async with jira() as (client, _):
        keys = [await create(client, f"Issue {n}") for n in range(3)]
        r = await client.post(
            "/rest/api/3/issue/bulkfetch",
            json={"issueIdsOrKeys": [*keys, "PHX-999"], "fields": ["summary", "status"]},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert sorted(i["key"] for i in body["issues"]) == sorted(keys) and body["issueErrors"] == []
        assert set(body["issues"][0]["fields"]) == {"summary", "status"}
        too_many = await client.post("/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": [keys[0]] * 101})
        assert too_many.status_code == 400


async def test_the_changelog_names_who_changed_what_and_when() -> None:
    async with jira() as (client, _):
        key = await create(client, "Before")
        assert (await client.put(f"/rest/api/3/issue/{key}", json={"fields": {"summary": "Mine"}})).status_code == 204
        r = await client.post(
            f"/_sandbox/issues/{key}/edit-as", json={"accountId": OTHER, "fields": {"summary": "Theirs"}}
        )
        assert r.status_code == 204, r.text
        steps = (await client.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"]
        await client.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": steps[0]["id"]}})
        me = (await client.get("/rest/api/3/myself")).json()["accountId"]
        log = (await client.get(f"/rest/api/3/issue/{key}/changelog")).json()
        changes = [(v["author"]["accountId"], [i["field"] for i in v["items"]]) for v in log["values"]]
        assert changes == [(me, ["summary"]), (OTHER, ["summary"]), (me, ["status"])]
        assert log["total"] == 3 and log["isLast"] and all(v["created"] for v in log["values"])


async def test_an_edited_comment_carries_its_update_author() -> None:
    async with jira() as (client, _):
        key = await create(client, "With a comment")
        c = (await client.post(f"/rest/api/3/issue/{key}/comment", json={"body": doc("first")})).json()
        r = await client.put(f"/rest/api/3/issue/{key}/comment/{c['id']}", json={"body": doc("edited")})
        assert r.status_code == 200 and r.json()["body"] == doc("edited")
        listed = (await client.get(f"/rest/api/3/issue/{key}/comment")).json()["comments"]
        assert listed[0]["updateAuthor"]["accountId"] == c["author"]["accountId"]
        assert (await client.put(f"/rest/api/3/issue/{key}/comment/99999", json={"body": doc("x")})).status_code == 404
