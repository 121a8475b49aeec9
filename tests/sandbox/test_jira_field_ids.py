"""A site whose custom fields carry other ids than the sandbox's defaults, as every real site's do: the sprint
and story points fields are served, written and read under the configured ids, with their schema types, and
the default ids are unknown there."""

from __future__ import annotations

from jira_contract import validate_response
from jira_support import create, issue_body, jira

from migrayt.sandbox.jira.app import JiraSandboxConfig

RENAMED = JiraSandboxConfig(
    field_ids={"customfield_10020": "customfield_10104", "customfield_10016": "customfield_10133"}
)


async def test_fields_are_listed_under_the_sites_own_ids_with_their_schema() -> None:
    async with jira(RENAMED) as (client, _):
        listed = await client.get("/rest/api/3/field")
        validate_response("GET", "/rest/api/3/field", 200, listed.json())  # FieldDetails, as the spec says
        fields = {f["id"]: f for f in listed.json()}
        assert "customfield_10020" not in fields and "customfield_10016" not in fields
        sprint = fields["customfield_10104"]
        assert sprint["name"] == "Sprint" and sprint["schema"]["custom"] == "com.pyxis.greenhopper.jira:gh-sprint"
        assert sprint["schema"]["customId"] == 10104 and "cf[10104]" in sprint["clauseNames"]
        points = fields["customfield_10133"]
        assert points["schema"]["custom"] == "com.pyxis.greenhopper.jira:jsw-story-points"
        path = "/rest/api/3/issue/createmeta/PHX/issuetypes/10001"
        answer = (await client.get(path)).json()
        validate_response("GET", path, 200, answer)
        meta = answer["fields"]
        assert {"customfield_10104", "customfield_10133"} <= {f["fieldId"] for f in meta}


async def test_values_are_written_and_read_under_the_sites_ids_and_the_default_ids_are_unknown() -> None:
    async with jira(RENAMED) as (client, _):
        key = await create(client, "Sized", "Story", customfield_10133=5)
        got = (await client.get(f"/rest/api/3/issue/{key}", params={"fields": "customfield_10133"})).json()
        assert got["fields"] == {"customfield_10133": 5}
        r = await client.post("/rest/api/3/issue", json=issue_body("Old id", "Story", customfield_10016=3))
        assert r.status_code == 400
        assert r.json()["errors"] == {
            "customfield_10016": "Field 'customfield_10016' cannot be set. It is not on the appropriate screen, "
            "or unknown."
        }
