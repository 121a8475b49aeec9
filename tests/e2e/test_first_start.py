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

import pytest
from playwright.async_api import Page, expect

from migrayt.connections_store import MAKE_SECRET_KEY
from migrayt.launcher.demo import _apply_flags, banner
from migrayt.launcher.demo_story import planted
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.jira.config import DATA_CENTER_ATTACHMENT_BYTES
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN, jira_account_id
from migrayt.sandbox.testing import running_sandbox
from migrayt.settings import get_settings
from migrayt.stack.ports import free_port
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


async def test_the_first_hour_on_a_default_up_with_no_key(fresh_machine: Path, page: Page):
    """Issue 16's first hour in one browser session: connect, scan, map the unmatched users in the picker (and the
    fallback user), a typo'd issue type refused and one picked from the list, preview, run; the only failure is
    the file the sandbox planted over the site's 10 MB limit; accept it with a reason → completed with accepted
    exceptions; rename the migration, then delete it."""
    from migrayt.launcher.local import local_stack

    _apply_flags(api_port=free_port(), temporal_port=free_port(), temporal_ui_port=free_port(), state_dir=fresh_machine)
    settings = get_settings()
    assert settings.secret_key is None
    project = GeneratedProject(ProjectSpec(seed=SEED, items=ITEMS))
    with running_sandbox(items=ITEMS, seed=SEED) as sandbox:
        story = planted(project, DATA_CENTER_ATTACHMENT_BYTES)
        assert len(story.users) == 4 and len(story.files) == 1  # what this seed plants; the story below relies on it
        [big_file] = story.files
        async with local_stack(settings) as stack:
            key_file = fresh_machine / "secret-key"
            assert any(str(key_file) in line for line in banner(stack))
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            app = f"{stack.api_url}/app"

            # Connect: both connections tested and saved, sealed with the key `up` made.
            await page.goto(f"{app}/connect")
            await save_ado(page, sandbox.ado_url, "Phoenix", DEFAULT_ADO_PAT)
            await expect(page.locator("#saved-notice")).to_be_visible()
            jira = page.locator("#jira-card")
            await jira.get_by_label("Site URL").fill(sandbox.jira_url)
            await jira.get_by_label("E-mail").fill(DEFAULT_JIRA_EMAIL)
            await jira.get_by_label("API token").fill(DEFAULT_JIRA_TOKEN)
            await jira.get_by_role("button", name="Test and save").click()
            await expect(page.locator("#jira-card li", has_text=sandbox.jira_url)).to_have_count(1)
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

            # Users: the four the sandbox planted are unmatched; Ines is picked from the site's search, the
            # others go to the fallback user.
            await expect(page.locator("#users-summary")).to_contain_text("4 unmatched")
            for user in story.users:
                await expect(row(page, user.unique)).to_contain_text("unmatched")
            # Each says why in its own case: Ines has no e-mail to match by at all.
            await expect(row(page, INES)).to_contain_text("no e-mail in Azure DevOps")
            await expect(row(page, story.users[0].unique)).to_contain_text("no Jira account with this e-mail")
            await screenshot(page, "first-hour-03-users-unmatched")
            await row(page, INES).locator("input").fill("Ines")
            await row(page, INES).get_by_role("button", name="Ines Corbeau").click()
            await expect(row(page, INES).locator("input")).to_have_value(jira_account_id("INES-LAPTOP\\ines"))
            await page.locator("#fallback-user").fill(DEFAULT_JIRA_EMAIL)
            await page.locator("#save-plan").click()
            await expect(page.locator("#users-summary")).to_contain_text("0 unmatched")
            await expect(row(page, INES)).to_contain_text("picked")
            await screenshot(page, "first-hour-04-users-mapped")

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
            await screenshot(page, "first-hour-05-type-picked")
            await page.locator("#approve").click()
            await expect(page.locator("#plan-status")).to_contain_text("approved by")

            # Preview: the run would start; the planted file is the one failure it predicts.
            await page.get_by_role("link", name="Preview →").click()
            await page.get_by_role("button", name="Start preview").click()
            await expect(page.locator("#preview-verdict")).to_contain_text("The run would start")
            await expect(page.locator("#predicted-failures")).to_contain_text(big_file.name)
            # The set-up counts agree with the failure predicted below them.
            over_limit = page.locator("#preview-live dt", has_text="Attachments over limit").locator(
                "xpath=following-sibling::dd[1]"
            )
            await expect(over_limit).to_have_text("1")
            await screenshot(page, "first-hour-06-preview")

            # Run: billing is off on the embedded default; the run ends with the planted file as its only failure.
            await page.locator("#to-checkout").click()
            await page.get_by_role("button", name="Start the run").click()
            await expect(page).to_have_url(re.compile(r"/app/runs/run-\w+$"))
            run_id = page.url.rsplit("/", 1)[-1]
            await expect(page.locator("#run-status")).to_have_text("INCOMPLETE")
            await expect(page.locator("#failed-items")).to_have_text("1")
            await expect(page.locator("#users-unmatched")).to_have_count(0)
            await screenshot(page, "first-hour-07-run-incomplete")

            # Accept the planted failure with a reason: the run is completed with accepted exceptions.
            await page.locator("#accept-failures").click()
            failure = page.locator("#failures tbody tr")
            await expect(failure).to_have_count(1)
            await expect(failure).to_contain_text(big_file.name)
            await failure.get_by_label("why this failure is acceptable").fill("a database dump: stays on the share")
            await failure.get_by_role("button", name="Accept").click()
            await expect(page.locator("#run-status")).to_have_text("COMPLETED WITH ACCEPTED EXCEPTIONS")
            await screenshot(page, "first-hour-08-failure-accepted")
            await page.goto(f"{app}/runs/{run_id}")
            await expect(page.locator("#run-status")).to_have_text("COMPLETED WITH ACCEPTED EXCEPTIONS")
            await expect(page.locator("#accepted-items")).to_have_text("1 accepted")
            await screenshot(page, "first-hour-09-run-completed-with-accepted-exceptions")

            # Rename the migration, then delete it: its run's page is gone.
            await page.goto(app)
            manage = page.locator(f'details[data-migration="{migration_id}"]')
            await manage.locator("summary").click()
            await manage.get_by_label("new name").fill("Phoenix, first hour")
            await manage.get_by_role("button", name="Rename").click()
            await expect(page.locator("#home-notice")).to_have_text("Migration renamed.")
            await expect(page.get_by_role("link", name="Phoenix, first hour")).to_be_visible()
            await screenshot(page, "first-hour-10-renamed")
            manage = page.locator(f'details[data-migration="{migration_id}"]')
            await manage.locator("summary").click()
            await manage.get_by_label(re.compile("delete everything kept of it")).check()
            await manage.get_by_role("button", name="Delete").click()
            await expect(page.locator("#home-notice")).to_have_text("Migration deleted; its audit trail stays.")
            await expect(page.locator(f'details[data-migration="{migration_id}"]')).to_have_count(0)
            await screenshot(page, "first-hour-11-deleted")
            assert (await page.goto(f"{app}/runs/{run_id}")).status == 404


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
