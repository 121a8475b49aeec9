"""Manage what you made, in the browser: rename a migration, accept its known failures with a reason until the run
reads "completed with accepted exceptions", see a connection's delete refused while the migration uses it, rotate
its secret (a wrong one is refused, the old one stays), then delete the migration and the connection."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect
from pydantic import SecretStr

from migrayt.connections_store import AdoConnectionInput, JiraCloudConnectionInput
from migrayt.mapping.plan import default_plan
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN
from migrayt.sandbox.testing import running_sandbox
from tests.e2e.conftest import TENANT, screenshot
from tests.integration.harness import wait_final
from tests.integration.test_phase_structure import plan_with_bad_data

ITEMS, SEED = 40, 23


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED, jira_options={"max_attachment_bytes": 4_000}) as server:
        yield server


async def incomplete_migration(web, sandbox) -> tuple[str, str, str]:
    """A migration whose run ended INCOMPLETE (a plan with mistakes), set up through the services the pages call."""
    intake = web.intake
    ado = await intake.save_connection(
        TENANT,
        AdoConnectionInput(
            name="ado to manage", organization_url=sandbox.ado_url, project="Phoenix", pat=SecretStr(DEFAULT_ADO_PAT)
        ),
        "setup",
        "api",
    )
    jira = await intake.save_connection(
        TENANT,
        JiraCloudConnectionInput(
            name="jira to manage",
            site_url=sandbox.jira_url,
            email=DEFAULT_JIRA_EMAIL,
            api_token=SecretStr(DEFAULT_JIRA_TOKEN),
        ),
        "setup",
        "api",
    )
    migration_id = await intake.create_migration_from_connections(
        TENANT, "Phoenix with mistakes", ado.id, jira.id, "PHX", "setup", "api"
    )
    plan = plan_with_bad_data()
    # A status outside some types' workflows is now refused when the plan is saved, not failed in the run: keep the
    # plan's other mistakes (and the files over the sandbox's limit) as this run's failures.
    plan.states["*"]["Removed"] = default_plan().states["*"]["Removed"]
    plan.skip_phases = ["comments"]
    version = await intake.edit_plan(TENANT, migration_id, 1, plan, "setup", "api")
    await intake.approve_plan(TENANT, migration_id, version, "setup", "api")
    run_id = await web.service.start_run(TENANT, migration_id, "setup", "api")
    progress = await wait_final(web, TENANT, run_id)
    assert progress.status == "INCOMPLETE", progress
    return migration_id, run_id, jira.id


async def test_rename_accept_failures_to_completed_with_accepted_exceptions_then_delete(web, page: Page, sandbox):
    migration_id, run_id, jira_id = await incomplete_migration(web, sandbox)

    # Rename from the list.
    await page.goto(f"{web.url}/app")
    manage = page.locator(f'details[data-migration="{migration_id}"]')
    await manage.locator("summary").click()
    await manage.get_by_label("new name").fill("Phoenix, final cutover")
    await screenshot(page, "30-manage-rename")
    await manage.get_by_role("button", name="Rename").click()
    await expect(page.locator("#home-notice")).to_have_text("Migration renamed.")
    await expect(page.get_by_role("link", name="Phoenix, final cutover")).to_be_visible()

    # The run's failures: accept one with its reason, then every failure of each reason left.
    await page.goto(f"{web.url}/app/runs/{run_id}")
    await expect(page.locator("#run-status")).to_have_text("INCOMPLETE")
    failed_at_end = int(await page.locator("#failed-items").inner_text())
    await page.locator("#accept-failures").click()
    await expect(page).to_have_url(re.compile(rf"/app/runs/{run_id}/failures"))
    await screenshot(page, "31-manage-failures-to-accept")
    first = page.locator("#failures tbody tr").first
    await first.get_by_label("why this failure is acceptable").fill("this account left the company")
    await first.get_by_role("button", name="Accept").click()
    await expect(page.locator("#failures-notice")).to_have_text("1 failure accepted.")
    await expect(page.locator("#failure-count")).to_contain_text("1 accepted")
    while await page.locator("#failure-groups tbody tr").count():
        group = page.locator("#failure-groups tbody tr").first
        reason = await group.get_attribute("data-reason")
        await group.get_by_label(f"why the failures of {reason} are acceptable").fill(f"known: {reason}")
        await group.get_by_role("button", name=re.compile(r"^Accept all \d+$")).click()
        await expect(page.locator("#failures-notice")).to_be_visible()
    await expect(page.locator("#run-status")).to_have_text("COMPLETED WITH ACCEPTED EXCEPTIONS")
    await expect(page.locator("#failure-count")).to_contain_text("No failure left open")
    accepted = page.locator("#accepted tbody tr")
    await expect(accepted.first).to_contain_text("this account left the company")
    await expect(accepted.first).to_contain_text("local-user")
    await screenshot(page, "32-manage-failures-accepted")

    await page.goto(f"{web.url}/app/runs/{run_id}")
    await expect(page.locator("#run-status")).to_have_text("COMPLETED WITH ACCEPTED EXCEPTIONS")
    await expect(page.locator("#failed-items")).to_have_text("0")
    await expect(page.locator("#accepted-items")).to_have_text(f"{failed_at_end} accepted")
    audit = await page.locator("#audit").inner_text()
    assert re.search(r"failures accepted[^\n]*\tlocal-user\tweb", audit), audit
    await screenshot(page, "33-manage-run-completed-with-accepted-exceptions")

    # The connection the migration uses cannot go; its secret can be rotated, after a test.
    await page.goto(f"{web.url}/app/connect")
    # A secret's tail is still part of the secret: a saved one is only said to be saved, on both sides.
    await expect(page.locator('#ado-card li[data-kind="ado"] .secret-saved').first).to_have_text("PAT saved")
    await expect(page.locator('#jira-card li[data-kind="jira"] .secret-saved').first).to_have_text("token saved")
    for card in ("#ado-card", "#jira-card"):
        await expect(page.locator(f"{card} li").first).not_to_contain_text("…")
    conn = page.locator(f'details[data-connection="{jira_id}"]')
    await conn.locator("summary").click()
    await conn.get_by_role("button", name="Delete").click()
    # Named as the user knows them: the connection by its label, the migration by its name, counted in words.
    await expect(page.locator("#connect-error")).to_contain_text(
        f'connection "jira to manage" is used by 1 migration: "Phoenix, final cutover" ({migration_id}); delete it'
    )
    await expect(page.locator("#connect-error")).not_to_contain_text("(s)")
    await screenshot(page, "34-manage-connection-in-use")
    conn = page.locator(f'details[data-connection="{jira_id}"]')
    await conn.locator("summary").click()
    await conn.get_by_label("new secret").fill("a-mistyped-token")
    await conn.get_by_role("button", name="Test and replace").click()
    await expect(page.locator("#connect-error")).to_contain_text("the old one stays")
    assert "a-mistyped-token" not in await page.content()
    conn = page.locator(f'details[data-connection="{jira_id}"]')
    await conn.locator("summary").click()
    await conn.get_by_label("new secret").fill(DEFAULT_JIRA_TOKEN)
    await conn.get_by_role("button", name="Test and replace").click()
    await expect(page.locator("#connect-notice")).to_contain_text("Secret tested and replaced")

    # Delete the migration (its box ticked), then the connection is free to go.
    await page.goto(f"{web.url}/app")
    manage = page.locator(f'details[data-migration="{migration_id}"]')
    await manage.locator("summary").click()
    await manage.get_by_label(re.compile("delete everything kept of it")).check()
    await screenshot(page, "35-manage-delete")
    await manage.get_by_role("button", name="Delete").click()
    await expect(page.locator("#home-notice")).to_have_text("Migration deleted; its audit trail stays.")
    await expect(page.locator(f'details[data-migration="{migration_id}"]')).to_have_count(0)
    assert (await page.goto(f"{web.url}/app/runs/{run_id}")).status == 404
    await page.goto(f"{web.url}/app/connect")
    # A secret's tail is still part of the secret: a saved one is only said to be saved, on both sides.
    await expect(page.locator('#ado-card li[data-kind="ado"] .secret-saved').first).to_have_text("PAT saved")
    await expect(page.locator('#jira-card li[data-kind="jira"] .secret-saved').first).to_have_text("token saved")
    for card in ("#ado-card", "#jira-card"):
        await expect(page.locator(f"{card} li").first).not_to_contain_text("…")
    conn = page.locator(f'details[data-connection="{jira_id}"]')
    await conn.locator("summary").click()
    await conn.get_by_role("button", name="Delete").click()
    await expect(page.locator("#connect-notice")).to_have_text("Connection deleted.")
    await expect(page.locator(f'details[data-connection="{jira_id}"]')).to_have_count(0)
