"""The preview page says where provenance goes — here an info panel, as the site refuses custom fields, and why —
and shows each sample's original dates and people; the mapping page offers each provenance field as a switch."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect
from pydantic import SecretStr

from migrayt.connections_store import AdoConnectionInput, JiraCloudConnectionInput
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN
from migrayt.sandbox.testing import running_sandbox
from tests.e2e.conftest import TENANT, screenshot
from tests.integration.harness import structure_only_plan


@pytest.fixture
def no_admin_sandbox():
    with running_sandbox(items=6, seed=49, jira_options={"field_admin": False}) as server:
        yield server


async def test_the_preview_states_the_panel_fallback_and_the_mapping_switches_provenance(
    web, page: Page, no_admin_sandbox
):
    intake, sandbox = web.intake, no_admin_sandbox
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
        TENANT, "No admin", ado.id, jira.id, "PHX", "setup", "api"
    )
    # No Jira administrator cannot mute the project's notifications either: the plan leaves them on.
    plan = structure_only_plan().model_copy(update={"mute_notifications": False})
    version = await intake.edit_plan(TENANT, migration_id, 1, plan, "setup", "api")
    await intake.approve_plan(TENANT, migration_id, version, "setup", "api")
    await intake.preview_result(await intake.start_preview(TENANT, migration_id, "setup", "api"))

    await page.goto(f"{web.url}/app/migrations/{migration_id}/preview")
    await expect(page.locator("#provenance-where")).to_contain_text("info panel at the top of each description")
    await expect(page.locator("#provenance-where")).to_contain_text("link back to each ADO item")
    await expect(page.locator("#provenance-reason")).to_contain_text("Administer Jira")
    await expect(page.locator(".sample .provenance").first).to_contain_text("Original created")
    await screenshot(page, "preview-provenance-panel")

    await page.goto(f"{web.url}/app/migrations/{migration_id}/mapping")
    section = page.locator("#provenance-fields")
    await expect(section.get_by_label("Original created by")).to_be_checked()
    await expect(section.get_by_label("Link back to the ADO item")).to_be_checked()
    await screenshot(page, "mapping-provenance-switches")
