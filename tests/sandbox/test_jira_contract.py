"""Every implemented sandbox Jira endpoint answers with bodies valid against the official specs."""

from __future__ import annotations

import httpx
import pytest
from jira_contract import validate_response
from jira_support import create, doc, issue_body, jira
from jsonschema import ValidationError

from migrayt.sandbox.jira.app import JiraSandboxConfig, JiraUserSeed

XSRF = {"X-Atlassian-Token": "no-check"}


class Recorder:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.checked: set[tuple[str, str, int]] = set()

    async def call(self, method: str, path: str, expect: int, **kw) -> httpx.Response:
        r = await self.client.request(method, path, **kw)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        body = r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else None
        template = validate_response(method, path, r.status_code, body)
        self.checked.add((method, template, r.status_code))
        return r


async def test_responses_validate_against_official_schemas() -> None:
    users = [
        JiraUserSeed(account_id="u-1", display_name="Ada Lovelace", email="ada@example.com"),
        JiraUserSeed(account_id="u-2", display_name="Grace Hopper", email="g@example.com", email_visible=False),
    ]
    async with jira(JiraSandboxConfig(users=users)) as (client, _):
        rec = Recorder(client)
        c = rec.call
        await c("GET", "/rest/api/3/myself", 200)
        await c("GET", "/rest/api/3/user/search?query=a", 200)
        await c("GET", "/rest/api/3/users/search?startAt=0&maxResults=100", 200)
        await c("GET", "/rest/api/3/user?accountId=u-2", 200)
        await c("GET", "/rest/api/3/field", 200)
        await c("GET", "/rest/api/3/priority", 200)
        await c("GET", "/rest/api/3/issuetype", 200)
        await c("GET", "/rest/api/3/status", 200)
        await c("GET", "/rest/api/3/issueLinkType", 200)
        await c("GET", "/rest/api/3/project/PHX", 200)
        await c("GET", "/rest/api/3/serverInfo", 200)
        await c("GET", "/rest/api/3/instance/license", 200)
        await c("GET", "/rest/api/3/project", 200)
        await c("GET", "/rest/api/3/project?expand=description,lead,issueTypes,projectKeys,insight", 200)
        await c("GET", "/rest/api/3/project/search?maxResults=1&expand=insight", 200)
        await c("GET", "/rest/api/3/project/PHX/statuses", 200)
        comp = (
            await c(
                "POST", "/rest/api/3/component", 201, json={"name": "Web", "project": "PHX", "leadAccountId": "u-1"}
            )
        ).json()
        await c("GET", "/rest/api/3/project/PHX/components", 200)
        await c("GET", "/rest/api/3/issue/createmeta/PHX/issuetypes", 200)
        await c("GET", "/rest/api/3/issue/createmeta/PHX/issuetypes/10004", 200)
        await c("GET", "/rest/api/3/issue/createmeta/PHX/issuetypes?maxResults=500", 400)

        sprint = (
            await c(
                "POST",
                "/rest/agile/1.0/sprint",
                201,
                json={"name": "S1", "originBoardId": 1, "goal": "g", "startDate": "2024-01-01T00:00:00.000+0000"},
            )
        ).json()["id"]
        await c("GET", "/rest/agile/1.0/board?projectKeyOrId=PHX", 200)
        await c("GET", "/rest/agile/1.0/board/1/sprint", 200)
        await c("GET", f"/rest/agile/1.0/sprint/{sprint}", 200)

        epic = (await c("POST", "/rest/api/3/issue", 201, json=issue_body("epic", "Epic"))).json()["key"]
        story = (
            await c(
                "POST",
                "/rest/api/3/issue",
                201,
                json=issue_body(
                    "story",
                    "Story",
                    parent={"key": epic},
                    description=doc("d"),
                    labels=["ado-id-1"],
                    components=[{"id": comp["id"]}],
                    customfield_10020=sprint,
                    customfield_10016=3,
                    assignee={"accountId": "u-2"},
                ),
            )
        ).json()["key"]
        await c("POST", "/rest/api/3/issue", 400, json=issue_body("x", description="plain"))
        await c("POST", "/rest/api/3/issue/bulk", 201, json={"issueUpdates": [issue_body("b1"), issue_body("s" * 300)]})
        await c("POST", "/rest/api/3/issue/bulk", 400, json={"issueUpdates": [issue_body("")]})
        await c("POST", f"/rest/agile/1.0/sprint/{sprint}/issue", 204, json={"issues": [story]})

        await c(
            "POST",
            "/rest/api/3/issueLink",
            201,
            json={"type": {"name": "Blocks"}, "inwardIssue": {"key": epic}, "outwardIssue": {"key": story}},
        )
        await c(
            "POST",
            f"/rest/api/3/issue/{story}/remotelink",
            201,
            json={
                "globalId": "g1",
                "application": {"name": "ADO", "type": "ado"},
                "relationship": "commit",
                "object": {"url": "https://x", "title": "t"},
            },
        )
        await c(
            "POST",
            f"/rest/api/3/issue/{story}/remotelink",
            200,
            json={"globalId": "g1", "object": {"url": "https://x", "title": "t2"}},
        )
        await c("GET", f"/rest/api/3/issue/{story}/remotelink", 200)
        await c("POST", f"/rest/api/3/issue/{story}/comment", 201, json={"body": doc("hello")})
        await c("GET", f"/rest/api/3/issue/{story}/comment", 200)
        await c("POST", f"/rest/api/3/issue/{story}/worklog", 201, json={"timeSpentSeconds": 60, "comment": doc("w")})
        await c("GET", f"/rest/api/3/issue/{story}/worklog", 200)
        # As the 7pace plugin posts a migrated worklog: estimate left alone, nobody notified, its source as a property.
        await c(
            "POST",
            f"/rest/api/3/issue/{story}/worklog?adjustEstimate=leave&notifyUsers=false",
            201,
            json={
                "timeSpentSeconds": 900,
                "started": "2024-03-01T09:00:00.000+0000",
                "comment": doc("7pace"),
                "properties": [{"key": "migrayt.source", "value": {"id": 1, "worklog": "w-1"}}],
            },
        )
        await c("GET", f"/rest/api/3/issue/{story}/worklog?expand=properties", 200)
        att = (
            await c(
                "POST",
                f"/rest/api/3/issue/{story}/attachments",
                200,
                headers=XSRF,
                files={"file": ("a.txt", b"abc", "text/plain")},
            )
        ).json()[0]["id"]
        await c("GET", f"/rest/api/3/attachment/{att}", 200)
        await c("PUT", f"/rest/api/3/issue/{story}/properties/p", 201, json={"a": 1})
        await c("GET", f"/rest/api/3/issue/{story}/properties/p", 200)
        await c("GET", f"/rest/api/3/issue/{story}/properties", 200)
        await c("GET", f"/rest/api/3/issue/{story}/transitions", 200)
        await c("POST", f"/rest/api/3/issue/{story}/transitions", 204, json={"transition": {"id": "11"}})
        await c("PUT", f"/rest/api/3/issue/{story}", 204, json={"update": {"labels": [{"add": "x"}]}})
        await c("PUT", f"/rest/api/3/issue/{story}?returnIssue=true", 200, json={"fields": {"summary": "s2"}})
        await c("GET", f"/rest/api/3/issue/{story}", 200)
        await c("GET", f"/rest/api/3/issue/{epic}", 200)
        await c(
            "POST",
            "/rest/api/3/search/jql",
            200,
            json={"jql": "project = PHX ORDER BY key", "fields": ["*all"], "maxResults": 2},
        )
        await c("GET", "/rest/api/3/search/jql?jql=labels%3Dado-id-1", 200)
        await c("POST", "/rest/api/3/search/approximate-count", 200, json={"jql": "project = PHX"})
        await c("DELETE", f"/rest/api/3/issue/{epic}", 204)
        await c("GET", "/rest/api/3/project/search?expand=insight,lead", 200)  # with issues now
        assert len(rec.checked) >= 48


async def test_projects_list_and_page_as_the_spec_says() -> None:
    async with jira() as (client, _):
        everything = (await client.get("/rest/api/3/project")).json()
        assert [p["key"] for p in everything] == ["PHX"]
        page = (await client.get("/rest/api/3/project/search?maxResults=500")).json()
        assert page["maxResults"] == 100  # larger pages fall back to the documented maximum
        assert (page["total"], page["isLast"], [p["key"] for p in page["values"]]) == (1, True, ["PHX"])
        assert "nextPage" not in page
        past_the_end = (await client.get("/rest/api/3/project/search?startAt=1&orderBy=name")).json()
        assert (past_the_end["values"], past_the_end["isLast"], past_the_end["total"]) == ([], True, 1)
        assert past_the_end["self"].endswith("/rest/api/3/project/search?orderBy=name&startAt=1&maxResults=50")
        assert (await client.get("/rest/api/3/project/search?query=hoen")).json()["total"] == 1
        assert (await client.get("/rest/api/3/project/search?query=nope")).json()["total"] == 0
        assert (await client.get("/rest/api/3/project/search?keys=ABC")).json()["values"] == []
        assert (await client.get("/rest/api/3/project/search?orderBy=colour")).status_code == 400
        # serverInfo answers without credentials, as on Cloud; the project list does not
        info = await client.get("/rest/api/3/serverInfo", auth=None, headers={"Authorization": ""})
        assert info.status_code == 200 and info.json()["deploymentType"] == "Cloud"
        assert info.json()["baseUrl"] == "http://jira.test"
        assert (await client.get("/rest/api/3/project", auth=("x", "y"))).status_code == 401


def test_the_checker_rejects_a_body_that_breaks_the_schema() -> None:
    with pytest.raises(ValidationError):
        validate_response("POST", "/rest/api/3/issue", 201, {"id": 10000, "key": "PHX-1"})
    with pytest.raises(ValidationError):
        validate_response("GET", "/rest/api/3/issueLinkType", 200, {"issueLinkTypes": [{"id": "1", "colour": "red"}]})
    assert create and True


async def test_source_identity_properties_are_kept_at_create_and_served_by_search_and_comments() -> None:
    """Migrayt's `migrayt.source`: given in a bulk create's issueUpdate and a comment's create body,
    read back through search (`properties`) and the comment list (`expand=properties`), as the spec says."""
    identity = {"organization": "https://dev.azure.com/acme", "project": "Phoenix", "id": 48}
    async with jira() as (client, _):
        rec = Recorder(client)
        c = rec.call
        body = {
            **issue_body("with identity", labels=["ado-id-48"]),
            "properties": [{"key": "migrayt.source", "value": identity}],
        }
        key = (await c("POST", "/rest/api/3/issue/bulk", 201, json={"issueUpdates": [body]})).json()["issues"][0]["key"]
        assert (await c("GET", f"/rest/api/3/issue/{key}/properties/migrayt.source", 200)).json()["value"] == identity
        found = (
            await c(
                "POST",
                "/rest/api/3/search/jql",
                200,
                json={"jql": "labels = ado-id-48", "fields": ["labels"], "properties": ["migrayt.source"]},
            )
        ).json()["issues"]
        assert [(i["key"], i["properties"]["migrayt.source"]) for i in found] == [(key, identity)]
        plain = (await c("POST", "/rest/api/3/search/jql", 200, json={"jql": "labels = ado-id-48"})).json()["issues"]
        assert "properties" not in plain[0]  # only the properties asked for

        prop = {"key": "migrayt.source", "value": {**identity, "comment": 7}}
        await c("POST", f"/rest/api/3/issue/{key}/comment", 201, json={"body": doc("hi"), "properties": [prop]})
        listed = (await c("GET", f"/rest/api/3/issue/{key}/comment?expand=properties", 200)).json()["comments"]
        assert listed[0]["properties"] == [prop]
        bare = (await c("GET", f"/rest/api/3/issue/{key}/comment", 200)).json()["comments"]
        assert "properties" not in bare[0]


async def test_bulkfetch_answers_as_the_spec_says_with_parents_links_and_the_source_property() -> None:
    """Reconciliation reads a batch's issues in one `POST /issue/bulkfetch`: parent, links and the source property."""
    async with jira() as (client, _):
        rec = Recorder(client)
        epic = await create(client, "Epic", "Epic")
        story = await create(
            client,
            "Story",
            "Story",
            parent={"key": epic},
            labels=["ado-id-2"],
        )
        await rec.call("PUT", f"/rest/api/3/issue/{story}/properties/migrayt.source", 201, json={"id": 2})
        await rec.call(
            "POST",
            "/rest/api/3/issueLink",
            201,
            json={"type": {"name": "Relates"}, "inwardIssue": {"key": story}, "outwardIssue": {"key": epic}},
        )
        body = (
            await rec.call(
                "POST",
                "/rest/api/3/issue/bulkfetch",
                200,
                json={
                    "issueIdsOrKeys": [story, epic, "PHX-999"],
                    "fields": ["parent", "issuelinks", "labels"],
                    "properties": ["migrayt.source"],
                },
            )
        ).json()
        by_key = {i["key"]: i for i in body["issues"]}
        assert set(by_key) == {story, epic} and body["issueErrors"] == []
        assert by_key[story]["fields"]["parent"]["key"] == epic
        assert by_key[story]["properties"] == {"migrayt.source": {"id": 2}}
        assert [link["outwardIssue"]["key"] for link in by_key[story]["fields"]["issuelinks"]] == [epic]
        await rec.call("POST", "/rest/api/3/issue/bulkfetch", 400, json={"issueIdsOrKeys": []})
