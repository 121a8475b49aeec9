"""Users on the mapping screen (issue 16, item 2): every ADO user with its match, a Jira user picker that searches
the site and saves the accountId, and the fallback user — then the run has no user failures."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Page, expect
from pydantic import SecretStr

from migrayt.connections_store import AdoConnectionInput, JiraCloudConnectionInput
from migrayt.contracts.runs import FINAL_STATUSES
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN, jira_account_id
from migrayt.sandbox.testing import running_sandbox
from tests.e2e.conftest import TENANT, screenshot
from tests.integration.harness import structure_only_plan

ITEMS, SEED = 12, 13
INES = "ines-laptop\\ines"


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED) as server:
        yield server


def row(page: Page, ado_user: str):
    css = ado_user.replace("\\", "\\\\")  # a backslash escapes in a CSS string
    return page.locator(f'#user-table tr[data-ado-user="{css}"]')


async def test_map_users_in_the_picker_then_the_run_has_no_user_failures(web, page: Page, sandbox):
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
    migration_id = await intake.create_migration_from_connections(
        TENANT, "Users", ado.id, jira.id, "PHX", "setup", "api"
    )
    await intake.edit_plan(TENANT, migration_id, 1, structure_only_plan(), "setup", "api")
    project = GeneratedProject(ProjectSpec(seed=SEED, items=ITEMS))
    stand_in = next(u for u in project.users if u.in_jira and not u.deleted and u.email and u.jira_email_visible)

    await page.goto(f"{web.url}/app/migrations/{migration_id}/mapping")
    await expect(page.locator("#user-table tbody tr")).to_have_count(len(project.users))
    await expect(row(page, INES)).to_contain_text("unmatched")
    await expect(row(page, stand_in.unique_name.lower())).to_contain_text("by e-mail")
    await expect(page.locator("#users-summary")).to_contain_text("4 unmatched")
    # Chris has left: Jira keeps his account deactivated. Said so, with what to do, not "no Jira account".
    chris = row(page, "chris.walden@acme.example")
    await expect(chris).to_contain_text("deactivated in Jira")
    await expect(chris).to_contain_text("pick another Jira user for them in the plan's user table, or set a fallback")
    await expect(row(page, "morgan.ellery@partner-agency.example")).to_contain_text("no Jira account with this e-mail")
    await screenshot(page, "mapping-users-unmatched")

    # Pick Ines's Jira account from the site's search; name a fallback for those who have none.
    await row(page, INES).locator("input").fill("Ines")
    await row(page, INES).get_by_role("button", name="Ines Corbeau").click()
    await expect(row(page, INES).locator("input")).to_have_value(jira_account_id("INES-LAPTOP\\ines"))
    await page.locator("#fallback-user").fill(stand_in.email or "")
    await screenshot(page, "mapping-users-picked")
    await page.locator("#save-plan").click()

    await expect(row(page, INES)).to_contain_text("picked")
    # The account by its name as Jira shows it; the accountId only in small print and the tooltip.
    await expect(row(page, INES).locator(".account-name")).to_have_text("Ines Corbeau")
    await expect(row(page, INES).locator(".account")).to_have_attribute(
        "title", "accountId " + jira_account_id("INES-LAPTOP\\ines")
    )
    matched = row(page, stand_in.unique_name.lower()).locator(".account")
    await expect(matched.locator(".account-name")).to_have_text(stand_in.display_name)
    await expect(matched).to_contain_text(stand_in.email or "")
    await expect(row(page, "morgan.ellery@partner-agency.example")).to_contain_text("fallback user")
    await expect(page.locator("#users-summary")).to_contain_text("0 unmatched")
    _, plan = await intake.plan(TENANT, migration_id)
    assert plan.users[INES] == jira_account_id("INES-LAPTOP\\ines")
    assert plan.fallback_user_email == stand_in.email
    await screenshot(page, "mapping-users-saved")
    await page.locator("#approve").click()
    await expect(page.locator("#plan-status")).to_contain_text("approved")

    run_id = await web.service.start_run(TENANT, migration_id, actor="setup", door="api")
    while (progress := await web.service.progress(TENANT, run_id)).status not in FINAL_STATUSES:
        await asyncio.sleep(0.5)
    failures = await web.service.failures(TENANT, migration_id, limit=10_000)
    assert [f for f in failures if f["kind"] == "user"] == []
    assert progress.status == "COMPLETED", (progress.status, failures)
