"""REST v2 reads: Jira Cloud answers them with rich text as strings and v2 links; writes stay on v3 here."""

from __future__ import annotations

from jira_support import create, doc, issue_body, jira


async def test_v2_reads_send_rich_text_as_a_string_and_link_to_v2() -> None:
    async with jira() as (client, _):
        key = await create(client, "Story with a comment", "Story", description=doc("First line", "Second line"))
        r = await client.post(f"/rest/api/3/issue/{key}/comment", json={"body": doc("Looks good")})
        assert r.status_code == 201, r.text

        v2 = (await client.get(f"/rest/api/2/issue/{key}")).json()
        assert v2["fields"]["description"] == "First line\nSecond line"
        assert v2["fields"]["comment"]["comments"][0]["body"] == "Looks good"
        assert v2["self"].endswith(f"/rest/api/2/issue/{v2['id']}")
        v3 = (await client.get(f"/rest/api/3/issue/{key}")).json()
        assert v3["fields"]["description"]["type"] == "doc"  # v3 itself is untouched

        found = (
            await client.post("/rest/api/2/search/jql", json={"jql": f"key = {key}", "fields": ["comment"]})
        ).json()
        assert found["issues"][0]["fields"]["comment"]["comments"][0]["body"] == "Looks good"
        assert [p["key"] for p in (await client.get("/rest/api/2/project")).json()] == ["PHX"]
        assert (await client.get("/rest/api/2/serverInfo")).json()["deploymentType"] == "Cloud"


async def test_v2_writes_are_not_taken() -> None:
    # a v2 write carries wiki markup, which the sandbox does not parse: it must not land half-read
    async with jira() as (client, _):
        r = await client.post("/rest/api/2/issue", json=issue_body("plain", description="*bold*"))
        assert r.status_code == 404
        assert (await client.post("/rest/api/3/search/jql", json={"jql": "project = PHX"})).json()["issues"] == []
