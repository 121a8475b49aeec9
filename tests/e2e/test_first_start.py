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
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN
from migrayt.sandbox.testing import running_sandbox
from migrayt.settings import get_settings
from migrayt.stack.ports import free_port
from tests.e2e.conftest import screenshot
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


async def test_test_and_save_works_on_a_default_up_with_no_key(fresh_machine: Path, page: Page):
    from migrayt.launcher.local import local_stack

    _apply_flags(api_port=free_port(), temporal_port=free_port(), temporal_ui_port=free_port(), state_dir=fresh_machine)
    settings = get_settings()
    assert settings.secret_key is None
    with running_sandbox(items=ITEMS, seed=SEED) as sandbox:
        async with local_stack(settings) as stack:
            key_file = fresh_machine / "secret-key"
            assert any(str(key_file) in line for line in banner(stack))
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

            await page.goto(f"{stack.api_url}/app/connect")
            await save_ado(page, sandbox.ado_url, "Phoenix", DEFAULT_ADO_PAT)
            await expect(page.locator("#saved-notice")).to_be_visible()
            jira = page.locator("#jira-card")
            await jira.get_by_label("Site URL").fill(sandbox.jira_url)
            await jira.get_by_label("E-mail").fill(DEFAULT_JIRA_EMAIL)
            await jira.get_by_label("API token").fill(DEFAULT_JIRA_TOKEN)
            await jira.get_by_role("button", name="Test and save").click()
            await expect(page.locator("#jira-card li", has_text=sandbox.jira_url)).to_have_count(1)
            await screenshot(page, "first-start-connect")
            # The worker opens the sealed secrets with the same key: the scan reads the ADO project.
            await page.locator("#new-migration").get_by_label("Jira project key").fill("PHX")
            await page.get_by_role("button", name="Create and scan →").click()
            await expect(page).to_have_url(re.compile(r"/app/migrations/mig-\w+/scan$"))
            await page.get_by_role("button", name="Start scan").click()
            await expect(page.locator("#items-total")).to_have_text(str(ITEMS))
            assert DEFAULT_ADO_PAT not in key_file.read_text()


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
