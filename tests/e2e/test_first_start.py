"""The first start of a new user: `migrayt up` with nothing set, then "Test and save" in the browser.

The stack is started the way `migrayt up` starts it (its flags, the launcher's local_stack: embedded
PostgreSQL and Temporal in a fresh state folder), with no MIGRAYT_SECRET_KEY anywhere."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from migrayt.connections_store import MAKE_SECRET_KEY
from migrayt.launcher.demo import _apply_flags, banner
from migrayt.launcher.demo_story import RAISED_UPLOAD_LIMIT, planted
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.jira.config import DATA_CENTER_ATTACHMENT_BYTES
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN, jira_account_id
from migrayt.sandbox.testing import running_sandbox
from migrayt.settings import get_settings
from migrayt.stack.ports import free_port
from migrayt.temporal.search_attributes import STATUS
from tests.e2e.conftest import screenshot
from tests.e2e.test_users_web import INES, row
from tests.e2e.test_wizard import save_ado
from tests.integration.harness import REPO

ITEMS, SEED = 12, 5
UNSET = ("MIGRAYT_SECRET_KEY", "MIGRAYT_DATABASE_URL", "MIGRAYT_TEMPORAL_ADDRESS", "MIGRAYT_AUTH", "MIGRAYT_TENANT")


@pytest.fixture
def fresh_machine(monkeypatch):
    """No Migrayt variable a new user would not have set; a state folder that does not exist yet
    (outside pytest's folder: the embedded PostgreSQL runs as its own user and must reach it)."""
    home = Path(tempfile.mkdtemp(prefix="migrayt-test-up-"))
    # _apply_flags writes variables that monkeypatch cannot put back when they were unset before (its
    # delenv records nothing then), and a leaked MIGRAYT_STATE_DIR gave later worker processes another codec key.
    before = dict(os.environ)
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MIGRAYT_TASK_QUEUE", f"migrayt-first-start-{free_port()}")
    for name in (
        "MIGRAYT_API_PORT",
        "MIGRAYT_API_HOST",
        "MIGRAYT_TEMPORAL_PORT",
        "MIGRAYT_TEMPORAL_UI_PORT",
        "MIGRAYT_STATE_DIR",
    ):
        monkeypatch.delenv(name, raising=False)  # _apply_flags writes them: monkeypatch puts back what was there
    get_settings.cache_clear()
    yield home / "state"
    os.environ.clear()
    os.environ.update(before)
    get_settings.cache_clear()
    shutil.rmtree(home, ignore_errors=True)


async def rows_by_what(table: Locator, what_cell: int, reason_cell: int, kind: str) -> dict[str, str]:
    """A failure table's rows of one kind ("user", "attachment"): what → reason, as the page shows them."""
    out = {}
    for tr in await table.locator("tbody tr").all():
        cells = [" ".join(t.split()) for t in await tr.locator("td").all_inner_texts()]
        if kind in cells[what_cell]:
            out[cells[what_cell]] = cells[reason_cell]
    return out


async def the_run(page: Page) -> str:
    """From the preview: checkout (billing is off on the embedded default), start, wait for the run's page."""
    await page.locator("#to-checkout").click()
    await page.get_by_role("button", name="Start the run").click()
    await expect(page).to_have_url(re.compile(r"/app/runs/run-\w+$"))
    return page.url.rsplit("/", 1)[-1]


async def test_the_first_hour_on_a_default_up_with_no_key(fresh_machine: Path, page: Page):
    """Issue 16's first hour in one browser session. Connect, scan, preview: it predicts what will fail (the four
    unmatched users, the file the sandbox planted over the site's 10 MB limit). Fix it on screen: users mapped in the
    picker and the fallback user, a typo'd issue type refused and one picked from the list; the file, as the 413's
    remedy says, by the Jira administrator raising the site's limit (as `make demo` does). Preview again: nothing
    predicted to fail; run → COMPLETED.

    Then a second migration of the same project into a staging Jira site whose limit stays at 10 MB, the users left
    unmatched: its preview and its run name the same failures for the same reasons and counts (1 failed item, users:
    4 unmatched); the file is accepted with a reason → completed with accepted exceptions; the users mapped to the
    fallback and a re-run: the file fails again, accepted already, so the re-run ends completed with accepted
    exceptions, and Temporal's MigrationStatus says so too. Rename the migration, then delete it."""
    from migrayt.launcher.local import local_stack

    _apply_flags(api_port=free_port(), temporal_port=free_port(), temporal_ui_port=free_port(), state_dir=fresh_machine)
    settings = get_settings()
    assert settings.secret_key is None
    project = GeneratedProject(ProjectSpec(seed=SEED, items=ITEMS))
    with running_sandbox(items=ITEMS, seed=SEED) as sandbox, running_sandbox(items=ITEMS, seed=SEED) as staging:
        story = planted(project, DATA_CENTER_ATTACHMENT_BYTES)
        assert len(story.users) == 4 and len(story.files) == 1  # what this seed plants; the story below relies on it
        [big_file] = story.files
        left = next(u for u in story.users if "deactivated" in u.why)
        async with local_stack(settings) as stack:
            key_file = fresh_machine / "secret-key"
            assert any(str(key_file) in line for line in banner(stack))
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            app = f"{stack.api_url}/app"

            # Connect: both connections tested and saved, sealed with the key `up` made.
            await page.goto(f"{app}/connect")
            await save_ado(page, sandbox.ado_url, "Phoenix", DEFAULT_ADO_PAT)
            await expect(page.locator("#saved-notice")).to_be_visible()
            await save_jira(page, sandbox.jira_url)
            await page.locator("#new-migration").get_by_label("Jira project key").fill("PHX")
            await screenshot(page, "first-hour-01-connect")
            await page.get_by_role("button", name="Create and scan →").click()

            # Scan: the worker opens the sealed secrets with the same key and reads the ADO project.
            await expect(page).to_have_url(re.compile(r"/app/migrations/mig-\w+/scan$"))
            migration_id = page.url.split("/")[-2]
            await page.get_by_role("button", name="Start scan").click()
            await expect(page.locator("#items-total")).to_have_text(str(ITEMS))
            assert DEFAULT_ADO_PAT not in key_file.read_text()
            await screenshot(page, "first-hour-02-scan")
            await page.get_by_role("link", name="Review the mapping →").click()

            # Users: the four the sandbox planted are unmatched, each saying why in its own case.
            await expect(page.locator("#users-summary")).to_contain_text("4 unmatched")
            for user in story.users:
                await expect(row(page, user.unique)).to_contain_text("unmatched")
            await expect(row(page, INES)).to_contain_text("no e-mail in Azure DevOps")
            await expect(row(page, left.unique)).to_contain_text("deactivated in Jira")
            await screenshot(page, "first-hour-03-users-unmatched")

            # Preview the draft before fixing anything: what would fail, by ADO item or user, in the run's words.
            await page.get_by_role("link", name="Preview the draft →").click()
            await page.get_by_role("button", name="Start preview").click()
            await expect(page.locator("#preview-verdict")).to_contain_text("The run would start")
            await expect(page.locator("#predicted-failed-items")).to_have_text("1 failed item")
            await expect(page.locator("#predicted-users-unmatched")).to_have_text("users: 4 unmatched")
            predicted = page.locator("#predicted-failures")
            await expect(predicted).to_contain_text(f"#{big_file.item} · attachment {big_file.name}")
            await expect(predicted.locator("tbody tr", has_text=left.unique)).to_contain_text("deactivated in Jira")
            await screenshot(page, "first-hour-04-preview-predicts")

            # Fix the users: Ines picked from the site's search, the others to the fallback user.
            await page.goto(f"{app}/migrations/{migration_id}/mapping")
            await row(page, INES).locator("input").fill("Ines")
            await row(page, INES).get_by_role("button", name="Ines Corbeau").click()
            await expect(row(page, INES).locator("input")).to_have_value(jira_account_id("INES-LAPTOP\\ines"))
            await page.locator("#fallback-user").fill(DEFAULT_JIRA_EMAIL)
            await page.locator("#save-plan").click()
            await expect(page.locator("#users-summary")).to_contain_text("0 unmatched")
            await expect(row(page, INES)).to_contain_text("picked")
            await expect(row(page, INES).locator(".account-name")).to_have_text("Ines Corbeau")
            await screenshot(page, "first-hour-05-users-mapped")

            # A typo'd issue type, sent through the API as a script would, is refused naming the choices ...
            latest = await page.request.get(f"{stack.api_url}/api/migrations/{migration_id}/plan")
            assert latest.ok, await latest.text()
            typo = (await latest.json())["plan"]
            typo["types"]["User Story"] = "Tset"
            refused = await page.request.put(
                f"{stack.api_url}/api/migrations/{migration_id}/plan",
                data={"base_version": (await latest.json())["version"], "plan": typo},
            )
            assert refused.status == 422, await refused.text()
            assert "Tset" in await refused.text() and "Story" in await refused.text()
            # ... and the page offers only the project's types: pick one from the list.
            await page.reload()
            story_type = page.get_by_label("Work item type → issue type: User Story", exact=True)
            assert "Tset" not in await story_type.locator("option").all_inner_texts()
            await story_type.select_option("Task")
            await page.locator("#save-plan").click()
            await expect(page.locator('tr[data-entry="types/User Story"] select')).to_have_value("Task")
            await expect(page.locator('tr[data-entry="types/User Story"] .badge')).to_have_text("human")
            for box in await page.locator(".acknowledge input").all():
                await box.check()  # the scan's findings that will fail items (the planted file) are known
            await screenshot(page, "first-hour-06-type-picked")
            await page.locator("#approve").click()
            await expect(page.locator("#plan-status")).to_contain_text("approved by")

            # The file: the Jira administrator raises the site's upload limit (System › Attachments; here the
            # sandbox Jira's settings, as `make demo` makes its fix). Preview again: nothing is predicted to fail.
            async with httpx.AsyncClient() as admin:
                raised = await admin.patch(
                    f"{sandbox.jira_url}/_sandbox/settings", json={"max_attachment_bytes": RAISED_UPLOAD_LIMIT}
                )
                assert raised.status_code == 200, raised.text
            await page.get_by_role("link", name="Preview →").click()
            await page.get_by_role("button", name="Preview again").click()
            await expect(page.locator("#no-failures")).to_be_visible()
            await expect(page.locator("#predicted-failed-items")).to_have_text("0 failed items")
            await expect(page.locator("#predicted-users-unmatched")).to_have_count(0)
            await screenshot(page, "first-hour-07-preview-clean")

            # Run: COMPLETED, nothing failed, no user left out.
            run_id = await the_run(page)
            await expect(page.locator("#run-status")).to_have_text("COMPLETED")
            await expect(page.locator("#failed-items")).to_have_text("0")
            await expect(page.locator("#users-unmatched")).to_have_count(0)
            await expect(page.locator("#no-failures")).to_have_text("No item has failed.")
            await screenshot(page, "first-hour-08-run-completed")

            # A second migration of the same project, into a staging site whose administrator keeps 10 MB.
            await page.goto(f"{app}/connect")
            await save_jira(page, staging.jira_url)
            new = page.locator("#new-migration")
            await new.get_by_label("Name").fill("Phoenix, staging trial")
            await expect(new.get_by_label("To")).to_contain_text(staging.jira_url)  # the newest is offered first
            await new.get_by_label("Jira project key").fill("PHX")
            await page.get_by_role("button", name="Create and scan →").click()
            await expect(page).to_have_url(re.compile(r"/app/migrations/mig-\w+/scan$"))
            trial_id = page.url.split("/")[-2]
            await page.get_by_role("button", name="Start scan").click()
            await expect(page.locator("#items-total")).to_have_text(str(ITEMS))
            await page.get_by_role("link", name="Review the mapping →").click()
            await expect(page.locator("#users-summary")).to_contain_text("4 unmatched")
            for box in await page.locator(".acknowledge input").all():
                await box.check()
            await page.locator("#approve").click()
            await expect(page.locator("#plan-status")).to_contain_text("approved by")

            # Its preview and its run count the same (1 failed item, users: 4 unmatched), for the same reasons.
            await page.get_by_role("link", name="Preview →").click()
            await page.get_by_role("button", name="Start preview").click()
            await expect(page.locator("#predicted-failed-items")).to_have_text("1 failed item")
            await expect(page.locator("#predicted-users-unmatched")).to_have_text("users: 4 unmatched")
            predicted = page.locator("#predicted-failures")
            await expect(predicted).to_contain_text(f"#{big_file.item} · attachment {big_file.name}")
            predicted_users = await rows_by_what(predicted, 1, 2, "user ")
            assert len(predicted_users) == 4, predicted_users
            await screenshot(page, "first-hour-09-trial-preview")
            trial_run = await the_run(page)
            await expect(page.locator("#run-status")).to_have_text("INCOMPLETE")
            await expect(page.locator("#failed-items")).to_have_text("1")
            await expect(page.locator("#users-unmatched")).to_have_text("users: 4 unmatched")
            await screenshot(page, "first-hour-10-trial-incomplete")

            # Accept the planted file with a reason: completed with accepted exceptions (users never decide it).
            await page.locator("#accept-failures").click()
            failures = page.locator("#failures")
            assert await rows_by_what(failures, 3, 4, "user ") == predicted_users
            file_row = failures.locator("tbody tr", has_text=big_file.name)
            await expect(file_row).to_contain_text(f"#{big_file.item}")
            await file_row.get_by_label("why this failure is acceptable").fill("a database dump: stays on the share")
            await file_row.get_by_role("button", name="Accept").click()
            await expect(page.locator("#run-status")).to_have_text("COMPLETED WITH ACCEPTED EXCEPTIONS")
            await screenshot(page, "first-hour-11-failure-accepted")
            await page.goto(f"{app}/runs/{trial_run}")
            await expect(page.locator("#run-status")).to_have_text("COMPLETED WITH ACCEPTED EXCEPTIONS")
            await expect(page.locator("#accepted-items")).to_have_text("1 accepted")

            # The users to the fallback user, and a re-run: the file fails again, accepted already.
            await page.goto(f"{app}/migrations/{trial_id}/mapping")
            await page.locator("#fallback-user").fill(DEFAULT_JIRA_EMAIL)
            await page.locator("#save-plan").click()
            await expect(page.locator("#users-summary")).to_contain_text("0 unmatched")
            for box in await page.locator(".acknowledge input").all():
                await box.check()
            await page.locator("#approve").click()
            await expect(page.locator("#plan-status")).to_contain_text("approved by")
            await page.goto(f"{app}/runs/{trial_run}")
            await page.locator("#rerun").click()
            await expect(page).not_to_have_url(re.compile(f"{trial_run}$"))
            rerun = page.url.rsplit("/", 1)[-1]
            await expect(page.locator("#run-status")).to_have_text("COMPLETED WITH ACCEPTED EXCEPTIONS")
            await expect(page.locator("#accepted-items")).to_have_text("1 accepted")
            await expect(page.locator("#users-unmatched")).to_have_count(0)
            await screenshot(page, "first-hour-12-rerun-completed-with-accepted-exceptions")
            described = await stack.client.get_workflow_handle(rerun).describe()
            assert described.typed_search_attributes.get(STATUS) == "COMPLETED_WITH_ACCEPTED_EXCEPTIONS"
            described = await stack.client.get_workflow_handle(run_id).describe()
            assert described.typed_search_attributes.get(STATUS) == "COMPLETED"

            # Rename the trial, then delete it: its run's page is gone.
            await page.goto(app)
            manage = page.locator(f'details[data-migration="{trial_id}"]')
            await manage.locator("summary").click()
            await manage.get_by_label("new name").fill("Phoenix, staging trial (done)")
            await manage.get_by_role("button", name="Rename").click()
            await expect(page.locator("#home-notice")).to_have_text("Migration renamed.")
            await expect(page.get_by_role("link", name="Phoenix, staging trial (done)")).to_be_visible()
            await screenshot(page, "first-hour-13-renamed")
            manage = page.locator(f'details[data-migration="{trial_id}"]')
            await manage.locator("summary").click()
            await manage.get_by_label(re.compile("delete everything kept of it")).check()
            await manage.get_by_role("button", name="Delete").click()
            await expect(page.locator("#home-notice")).to_have_text("Migration deleted; its audit trail stays.")
            await expect(page.locator(f'details[data-migration="{trial_id}"]')).to_have_count(0)
            await expect(page.locator(f'details[data-migration="{migration_id}"]')).to_have_count(1)
            await screenshot(page, "first-hour-14-deleted")
            assert (await page.goto(f"{app}/runs/{trial_run}")).status == 404


async def save_jira(page: Page, url: str) -> None:
    jira = page.locator("#jira-card")
    await jira.get_by_label("Site URL").fill(url)
    await jira.get_by_label("E-mail").fill(DEFAULT_JIRA_EMAIL)
    await jira.get_by_label("API token").fill(DEFAULT_JIRA_TOKEN)
    await jira.get_by_role("button", name="Test and save").click()
    await expect(page.locator("#jira-card li", has_text=url)).to_have_count(1)


def test_a_shared_server_without_a_key_refuses_to_start(tmp_path):
    """The API and the worker of a shared server (auth on), and `migrayt up --auth on`, say how to make a key."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env["MIGRAYT_STATE_DIR"] = str(tmp_path / "state")
    common = ["--database-url", "postgresql://migrayt@127.0.0.1:1/none", "--temporal-address", "127.0.0.1:1"]
    for args in (["api", *common, "--host", "0.0.0.0"], ["worker", *common], ["up", "--auth", "on", "--api-port", "1"]):
        env["MIGRAYT_AUTH"] = "on"
        done = subprocess.run(
            [sys.executable, "-m", "migrayt.api.cli", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        said = " ".join((done.stdout + done.stderr).split())
        assert done.returncode == 2, (args, said)
        assert "MIGRAYT_SECRET_KEY" in said and " ".join(MAKE_SECRET_KEY.split()) in said, (args, said)
    assert not (tmp_path / "state" / "secret-key").exists()
