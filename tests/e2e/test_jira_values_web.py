"""Jira values are chosen, not typed (issue 16, item 4), in the browser: the mapping page offers only what the Jira
project has — issue types, each type's workflow statuses, priorities, link types, fields by name — flags a value
the project lacks ("Tset", from a plan made elsewhere), refuses to approve it with a message naming it and the
choices, and takes a type picked from the list."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect
from pydantic import SecretStr

from migrayt.connections_store import AdoConnectionInput, JiraCloudConnectionInput
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN
from migrayt.sandbox.testing import running_sandbox
from tests.e2e.conftest import TENANT, screenshot
from tests.integration.harness import structure_only_plan

ITEMS, SEED = 12, 29
# The site numbered its sprint field otherwise: the page still shows it by name, found by its schema type.
FIELD_IDS = {"customfield_10020": "customfield_10104"}


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED, jira_options={"field_ids": FIELD_IDS}) as server:
        yield server


async def test_pick_a_type_from_the_list_and_a_typo_is_refused(web, page: Page, sandbox):
    intake = web.intake
    ado = await intake.save_connection(
        TENANT,
        AdoConnectionInput(
            name="ado", organization_url=sandbox.ado_url, project="Phoenix", pat=SecretStr(DEFAULT_ADO_PAT)
        ),
        "setup",
        "api",
    )
    jira = await intake.save_connection(
        TENANT,
        JiraCloudConnectionInput(
            name="jira", site_url=sandbox.jira_url, email=DEFAULT_JIRA_EMAIL, api_token=SecretStr(DEFAULT_JIRA_TOKEN)
        ),
        "setup",
        "api",
    )
    typo = structure_only_plan()
    typo.types["User Story"] = "Tset"  # typed by hand elsewhere, before values were checked
    migration_id = await intake.create_migration_from_connections(
        TENANT, "Values", ado.id, jira.id, "PHX", "setup", "api", plan=typo
    )
    scan_id = await intake.start_scan(TENANT, migration_id, "setup", "api", draft_plan=False)
    assert (await intake.scan_result(scan_id)).status == "COMPLETED"

    await page.goto(f"{web.url}/app/migrations/{migration_id}/mapping")
    story = page.locator('tr[data-entry="types/User Story"]')
    await expect(story).to_have_class(re.compile("unknown-value"))
    await expect(story).to_contain_text("“Tset” is not in Jira project PHX")
    # Only the project's standard issue types are offered (sub-tasks have their own row).
    choices = await story.locator("select option").all_inner_texts()
    assert choices == ["Tset — not in Jira", "Epic", "Story", "Task", "Bug", "Test", "Test Set", "Test Plan"]
    # Priorities and link types come from Jira's lists.
    offered = await page.locator('tr[data-entry="priorities/1"] select option').all_inner_texts()
    assert offered[1:] == ["Highest", "High", "Medium", "Low", "Lowest"]
    # States are per type where workflows differ: a Bug may end as Won't Fix, a shared entry may not.
    bug_closed = page.locator('tr[data-entry="states/Bug/Closed"] select')
    assert "Won't Fix" in await bug_closed.locator("option").all_inner_texts()
    assert "Won't Fix" not in await page.locator('tr[data-entry="states/*/Closed"] select option').all_inner_texts()
    # Every field in use is listed by name; ids only in small print.
    fields = page.locator("#plan-fields")
    await expect(page.locator("#fields-summary")).to_contain_text("Azure DevOps fields")
    sprint = fields.locator('tr[data-field="System.IterationPath"]')
    await expect(sprint).to_contain_text("Sprint")
    await expect(sprint.locator(".field-id")).to_have_text("customfield_10104")
    assert await fields.locator("tbody tr").count() > 10
    await screenshot(page, "values-01-typo-flagged")

    # The typo cannot be approved: the message names it and what to choose from.
    await page.get_by_role("button", name=re.compile("Approve version")).click()
    error = page.locator("#plan-error")
    await expect(error).to_contain_text('Not approved: Jira project PHX has no issue type "Tset"')
    await expect(error).to_contain_text("choose one of: Epic, Story, Task, Bug, Test, Test Set, Test Plan, Sub-task")
    await expect(page.locator("#plan-status")).to_contain_text("draft")
    await screenshot(page, "values-02-typo-refused")

    # Pick the type from the list, and a Won't Fix for closed Bugs; save, then approve.
    await page.get_by_label("Work item type → issue type: User Story", exact=True).select_option("Story")
    await bug_closed.select_option("Won't Fix")
    await page.get_by_role("button", name="Save as a new version").click()
    await expect(page.locator("#plan-status")).to_contain_text("Version 2 · draft")
    await expect(page.locator('tr[data-entry="types/User Story"] select')).to_have_value("Story")
    await expect(page.locator('tr[data-entry="types/User Story"]')).not_to_have_class(re.compile("unknown-value"))
    await expect(page.locator('tr[data-entry="states/Bug/Closed"] select')).to_have_value("Won't Fix")
    await page.get_by_role("button", name="Approve version 2").click()
    await expect(page.locator("#plan-status")).to_contain_text("Version 2 approved by")
    await screenshot(page, "values-03-picked-and-approved")
    _, plan = await intake.plan(TENANT, migration_id)
    assert plan.types["User Story"] == "Story" and plan.states["Bug"] == {"Closed": "Won't Fix"}
    assert plan.target_status("Bug", "Closed") == "Won't Fix" and plan.target_status("Task", "Closed") == "Done"
