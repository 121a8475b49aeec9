"""Jira values are chosen from what the Jira project has, not typed: the API offers the project's issue types
with their workflows' statuses, fields by name, priorities and link types, and refuses (422) a plan naming
anything else — on save and on approval — with a message naming the bad value and the ones to choose from."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from migrayt.sandbox.testing import running_sandbox
from migrayt.settings import get_settings
from tests.api.conftest import ADMIN_TOKEN, served
from tests.api.helpers import migration_body
from tests.api.test_migration_from_connections import save_connections

TENANT = "values-corp"
TYPES = ["Epic", "Story", "Task", "Bug", "Test", "Test Set", "Test Plan", "Sub-task"]  # Xray's types too


@pytest.fixture(scope="module")
def sandbox():
    with running_sandbox(items=20, seed=3, jira_options={"field_ids": {"customfield_10020": "customfield_10104"}}) as s:
        yield s


async def draft_migration(api, sandbox, plan: dict | None = None) -> tuple[object, str]:
    token = await api.issue_token(TENANT, name="values")
    body = migration_body(sandbox, TENANT)
    if plan is not None:
        body["plan"] = plan
    async with api.client(token) as http:
        r = await http.post("/api/migrations", json=body)
        assert r.status_code == 201, r.text
        return token, r.json()["id"]


async def test_the_options_are_what_the_project_has(api, sandbox):
    token, mid = await draft_migration(api, sandbox)
    async with api.client(token) as http:
        r = await http.get(f"/api/migrations/{mid}/plan/jira-options")
    assert r.status_code == 200, r.text
    options = r.json()
    assert [t["name"] for t in options["issue_types"]] == TYPES
    statuses = {t["name"]: [s["name"] for s in t["statuses"]] for t in options["issue_types"]}
    assert "Won't Fix" in statuses["Bug"] and "Won't Fix" not in statuses["Story"]  # each type's own workflow
    assert options["priorities"] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert options["link_types"] == ["Blocks", "Cloners", "Duplicate", "Relates"]
    names = {f["id"]: f["name"] for f in options["fields"]}
    assert names["customfield_10104"] == "Sprint" and names["customfield_10016"] == "Story point estimate"
    assert options["sprint_field"] == "customfield_10104"  # found by its schema type, not a fixed id
    assert options["story_points_field"] == "customfield_10016"


BAD_EDITS = {
    "issue type": (lambda p: p["types"].update({"User Story": "Tset"}), ['issue type "Tset"', "Story", "Sub-task"]),
    "sub-task type": (lambda p: p["subtask_types"].update({"Task": "Subtask"}), ['issue type "Subtask"', "Sub-task"]),
    "status": (lambda p: p["states"]["*"].update({"Active": "Doing"}), ['status "Doing"', "In Progress"]),
    "status of the type's workflow": (
        lambda p: p["states"].update({"Task": {"Removed": "Won't Fix"}}),
        ['status "Won\'t Fix" in the workflow of Task', "Done"],
    ),
    "status not in every type's workflow": (
        lambda p: p["states"]["*"].update({"Closed": "Won't Fix"}),
        ['status "Won\'t Fix" (ADO state "Closed", any type) is not in the workflow of every type', "per type"],
    ),
    "priority": (lambda p: p["priorities"].update({"1": "Urgent"}), ['priority "Urgent"', "Highest"]),
    "link type": (
        lambda p: p["link_types"].update({"System.LinkTypes.Related": "Relates to"}),
        ['link type "Relates to"', "Relates"],
    ),
    "field": (
        lambda p: p["fields"].append(
            {"source": "Microsoft.VSTS.Scheduling.StoryPoints", "target": "customfield_10020", "transform": "number"}
        ),
        ['field "customfield_10020"', "customfield_10104 (Sprint)"],
    ),
}


@pytest.mark.parametrize("kind", list(BAD_EDITS))
async def test_saving_a_value_the_project_does_not_have_is_refused_naming_it(api, sandbox, kind):
    token, mid = await draft_migration(api, sandbox)
    edit, expected = BAD_EDITS[kind]
    async with api.client(token) as http:
        latest = (await http.get(f"/api/migrations/{mid}/plan")).json()
        plan = latest["plan"]
        edit(plan)
        r = await http.put(f"/api/migrations/{mid}/plan", json={"base_version": latest["version"], "plan": plan})
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        for words in expected:
            assert words in detail, (words, detail)
        assert len(r.json()["problems"]) == 1
        # Nothing was kept: the latest version is the one before.
        assert (await http.get(f"/api/migrations/{mid}/plan")).json()["version"] == latest["version"]


async def test_a_state_mapped_per_type_to_a_status_of_that_types_workflow_is_saved(api, sandbox):
    token, mid = await draft_migration(api, sandbox)
    async with api.client(token) as http:
        latest = (await http.get(f"/api/migrations/{mid}/plan")).json()
        plan = latest["plan"]
        plan["states"]["Bug"] = {"Removed": "Won't Fix"}
        r = await http.put(f"/api/migrations/{mid}/plan", json={"base_version": latest["version"], "plan": plan})
        assert r.status_code == 201, r.text
        assert r.json()["plan"]["states"]["Bug"] == {"Removed": "Won't Fix"}
        assert (await http.post(f"/api/migrations/{mid}/plan/approve", json={})).status_code == 200


async def test_approving_a_plan_that_names_values_the_project_does_not_have_is_refused(api, sandbox):
    # A plan kept before values were checked (here: given when the migration was made) cannot be approved.
    plan = migration_body(sandbox, TENANT)["plan"]
    for edit, _ in BAD_EDITS.values():
        edit(plan)
    token, mid = await draft_migration(api, sandbox, plan)
    async with api.client(token) as http:
        r = await http.post(f"/api/migrations/{mid}/plan/approve", json={})
        assert r.status_code == 422, r.text
        problems = r.json()["problems"]
        assert len(problems) == len(BAD_EDITS), problems
        for _, expected in BAD_EDITS.values():
            assert any(expected[0] in p for p in problems), (expected[0], problems)
        assert (await http.get(f"/api/migrations/{mid}/plan")).json()["status"] == "draft"


@pytest.fixture
async def api_unsealing(stack, monkeypatch):
    """The API with MIGRAYT_SECRET_KEY in its process, as `migrayt up` runs it: it opens saved connections."""
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("MIGRAYT_SECRET_KEY", key)
    get_settings.cache_clear()
    try:
        async with served(stack, auth="on", admin_token=SecretStr(ADMIN_TOKEN), secret_key=SecretStr(key)) as api:
            yield api
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


async def test_a_migration_made_with_its_plan_approved_is_refused_while_the_plan_names_a_value_jira_lacks(
    api_unsealing, sandbox
):
    api = api_unsealing
    token = await api.issue_token(TENANT, name="values")
    async with api.client(token) as http:
        ado, jira = await save_connections(http, sandbox)
        plan = migration_body(sandbox, TENANT)["plan"]
        plan["types"]["User Story"] = "Tset"
        body = {
            "name": "Approved at birth",
            "source_connection_id": ado,
            "target_connection_id": jira,
            "project_key": "PHX",
            "plan": plan,
            "approve_plan": True,
        }
        r = await http.post("/api/migrations", json=body)
        assert r.status_code == 422, r.text
        assert 'no issue type "Tset"' in r.json()["detail"]
        assert "Approved at birth" not in {m["name"] for m in (await http.get("/api/migrations")).json()}
        plan["types"]["User Story"] = "Story"
        made = await http.post("/api/migrations", json=body)
        assert made.status_code == 201, made.text
        assert made.json()["plan"]["status"] == "approved"
