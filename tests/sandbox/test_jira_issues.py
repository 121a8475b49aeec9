"""Issue create/edit/delete rules of the sandbox Jira: ADF only, limits, ErrorCollection bodies, hierarchy."""

from __future__ import annotations

import httpx
from jira_support import create, doc, issue_body, jira


async def test_wrong_credentials_get_401_with_error_collection() -> None:
    async with jira() as (client, _):
        r = await client.get("/rest/api/3/myself", auth=("migrator@example.com", "wrong"))
        assert r.status_code == 401
        assert r.json()["errorMessages"] and r.json()["errors"] == {}
        r = await client.get("/rest/api/3/myself", auth=None)
        assert r.status_code == 401


async def test_created_issue_reads_back_with_its_fields() -> None:
    async with jira() as (client, _):
        body = issue_body(
            "Checkout fails",
            "Bug",
            priority={"name": "High"},
            description=doc("Steps"),
            labels=["ado-id-7", "legacy"],
            customfield_10016=5,
        )
        r = await client.post("/rest/api/3/issue", json=body)
        assert r.status_code == 201
        key = r.json()["key"]
        assert key == "PHX-1"
        got = (await client.get(f"/rest/api/3/issue/{key}")).json()["fields"]
        assert got["summary"] == "Checkout fails"
        assert got["issuetype"]["name"] == "Bug" and got["issuetype"]["hierarchyLevel"] == 0
        assert got["priority"]["name"] == "High"
        assert got["status"]["name"] == "To Do" and got["status"]["statusCategory"]["key"] == "new"
        assert got["labels"] == ["ado-id-7", "legacy"]
        assert got["description"] == doc("Steps")
        assert got["customfield_10016"] == 5
        only = (await client.get(f"/rest/api/3/issue/{key}", params={"fields": "summary,labels"})).json()
        assert set(only["fields"]) == {"summary", "labels"}


async def test_plain_string_rich_text_is_rejected() -> None:
    async with jira() as (client, _):
        for field in ("description", "environment", "customfield_10030"):
            r = await client.post("/rest/api/3/issue", json=issue_body("x", **{field: "plain text"}))
            assert r.status_code == 400
            assert "Atlassian Document" in r.json()["errors"][field]


async def test_adf_that_breaks_the_schema_is_rejected() -> None:
    async with jira() as (client, _):
        bad_docs = [
            {"type": "doc", "version": 1, "content": [{"type": "blink", "content": []}]},
            {"type": "doc", "version": 2, "content": []},
            {
                "type": "doc",
                "version": 1,
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}],
            },
            {"type": "doc", "version": 1, "content": [{"type": "text", "text": "text at block level"}]},
        ]
        for bad in bad_docs:
            r = await client.post("/rest/api/3/issue", json=issue_body("x", description=bad))
            assert r.status_code == 400, bad
            assert "description" in r.json()["errors"]
        assert (await client.get("/_sandbox/state")).json()["issues"]["total"] == 0


async def test_document_over_content_limit_is_rejected_by_stored_length() -> None:
    async with jira() as (client, _):
        overhead = len(
            '{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":""}]}]}'
        )
        fits = doc("a" * (32_767 - overhead))
        r = await client.post("/rest/api/3/issue", json=issue_body("fits", description=fits))
        assert r.status_code == 201
        over = doc("a" * (32_768 - overhead))
        r = await client.post("/rest/api/3/issue", json=issue_body("over", description=over))
        assert r.status_code == 400
        assert "CONTENT_LIMIT_EXCEEDED" in r.json()["errorMessages"]
        assert "32,767" in r.json()["errors"]["description"]
        # the limit counts characters, not bytes: emoji count as one each
        emoji = doc("😀" * (32_767 - overhead))
        assert (await client.post("/rest/api/3/issue", json=issue_body("emoji", description=emoji))).status_code == 201


async def test_field_errors_come_back_as_error_collection() -> None:
    async with jira() as (client, _):
        cases = {
            "summary": issue_body("s" * 256),
            "labels": issue_body("x", labels=["has space"]),
            "customfield_99999": issue_body("x", customfield_99999="?"),
            "priority": issue_body("x", priority={"name": "Urgent"}),
            "issuetype": issue_body("x", "Feature"),
            "components": issue_body("x", components=[{"name": "Nope"}]),
            "customfield_10020": issue_body("x", customfield_10020=999),
            "status": issue_body("x", status={"name": "Done"}),
        }
        for field, body in cases.items():
            r = await client.post("/rest/api/3/issue", json=body)
            assert r.status_code == 400, field
            payload = r.json()
            assert set(payload) == {"errorMessages", "errors"}
            assert field in payload["errors"], (field, payload)
        assert (await client.post("/rest/api/3/issue", json=issue_body("s" * 255))).status_code == 201


async def test_required_fields_are_enforced_per_issue_type() -> None:
    async with jira() as (client, _):
        r = await client.post(
            "/rest/api/3/issue", json={"fields": {"project": {"key": "PHX"}, "issuetype": {"name": "Task"}}}
        )
        assert r.status_code == 400 and "summary" in r.json()["errors"]
        r = await client.post("/rest/api/3/issue", json=issue_body("no priority", "Bug"))
        assert r.status_code == 400 and "priority" in r.json()["errors"]
        r = await client.post("/rest/api/3/issue", json={"fields": {"issuetype": {"name": "Task"}, "summary": "x"}})
        assert r.status_code == 400 and "project" in r.json()["errors"]
        meta = (await client.get("/rest/api/3/issue/createmeta/PHX/issuetypes/10004")).json()["fields"]
        required = {f["fieldId"] for f in meta if f["required"]}
        assert required == {"summary", "issuetype", "project", "priority"}
        priority = next(f for f in meta if f["fieldId"] == "priority")
        assert [v["name"] for v in priority["allowedValues"]] == ["Highest", "High", "Medium", "Low", "Lowest"]


async def test_hierarchy_rules_for_parent() -> None:
    async with jira() as (client, _):
        epic = await create(client, "Epic", "Epic")
        story = await create(client, "Story under epic", "Story", parent={"key": epic})
        sub = await create(client, "Sub-task", "Sub-task", parent={"key": story})
        bad = [
            issue_body("story under story", "Story", parent={"key": story}),
            issue_body("sub-task without parent", "Sub-task"),
            issue_body("sub-task under epic", "Sub-task", parent={"key": epic}),
            issue_body("sub-task under sub-task", "Sub-task", parent={"key": sub}),
            issue_body("epic with parent", "Epic", parent={"key": epic}),
            issue_body("missing parent", "Task", parent={"key": "PHX-999"}),
        ]
        for body in bad:
            r = await client.post("/rest/api/3/issue", json=body)
            assert r.status_code == 400, body["fields"]["summary"]
            assert "parent" in r.json()["errors"]
        got = (await client.get(f"/rest/api/3/issue/{sub}")).json()["fields"]["parent"]
        assert got["key"] == story
        subtasks = (await client.get(f"/rest/api/3/issue/{story}")).json()["fields"]["subtasks"]
        assert [s["key"] for s in subtasks] == [sub]


async def test_bulk_create_reports_per_item_errors_and_creates_the_valid_ones() -> None:
    async with jira() as (client, _):
        items = [issue_body(f"ok {i}", labels=[f"ado-id-{i}"]) for i in range(5)]
        items[1] = issue_body("bad", description="plain")
        items[3] = issue_body("b" * 300)
        r = await client.post("/rest/api/3/issue/bulk", json={"issueUpdates": items})
        assert r.status_code == 201
        body = r.json()
        assert [i["key"] for i in body["issues"]] == ["PHX-1", "PHX-2", "PHX-3"]
        assert [e["failedElementNumber"] for e in body["errors"]] == [1, 3]
        assert body["errors"][0]["status"] == 400
        assert "description" in body["errors"][0]["elementErrors"]["errors"]
        all_bad = await client.post("/rest/api/3/issue/bulk", json={"issueUpdates": [issue_body("")]})
        assert all_bad.status_code == 400 and all_bad.json()["issues"] == []
        too_many = await client.post(
            "/rest/api/3/issue/bulk", json={"issueUpdates": [issue_body(f"n{i}") for i in range(51)]}
        )
        assert too_many.status_code == 400
        assert (await client.get("/_sandbox/state")).json()["issues"]["total"] == 3


async def test_edit_with_update_operations_and_delete() -> None:
    async with jira() as (client, _):
        key = await create(client, "Edit me", labels=["a", "b"])
        r = await client.put(
            f"/rest/api/3/issue/{key}",
            json={
                "fields": {"summary": "Edited"},
                "update": {"labels": [{"add": "c"}, {"remove": "a"}]},
            },
        )
        assert r.status_code == 204
        got = (await client.get(f"/rest/api/3/issue/{key}")).json()["fields"]
        assert got["summary"] == "Edited" and got["labels"] == ["b", "c"]
        r = await client.put(f"/rest/api/3/issue/{key}", json={"fields": {"description": "plain"}})
        assert r.status_code == 400
        story = await create(client, "story", "Story")
        await create(client, "sub", "Sub-task", parent={"key": story})
        assert (await client.delete(f"/rest/api/3/issue/{story}")).status_code == 400
        assert (await client.delete(f"/rest/api/3/issue/{story}", params={"deleteSubtasks": "true"})).status_code == 204
        assert (await client.get(f"/rest/api/3/issue/{story}")).status_code == 404
        assert (await client.get("/_sandbox/state")).json()["issues"]["total"] == 1


async def test_issue_properties_round_trip() -> None:
    async with jira() as (client, _):
        key = await create(client, "props")
        url = f"/rest/api/3/issue/{key}/properties/migrayt.source"
        assert (await client.put(url, json={"adoId": 12})).status_code == 201
        assert (await client.put(url, json={"adoId": 13})).status_code == 200
        assert (await client.get(url)).json() == {"key": "migrayt.source", "value": {"adoId": 13}}
        keys = (await client.get(f"/rest/api/3/issue/{key}/properties")).json()["keys"]
        assert [k["key"] for k in keys] == ["migrayt.source"]
        assert (await client.delete(url)).status_code == 204
        assert (await client.get(url)).status_code == 404


async def test_malformed_json_is_a_400() -> None:
    async with jira() as (client, _):
        r = await client.post("/rest/api/3/issue", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["errorMessages"]
        assert isinstance(client, httpx.AsyncClient)
