"""The sandbox Jira serves custom field creation, the project's screens and JQL on a datetime custom field as the
platform spec says (every answer checked against the official schema)."""

from __future__ import annotations

from jira_contract import validate_response
from jira_support import issue_body, jira

from migrayt.sandbox.jira.app import JiraSandboxConfig

TYPES = "com.atlassian.jira.plugin.system.customfieldtypes:"


class Checked:
    def __init__(self, client) -> None:
        self.client = client

    async def __call__(self, method: str, path: str, expect: int, **kw):
        r = await self.client.request(method, path, **kw)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        body = r.json() if r.content else None
        validate_response(method, path, r.status_code, body)
        return body


async def project_screens(c: Checked) -> list[tuple[int, int]]:
    """(screen, tab) of every create/edit screen of project PHX, found the way a client finds them."""
    project = await c("GET", "/rest/api/3/project/PHX", 200)
    schemes = await c("GET", f"/rest/api/3/issuetypescreenscheme/project?projectId={project['id']}", 200)
    scheme_id = schemes["values"][0]["issueTypeScreenScheme"]["id"]
    mapping = await c("GET", f"/rest/api/3/issuetypescreenscheme/mapping?issueTypeScreenSchemeId={scheme_id}", 200)
    ids = ",".join(sorted({m["screenSchemeId"] for m in mapping["values"]}))
    screen_schemes = await c("GET", f"/rest/api/3/screenscheme?id={ids}", 200)
    out = []
    for scheme in screen_schemes["values"]:
        for screen in {scheme["screens"].get(k) or scheme["screens"]["default"] for k in ("create", "edit")}:
            tabs = await c("GET", f"/rest/api/3/screens/{screen}/tabs", 200)
            out.append((screen, tabs[0]["id"]))
    return out


async def test_a_created_datetime_field_is_settable_once_on_every_screen_and_searchable_by_jql() -> None:
    async with jira() as (client, _):
        c = Checked(client)
        perms = await c("GET", "/rest/api/3/mypermissions?permissions=ADMINISTER", 200)
        assert perms["permissions"]["ADMINISTER"]["havePermission"] is True
        field = await c(
            "POST",
            "/rest/api/3/field",
            201,
            json={"name": "Original created", "type": TYPES + "datetime", "searcherKey": TYPES + "datetimerange"},
        )
        fid, number = field["id"], field["schema"]["customId"]
        assert field["custom"] is True and field["schema"]["type"] == "datetime"
        assert f"cf[{number}]" in field["clauseNames"]
        assert fid in {f["id"] for f in await c("GET", "/rest/api/3/field", 200)}

        # Not on a screen yet: Jira refuses the value.
        body = issue_body("early", **{fid: "2024-01-02T03:04:05.000+0000"})
        refused = await c("POST", "/rest/api/3/issue", 400, json=body)
        assert "appropriate screen" in refused["errors"][fid]

        screens = await project_screens(c)
        assert len(screens) == 2, "Bugs have their own screen"
        for screen, tab in screens:
            await c("POST", f"/rest/api/3/screens/{screen}/tabs/{tab}/fields", 200, json={"fieldId": fid})
            on_tab = await c("GET", f"/rest/api/3/screens/{screen}/tabs/{tab}/fields", 200)
            assert fid in {f["id"] for f in on_tab}
            await c("POST", f"/rest/api/3/screens/{screen}/tabs/{tab}/fields", 400, json={"fieldId": fid})
        meta = await c("GET", "/rest/api/3/issue/createmeta/PHX/issuetypes/10004", 200)
        assert fid in {f["fieldId"] for f in meta["fields"]}

        keys = {}
        for when in ("2023-12-31T23:59:59.000+0000", "2024-01-15T10:30:00+01:00", "2024-03-01T00:00:00.000+0000"):
            made = await c(
                "POST", "/rest/api/3/issue", 201, json=issue_body(when, "Bug", priority={"name": "High"}, **{fid: when})
            )
            keys[when] = made["key"]
        await c("POST", "/rest/api/3/issue", 400, json=issue_body("bad", **{fid: "yesterday"}))

        got = await c("GET", f"/rest/api/3/issue/{keys['2024-01-15T10:30:00+01:00']}?fields={fid}", 200)
        assert got["fields"][fid] == "2024-01-15T09:30:00.000+0000"  # stored in UTC

        for jql in (
            f'cf[{number}] >= "2024-01-01" AND cf[{number}] < "2024-02-01"',
            '"Original created" >= "2024-01-01" AND "Original created" < "2024-02-01"',
        ):
            found = await c("POST", "/rest/api/3/search/jql", 200, json={"jql": jql, "fields": ["summary", fid]})
            assert [i["key"] for i in found["issues"]] == [keys["2024-01-15T10:30:00+01:00"]]
        empty = await c("POST", "/rest/api/3/search/jql", 200, json={"jql": f"cf[{number}] is EMPTY and project = PHX"})
        assert empty["issues"] == []

        # Jira lets two fields share a name: a client must look before it creates.
        await c("POST", "/rest/api/3/field", 201, json={"name": "Original created", "type": TYPES + "datetime"})
        named = [f for f in await c("GET", "/rest/api/3/field", 200) if f["name"] == "Original created"]
        assert len(named) == 2

        await c("DELETE", f"/rest/api/3/field/{fid}", 303)
        assert fid not in {f["id"] for f in await c("GET", "/rest/api/3/field", 200)}


async def test_a_user_who_is_no_administrator_is_refused_field_creation_and_told_so() -> None:
    async with jira(JiraSandboxConfig(field_admin=False)) as (client, _):
        c = Checked(client)
        perms = await c("GET", "/rest/api/3/mypermissions?permissions=ADMINISTER", 200)
        assert perms["permissions"]["ADMINISTER"]["havePermission"] is False
        r = await client.post("/rest/api/3/field", json={"name": "ADO ID", "type": TYPES + "float"})
        assert r.status_code == 403
        assert "administrators" in r.json()["errorMessages"][0]


async def test_custom_fields_and_their_screens_survive_a_restart(tmp_path) -> None:
    config = JiraSandboxConfig(state_dir=tmp_path)
    async with jira(config) as (client, _):
        fid = (await client.post("/rest/api/3/field", json={"name": "ADO ID", "type": TYPES + "float"})).json()["id"]
        r = await client.post("/rest/api/3/screens/10000/tabs/10000/fields", json={"fieldId": fid})
        assert r.status_code == 200, r.text
        r = await client.post("/rest/api/3/issue", json=issue_body("kept", **{fid: 42}))
        assert r.status_code == 201, r.text
        key = r.json()["key"]
    async with jira(config) as (client, _):
        assert (await client.get(f"/rest/api/3/issue/{key}?fields={fid}")).json()["fields"][fid] == 42
        found = (
            await client.get("/rest/api/3/search/jql", params={"jql": '"ADO ID" = 42', "fields": "summary"})
        ).json()
        assert [i["key"] for i in found["issues"]] == [key]
