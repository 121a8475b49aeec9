"""Browser tests: the web app served by uvicorn on the test stack, driven by Playwright in Debian's Chromium.

`make test` installs Chromium (apt) and the Python `playwright` package; Playwright's own browser
download is never used. Screenshots go to test-artifacts/screenshots/ (CI keeps them).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from cryptography.fernet import Fernet
from pydantic import SecretStr

from migrayt.api.app import create_app
from migrayt.settings import Settings, get_settings
from migrayt.stack.ports import free_port
from migrayt.store.db import upgrade_schema
from migrayt.temporal.client import connect_temporal
from migrayt.worker.main import run_worker
from tests.integration.harness import HANG_GUARD_SECONDS, REPO, test_settings

HANG_GUARD_MS = HANG_GUARD_SECONDS * 1000

CHROMIUM = os.environ.get("MIGRAYT_CHROMIUM", "/usr/bin/chromium")
# This machine's network is closed: without these Chromium keeps calling out and failing.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
TENANT = "web-e2e"


@dataclass
class WebStack:
    settings: Settings
    url: str
    app: object

    @property
    def service(self):
        return self.app.state.service

    @property
    def intake(self):
        return self.app.state.intake


def e2e_settings(secret_key: str) -> Settings:
    # Small batches at low concurrency: a pause takes effect within a second or two.
    return test_settings(
        task_queue=f"migrayt-e2e-{os.getpid()}",
        tenant=TENANT,
        secret_key=SecretStr(secret_key),
        batch_size=10,
        concurrency=2,
        auth="off",
    )


@contextmanager
def process_secret_key() -> Iterator[str]:
    """The worker opens saved connections' secrets (`sealed:` references) with the process settings' key."""
    before = os.environ.get("MIGRAYT_SECRET_KEY")
    key = before or Fernet.generate_key().decode()
    os.environ["MIGRAYT_SECRET_KEY"] = key
    get_settings.cache_clear()
    try:
        yield key
    finally:
        if before is None:
            os.environ.pop("MIGRAYT_SECRET_KEY", None)
        get_settings.cache_clear()


@pytest.fixture(scope="session")
async def web(postgres, temporal_server) -> AsyncIterator[WebStack]:  # noqa: F811
    with process_secret_key() as key:
        async for stack in _web_stack(e2e_settings(key), postgres, temporal_server):
            yield stack


async def _web_stack(settings: Settings, postgres, temporal_server) -> AsyncIterator[WebStack]:  # noqa: F811
    await upgrade_schema(postgres.database_url)
    client = await connect_temporal(settings, temporal_server.address)
    app = create_app(settings, database_url=postgres.database_url, temporal_address=temporal_server.address)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    async with run_worker(settings, client, postgres.database_url):
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
        yield WebStack(settings, f"http://127.0.0.1:{port}", app)
        server.should_exit = True
        await serving


@pytest.fixture(scope="session")
async def browser_context(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (apt-get install chromium)")
    from playwright.async_api import async_playwright, expect

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    profile = tmp_path_factory.mktemp("chromium-profile")
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        # Hang guards, not deadlines: on a loaded CI machine a healthy page can take long to reach a state, and a
        # short deadline turned that into a failure. A page that never gets there still fails, after the guard.
        context.set_default_timeout(HANG_GUARD_MS)
        expect.set_options(timeout=HANG_GUARD_MS)
        yield context
        await context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
async def page(browser_context):
    page = await browser_context.new_page()
    yield page
    await page.close()


async def screenshot(page, name: str) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
