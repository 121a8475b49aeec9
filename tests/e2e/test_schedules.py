"""The schedules page: a cutover at a set time (UTC), a recurring delta sync, pause / resume / run now / delete,
and errors.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
from playwright.async_api import Page, expect

from migrayt.sandbox.testing import running_sandbox
from migrayt.scheduling.service import ScheduleService
from tests.e2e.conftest import TENANT, screenshot
from tests.e2e.test_run_controls import approved_migration
from tests.integration.harness import create_sandbox_migration, wait_final
from tests.security.web_forms import page_token


@pytest.fixture
def small_sandbox():
    with running_sandbox(items=6, seed=31) as server:
        yield server


def minute(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S")


async def submit_cutover(page: Page, at: datetime) -> None:
    card = page.locator("#cutover-card")
    await card.get_by_label("Start the run at (UTC)").fill(minute(at))
    await card.get_by_role("button", name="Schedule the cutover").click()


async def submit_delta(page: Page, every: str = "", cron: str = "") -> None:
    card = page.locator("#delta-card")
    await card.get_by_label("Every … minutes").fill(every)
    await card.get_by_label("or a cron expression (UTC)").fill(cron)
    await card.get_by_role("button", name="Schedule the delta sync").click()


async def test_schedules_page_creates_pauses_runs_and_deletes(web, page: Page, small_sandbox):
    started = time.monotonic()
    migration_id = await approved_migration(web, small_sandbox)
    try:
        # Reached from the progress screen's neighbour, the checkout page, and the wizard's nav.
        await page.goto(f"{web.url}/app/migrations/{migration_id}/checkout")
        await page.locator("#nav-schedules").click()
        await expect(page).to_have_url(f"{web.url}/app/migrations/{migration_id}/schedules")
        await expect(page.locator("#no-schedules")).to_be_visible()
        await expect(page.locator("#now-utc")).to_contain_text("UTC")

        # A time in the past, a bad cron, both or neither of interval and cron: a message on the page, not a 500.
        await submit_cutover(page, datetime.now(UTC) - timedelta(hours=1))
        await expect(page.locator("#schedule-error")).to_contain_text("in the past")
        await screenshot(page, "13-schedules-error-past")
        await submit_delta(page, cron="every tuesday-ish")
        await expect(page.locator("#schedule-error")).to_contain_text(re.compile("cron|refused", re.I))
        await expect(page.locator("#delta-card").get_by_label("or a cron expression (UTC)")).to_have_value(
            "every tuesday-ish"
        )
        await submit_delta(page, every="30", cron="0 2 * * *")
        await expect(page.locator("#schedule-error")).to_contain_text("either an interval or a cron")
        await expect(page.locator("#no-schedules")).to_be_visible()

        # A cutover a few minutes ahead (UTC) and a delta sync every 12 hours.
        at = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0)
        await submit_cutover(page, at)
        await expect(page.locator("#schedule-notice")).to_have_text("Cutover scheduled.")
        cutover = page.locator('tr[data-kind="cutover"]')
        await expect(cutover).to_have_count(1)
        await expect(cutover.locator("td.next-run")).to_have_text(at.strftime("%Y-%m-%d %H:%M:%S UTC"))
        await expect(cutover).to_have_attribute("data-state", "active")
        await submit_delta(page, every="720")
        await expect(page.locator("#schedule-notice")).to_have_text("Delta sync scheduled.")
        delta = page.locator('tr[data-kind="delta"]')
        await expect(delta).to_contain_text("every 12 h")
        await expect(delta.locator("td.last-result")).to_have_text("not run yet")
        await screenshot(page, "14-schedules-created")

        # Pause and resume the delta sync.
        await delta.get_by_role("button", name="Pause").click()
        await expect(page.locator("#schedule-notice")).to_contain_text("paused")
        await expect(delta).to_have_attribute("data-state", "paused")
        await expect(delta.locator(".badge.state")).to_have_text("paused")
        await expect(delta.get_by_role("button", name="Pause")).to_have_count(0)
        await screenshot(page, "15-schedules-paused")
        await delta.get_by_role("button", name="Resume").click()
        await expect(delta).to_have_attribute("data-state", "active")
        await expect(delta.locator("td.next-run")).to_contain_text(re.compile(r"(00|12):00:00 UTC"))

        # Run now: the delta sync starts at once, and its result shows on the page.
        await delta.get_by_role("button", name="Run now").click()
        await expect(page.locator("#schedule-notice")).to_contain_text("Started now")
        deadline = time.monotonic() + 60  # a deadline, not a race: the page shows the run once it starts
        while not await delta.locator("td.last-result a").count() and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            await page.reload()
        await expect(delta.locator("td.last-result a")).to_have_text(re.compile(r"^delta-"))
        # The sync finishes (before the sandbox goes), and the page says how it ended.
        final = await wait_final(web, TENANT, await delta.locator("td.last-result a").inner_text())
        await page.reload()
        await expect(delta.locator("td.last-result .badge")).to_have_text(final.status)
        # Its progress screen links back to the schedules.
        await delta.locator("td.last-result a").click()
        await expect(page.locator("#run-status")).to_have_text(final.status)
        await page.locator("#run-schedules").click()
        await expect(page).to_have_url(f"{web.url}/app/migrations/{migration_id}/schedules")

        # Delete the cutover (after the confirmation).
        page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await cutover.get_by_role("button", name="Delete").click()
        await expect(page.locator("#schedule-notice")).to_have_text("Schedule deleted.")
        await expect(page.locator('tr[data-kind="cutover"]')).to_have_count(0)
        await expect(delta).to_have_count(1)
        await screenshot(page, "16-schedules-after-delete")

        events = await web.service.audit_events(TENANT, migration_id=migration_id, limit=1000)
        web_actions = [e.action for e in events if e.door == "web" and e.action.startswith("schedule_")]
        for action in (
            "schedule_created",
            "schedule_paused",
            "schedule_resumed",
            "schedule_triggered",
            "schedule_deleted",
        ):
            assert action in web_actions, (action, web_actions)
        assert web_actions.count("schedule_created") == 2  # the refused ones made nothing
        print(f"schedules e2e took {time.monotonic() - started:.1f}s")
    finally:
        # Nothing of this test may fire later in the session.
        svc = ScheduleService(web.settings, web.service.sessions, web.service.temporal)
        for view in await svc.list(TENANT, migration_id):
            await svc.delete(TENANT, view.schedule_id, "cleanup", "test")


@pytest.fixture(scope="module")
async def form_migration(web) -> str:
    # Never contacted: a refused form reaches neither ADO nor Jira.
    nowhere = SimpleNamespace(ado_url="http://127.0.0.1:9/ado", jira_url="http://127.0.0.1:9/jira")
    return await create_sandbox_migration(web, nowhere, tenant=TENANT)


@pytest.mark.parametrize(
    "kind, form",
    [
        ("cutover", {"at": ""}),
        ("cutover", {"at": "next tuesday"}),
        ("cutover", {"at": "2026-02-30T10:00"}),
        ("cutover", {"at": "1999-01-01T00:00:00+05:00"}),
        ("delta", {}),
        ("delta", {"every_minutes": "0"}),
        ("delta", {"every_minutes": "-5"}),
        ("delta", {"every_minutes": "1e9"}),
        ("delta", {"every_minutes": "99999999999999999999"}),
        ("delta", {"cron": "* * *"}),
        ("delta", {"cron": "61 25 * * *"}),
        ("delta", {"cron": "0 2 * * *\x00"}),
        ("delta", {"cron": "0 " * 400}),
    ],
)
async def test_bad_schedule_forms_answer_with_a_message_not_a_500(web, form_migration, kind, form):
    """Whatever is typed (or posted by hand), the page comes back with the reason and nothing is scheduled."""
    migration_id = form_migration
    async with httpx.AsyncClient(base_url=web.url, timeout=20) as http:
        token = await page_token(http, f"/app/migrations/{migration_id}/schedules")  # a form carries its page's token
        r = await http.post(f"/app/migrations/{migration_id}/schedules/{kind}", data={**form, "csrf_token": token})
        assert r.status_code in (400, 422), (r.status_code, r.text[:300])
        error = re.search(r'id="schedule-error">([^<]+)<', r.text)
        assert error and error.group(1).strip(), r.text[:300]
        assert (
            await ScheduleService(web.settings, web.service.sessions, web.service.temporal).list(TENANT, migration_id)
            == []
        )
