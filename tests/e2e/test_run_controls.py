"""Pause, resume, cancel and re-run from the progress screen's buttons.

The run is held mid-way on purpose: the sandbox Jira answers the first issue create and holds the
next ones until the test has acted, so the buttons always meet a run under way, however fast the machine.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from playwright.async_api import Page, expect
from pydantic import SecretStr

from migrayt.connections_store import AdoConnectionInput, JiraCloudConnectionInput
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN
from migrayt.sandbox.testing import running_sandbox
from tests.e2e.conftest import TENANT, screenshot
from tests.integration.harness import (
    ISSUE_CREATES,
    ado_labels,
    hold_jira,
    jira_issues,
    release_jira,
    structure_only_plan,
    wait_until_held,
)

ITEMS, SEED = 60, 9


@pytest.fixture
def held_sandbox():
    with running_sandbox(items=ITEMS, seed=SEED) as server:
        yield server


async def until_the_run_has(web, run_id: str, flag: str) -> None:
    """Until the workflow itself has taken the button's request (its progress query says so)."""
    deadline = time.monotonic() + 30
    while not getattr(await web.service.progress(TENANT, run_id), flag):
        assert time.monotonic() < deadline, f"the run never showed {flag}"
        await asyncio.sleep(0.05)


async def jira_requests(sandbox) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(f"{sandbox.jira_url}/_sandbox/faults")).json()["counters"]["requests"]


async def approved_migration(web, sandbox) -> str:
    """Connect, create and approve through the services the pages call (the wizard test clicks through these)."""
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
        TENANT, "Slow Phoenix", ado.id, jira.id, "PHX", "setup", "api"
    )
    version = await intake.edit_plan(TENANT, migration_id, 1, structure_only_plan(), "setup", "api")
    await intake.approve_plan(TENANT, migration_id, version, "setup", "api")
    return migration_id


async def test_pause_and_resume_from_the_buttons(web, page: Page, held_sandbox):
    started = time.monotonic()
    migration_id = await approved_migration(web, held_sandbox)
    await hold_jira(held_sandbox, ISSUE_CREATES, after=1)
    await page.goto(f"{web.url}/app/migrations/{migration_id}/checkout")
    await page.get_by_role("button", name="Start the run").click()
    await expect(page).to_have_url(re.compile(r"/app/runs/run-\w+$"))
    run_id = page.url.rsplit("/", 1)[-1]
    creating = page.locator('[data-phase="create_items"]')
    await expect(creating).to_have_attribute("data-done", re.compile(r"^[1-9]"))
    await wait_until_held(held_sandbox)
    await screenshot(page, "09-run-in-progress")
    print(f"run creating issues {time.monotonic() - started:.1f}s after the test started")

    clicked = time.monotonic()
    await page.get_by_role("button", name="Pause").click()
    await until_the_run_has(web, run_id, "pause_requested")
    # The creates already sent now land and are recorded before the run stops writing.
    await release_jira(held_sandbox)
    await expect(page.locator("#run-status")).to_have_text("PAUSED")
    print(f"pause: PAUSED shown {time.monotonic() - clicked:.1f}s after the click")
    await expect(page.get_by_role("button", name="Pause")).to_be_disabled()
    await expect(page.get_by_role("button", name="Resume")).to_be_enabled()
    await expect(page.locator("#eta")).to_have_text("paused")
    await screenshot(page, "10-run-paused")
    before = await jira_requests(held_sandbox)
    done_paused = int(await creating.get_attribute("data-done"))
    await asyncio.sleep(2)
    assert await jira_requests(held_sandbox) == before, "a paused run must not call Jira"
    assert 0 < done_paused < ITEMS, "paused mid-way: the batches not yet started wait for resume"

    clicked = time.monotonic()
    await page.get_by_role("button", name="Resume").click()
    await expect(page.locator("#run-status")).not_to_have_text("PAUSED")
    print(f"resume: left PAUSED {time.monotonic() - clicked:.1f}s after the click")
    await expect(page.locator("#run-status")).to_have_text(re.compile("COMPLETED|INCOMPLETE"))
    await screenshot(page, "11-run-resumed-finished")
    print(f"finished {time.monotonic() - started:.1f}s after the test started")

    labels = ado_labels(await jira_issues(held_sandbox))
    assert all(len(keys) == 1 for keys in labels.values())
    report = await web.service.run_report(TENANT, run_id)
    c = report.counters["create_items"]
    assert c.created + c.skipped + c.failed == c.total == ITEMS and len(labels) == c.created
    audit = await page.locator("#audit").inner_text()
    for action in ("pause requested", "resume requested"):
        assert re.search(action + r"[^\n]*\tlocal-user\tweb", audit), action
    assert "paused effective" in audit


async def test_cancel_from_the_button_is_final_and_rerun_skips_what_exists(web, page: Page, held_sandbox):
    migration_id = await approved_migration(web, held_sandbox)
    await hold_jira(held_sandbox, ISSUE_CREATES, after=1)
    run_id = await web.service.start_run(TENANT, migration_id, "setup", "api")
    await page.goto(f"{web.url}/app/runs/{run_id}")
    await expect(page.locator('[data-phase="create_items"]')).to_have_attribute("data-done", re.compile(r"^[1-9]"))
    await wait_until_held(held_sandbox)

    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Cancel").click()
    await until_the_run_has(web, run_id, "cancel_requested")
    await release_jira(held_sandbox)
    await expect(page.locator("#run-status")).to_have_text("CANCELLED")
    # A final run offers only what can still be done with it: no dead controls, no speed of a run that stopped.
    for name in ("Pause", "Resume", "Cancel"):
        await expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    await expect(page.get_by_text("items / s")).to_have_count(0)
    await expect(page.get_by_role("button", name="Re-run")).to_be_visible()
    await expect(page.locator("#report-links")).to_be_visible()
    await screenshot(page, "12-run-cancelled")
    landed = len(await jira_issues(held_sandbox))
    assert 0 < landed < ITEMS

    # A cancelled run is final; a re-run starts a new run that skips what already landed.
    await page.get_by_role("button", name="Re-run").click()
    await expect(page).not_to_have_url(re.compile(run_id))
    await expect(page.locator("#run-status")).to_have_text(re.compile("COMPLETED|INCOMPLETE"))
    labels = ado_labels(await jira_issues(held_sandbox))
    assert all(len(keys) == 1 for keys in labels.values())
    rerun = await web.service.run_report(TENANT, page.url.rsplit("/", 1)[-1])
    assert rerun.original_run_id == run_id
    assert rerun.counters["create_items"].skipped == landed
