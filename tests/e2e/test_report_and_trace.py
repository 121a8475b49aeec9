"""From the run page: trace one item with the search box, and download the run report."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from tests.e2e.conftest import TENANT, screenshot
from tests.e2e.test_run_controls import approved_migration
from tests.integration.harness import wait_final

ITEMS, SEED = 30, 5


@pytest.fixture
def small_sandbox():
    with running_sandbox(items=ITEMS, seed=SEED) as server:
        yield server


async def test_trace_search_and_report_download_from_the_run_page(web, page: Page, small_sandbox, tmp_path):
    migration_id = await approved_migration(web, small_sandbox)
    run_id = await web.service.start_run(TENANT, migration_id, actor="test", door="web")
    final = await wait_final(web, TENANT, run_id)
    async with web.service.sessions() as session:
        ado_id, jira_key = (
            await session.execute(
                select(ItemRecord.source_key, ItemRecord.target_key)
                .where(ItemRecord.migration_id == migration_id, ItemRecord.kind == "issue", ItemRecord.state == "done")
                .limit(1)
            )
        ).one()

    await page.goto(f"{web.url}/app/runs/{run_id}")
    await page.locator("#item-q").fill(f"#{ado_id}")
    await page.locator("#item-go").click()
    await expect(page.locator("#trace-head")).to_contain_text(f"ADO #{ado_id}")
    await expect(page.locator("#jira-link")).to_have_text(jira_key)
    assert (await page.locator("#jira-link").get_attribute("href")).endswith(f"/browse/{jira_key}")
    assert (await page.locator("#ado-link").get_attribute("href")).endswith(f"/_workitems/edit/{ado_id}")
    await expect(page.locator('#trace tr[data-phase="create_items"][data-state="done"]')).to_have_count(1)
    await expect(page.locator('#trace-phases [data-phase="create_items"]')).to_contain_text("done")
    await screenshot(page, "20-item-trace")

    # The Jira key finds the same item; an unknown one says so.
    await page.locator("#item-q").fill(jira_key)
    await page.locator("#item-go").click()
    await expect(page.locator("#trace-head")).to_contain_text(f"ADO #{ado_id}")
    await page.locator("#item-q").fill("999999")
    await page.locator("#item-go").click()
    await expect(page.locator("#trace-error")).to_contain_text("999999")

    await page.goto(f"{web.url}/app/runs/{run_id}")
    await screenshot(page, "21-run-report-links")
    # The complete failure list, grouped by reason: the generated partner user has no Jira account.
    listing = await web.service.failure_page(TENANT, run_id)
    await page.locator("#all-failures").click()
    await expect(page.locator("#failure-count")).to_contain_text(
        f"{listing.total} failure{'' if listing.total == 1 else 's'}"
    )
    await expect(page.locator("#failure-groups")).to_contain_text("Unmapped user")
    await expect(page.locator("#failures tbody tr")).to_have_count(listing.total)
    await page.locator("#failure-phase").select_option("attachments")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#failure-count")).to_contain_text("No failure left open in Attachments")
    await screenshot(page, "22-run-failures")

    await page.goto(f"{web.url}/app/runs/{run_id}")
    async with page.expect_download() as info:
        await page.locator("#report-html").click()
    download = await info.value
    assert download.suggested_filename == f"migrayt-report-{run_id}.html"
    path = tmp_path / download.suggested_filename
    await download.save_as(path)
    html = path.read_text()
    created = final.counters["create_items"].created
    assert f"{run_id} ({final.status.value})" in html and f'<td class="n">{created}</td>' in html
    assert 'id="failures-total">' in html and 'id="items"' in html and html.count(f"#{ado_id}<") >= 1
