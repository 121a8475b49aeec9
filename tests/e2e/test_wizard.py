"""The whole wizard in a browser on the sandbox: connect → scan → mapping → preview → checkout → run."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN
from migrayt.sandbox.testing import running_sandbox
from tests.e2e.conftest import TENANT, screenshot
from tests.integration.harness import ado_labels, jira_issues

ITEMS, SEED = 40, 21


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED) as server:
        yield server


async def save_ado(page: Page, url: str, project: str, pat: str) -> None:
    card = page.locator("#ado-card")
    await card.get_by_label("Organization URL").fill(url)
    await card.get_by_label("Project").fill(project)
    await card.get_by_label("Personal access token").fill(pat)
    await card.get_by_role("button", name="Test and save").click()


async def test_full_wizard_run_on_the_sandbox(web, page: Page, sandbox):
    await page.goto(f"{web.url}/app")
    await screenshot(page, "01-home")
    await page.get_by_role("link", name=re.compile("New migration|Start: connect")).first.click()
    await expect(page).to_have_url(f"{web.url}/app/connect")

    # Connect: each connection is tested on save; a wrong PAT is refused with the reason and kept nowhere.
    await save_ado(page, sandbox.ado_url, "Phoenix", "wrong-pat-123456")
    await expect(page.locator("#ado-card .alert.error")).to_contain_text("refused the PAT")
    await expect(page.locator("#ado-card").get_by_label("Project")).to_have_value("Phoenix")
    await screenshot(page, "02-connect-refused")
    await save_ado(page, sandbox.ado_url, "Phoenix", DEFAULT_ADO_PAT)
    await expect(page.locator("#saved-notice")).to_be_visible()
    jira = page.locator("#jira-card")
    await jira.get_by_label("Site URL").fill(sandbox.jira_url)
    await jira.get_by_label("E-mail").fill(DEFAULT_JIRA_EMAIL)
    await jira.get_by_label("API token").fill(DEFAULT_JIRA_TOKEN)
    await jira.get_by_role("button", name="Test and save").click()
    await expect(page.locator("#jira-card li", has_text=sandbox.jira_url)).to_have_count(1)
    await expect(page.locator("#ado-card li", has_text=sandbox.ado_url)).to_have_count(
        1
    )  # the refused one was not kept
    assert DEFAULT_ADO_PAT not in await page.content() and DEFAULT_JIRA_TOKEN not in await page.content()
    await page.locator("#new-migration").get_by_label("Jira project key").fill("PHX")
    await screenshot(page, "03-connect")
    await page.get_by_role("button", name="Create and scan →").click()

    # Scan: catalog, lint findings and quote of the sandbox project.
    await expect(page).to_have_url(re.compile(r"/app/migrations/mig-\w+/scan$"))
    migration_id = page.url.split("/")[-2]
    await page.get_by_role("button", name="Start scan").click()
    await expect(page.locator("#items-total")).to_have_text(str(ITEMS))
    await expect(page.locator("#quote tfoot .total")).to_contain_text("USD")
    await expect(page.locator("#lint")).to_be_visible()
    await screenshot(page, "04-scan")

    # Mapping: every entry shows its source and confidence; an edit is a new (human) version; approve it.
    await page.get_by_role("link", name="Review the mapping →").click()
    entries = page.locator("#plan-entries tbody tr")
    assert await entries.count() > 10
    await expect(page.locator("#plan-entries .badge.origin-rule").first).to_be_visible()
    drafted = int(re.search(r"Version (\d+)", await page.locator("#plan-status").inner_text()).group(1))
    await page.get_by_label("Priority: 1", exact=True).select_option("High")  # chosen from Jira's priorities
    await page.get_by_label("Attachments", exact=True).check()
    await page.get_by_label("Comments", exact=True).check()
    await page.get_by_role("button", name="Save as a new version").click()
    await expect(page.locator("#plan-status")).to_contain_text(f"Version {drafted + 1} · draft")
    edited = page.locator('tr[data-entry="priorities/1"]')
    await expect(edited.locator(".badge")).to_have_text("human")
    await expect(edited.locator("select")).to_have_value("High")
    await screenshot(page, "05-mapping")
    await page.get_by_role("button", name=f"Approve version {drafted + 1}").click()
    await expect(page.locator("#plan-status")).to_contain_text(f"Version {drafted + 1} approved by")

    # Preview: samples side by side and the predicted failures; nothing written to Jira.
    await page.get_by_role("link", name="Preview →").click()
    await page.get_by_role("button", name="Start preview").click()
    await expect(page.locator("#preview-verdict")).to_contain_text("The run would start")
    await expect(page.locator("#samples .sample").first).to_be_visible()
    assert await jira_issues(sandbox) == []
    await screenshot(page, "06-preview")

    # Checkout: billing is off on the embedded default, so the run starts straight away.
    await page.get_by_role("link", name="Checkout →").click()
    await expect(page.locator("#billing-off")).to_contain_text("Billing is off")
    await screenshot(page, "07-checkout")
    await page.get_by_role("button", name="Start the run").click()

    # Run: bars fill to the end; the page's counters match what landed in Jira.
    await expect(page).to_have_url(re.compile(r"/app/runs/run-\w+$"))
    await expect(page.locator("#run-status")).to_have_text(re.compile("COMPLETED|INCOMPLETE"))
    created = page.locator('[data-phase="create_items"] .done-of')
    done, total = map(int, re.findall(r"\d+", await created.inner_text()))
    assert done == total > 0
    await expect(page.locator("#pause")).to_have_count(0)  # a final run has no controls left but re-run
    await screenshot(page, "08-run-finished")
    issues = await jira_issues(sandbox)
    labels = ado_labels(issues)
    assert all(len(keys) == 1 for keys in labels.values())
    counters = (await web.service.run_report(TENANT, page.url.rsplit("/", 1)[-1])).counters
    assert len(labels) == counters["create_items"].created
    assert counters["attachments"].created == 0 and counters["comments"].created == 0  # left out in the mapping step
    audit = await page.locator("#audit").inner_text()
    for action in ("migration created", "plan approved", "run requested", "run finished"):
        assert action in audit, action
    await page.get_by_role("link", name="Migrations").click()
    await expect(page.locator(f'a[href="/app/migrations/{migration_id}/scan"]')).to_be_visible()
