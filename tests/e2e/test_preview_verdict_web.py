"""One verdict before paying: a preview saying the run would not start shows that alone, with a way back to the
mapping and no Checkout; the checkout page offers neither payment nor a start."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect
from pydantic import SecretStr

from migrayt.connections_store import AdoConnectionInput, JiraCloudConnectionInput
from migrayt.core.errors import RunConflict
from migrayt.mapping import versions
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN
from migrayt.sandbox.testing import running_sandbox
from tests.e2e.conftest import TENANT, screenshot
from tests.integration.harness import structure_only_plan


@pytest.fixture
def small_sandbox():
    with running_sandbox(items=6, seed=48) as server:
        yield server


async def test_a_preview_that_says_no_leaves_no_checkout(web, page: Page, small_sandbox):
    intake = web.intake
    ado = await intake.save_connection(
        TENANT,
        AdoConnectionInput(
            name="ado", organization_url=small_sandbox.ado_url, project="Phoenix", pat=SecretStr(DEFAULT_ADO_PAT)
        ),
        "setup",
        "api",
    )
    jira = await intake.save_connection(
        TENANT,
        JiraCloudConnectionInput(
            name="jira",
            site_url=small_sandbox.jira_url,
            email=DEFAULT_JIRA_EMAIL,
            api_token=SecretStr(DEFAULT_JIRA_TOKEN),
        ),
        "setup",
        "api",
    )
    migration_id = await intake.create_migration_from_connections(
        TENANT, "Typo'd type", ado.id, jira.id, "PHX", "setup", "api"
    )
    plan = structure_only_plan()
    plan.types["User Story"] = "Tset"
    # Saving or approving "Tset" is refused now; a plan approved before Jira values were checked (an older
    # installation's) still has the preview say no.
    async with web.service.sessions() as session:
        row = await versions.add_version(
            session, tenant=TENANT, migration_id=migration_id, plan=plan, origin="human", actor="setup", door="api"
        )
        await versions.approve(
            session, tenant=TENANT, migration_id=migration_id, version=row.version, actor="setup", door="api"
        )
        await session.commit()
    await intake.preview_result(await intake.start_preview(TENANT, migration_id, "setup", "api"))

    await page.goto(f"{web.url}/app/migrations/{migration_id}/preview")
    await expect(page.locator("#preview-verdict")).to_contain_text("The run would not start")
    await expect(page.locator("#preview-verdict")).to_contain_text("'Tset'")
    await expect(page.get_by_text("every item is predicted to land")).to_have_count(0)
    await expect(page.locator("#to-checkout")).to_have_count(0)
    await screenshot(page, "preview-would-not-start")
    await page.locator("#to-mapping").click()
    await expect(page).to_have_url(f"{web.url}/app/migrations/{migration_id}/mapping")

    await page.goto(f"{web.url}/app/migrations/{migration_id}/checkout")
    await expect(page.locator("#preview-verdict")).to_contain_text("would not start")
    await expect(page.locator("#start-run")).to_have_count(0)
    await expect(page.locator("#pay")).to_have_count(0)
    await expect(page.locator("#to-mapping")).to_be_visible()
    await screenshot(page, "checkout-would-not-start")
    with pytest.raises(RunConflict, match="would not start"):
        await web.service.start_run(TENANT, migration_id, "web-user", "web")
