"""Session-wide real parts for every test that needs them: one embedded PostgreSQL, one Temporal dev server."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from migrayt.core.runs import MigrationService
from migrayt.settings import get_settings
from migrayt.stack.postgres import EmbeddedPostgres
from migrayt.stack.temporal import TemporalDevServer
from migrayt.store.db import create_engine, session_factory, upgrade_schema
from migrayt.temporal.client import connect_temporal
from migrayt.worker.main import run_worker
from tests import cpu_report, file_order
from tests.integration.harness import Stack, test_settings


def pytest_configure(config: pytest.Config) -> None:
    """Each session's temporary files in a folder of its own, outside /tmp/pytest-of-<user>: as root, the
    embedded PostgreSQL runs as its own system user, which must traverse the folders above its data, and every
    pytest session starting on the machine makes pytest-of-<user> private again (0700) — locking out the
    servers of the sessions still running (several engineers' suites share a machine here)."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="migrayt-pytest-")
    cpu_report.pytest_configure(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    file_order.longest_first(items, file_order.file_walls())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    basetemp = session.config.option.basetemp
    if exitstatus == 0 and basetemp and Path(basetemp).name.startswith("migrayt-pytest-"):
        shutil.rmtree(basetemp, ignore_errors=True)  # kept when something failed: its logs are in there


def _outside_pytests_own_folder() -> Path:
    """A folder for an embedded PostgreSQL, outside /tmp/pytest-of-<user>. As root, PostgreSQL runs as its own
    system user, which must traverse the folders above its data; every pytest session starting on the machine
    makes pytest-of-<user> private again (0700), which would lock out the servers of the sessions running."""
    return Path(tempfile.mkdtemp(prefix="migrayt-test-pg-"))


@pytest.fixture
def pg_home() -> Iterator[Path]:
    home = _outside_pytests_own_folder()
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    home = _outside_pytests_own_folder()
    pg = EmbeddedPostgres(home / "pg", fsync=False)
    pg.start()
    yield pg
    pg.stop()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory):
    server = TemporalDevServer(tmp_path_factory.mktemp("temporal"), port=None, ui_port=None, headless=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def stack(postgres, temporal_server) -> AsyncIterator[Stack]:
    settings = test_settings()
    await upgrade_schema(postgres.database_url)
    engine = create_engine(postgres.database_url)
    client = await connect_temporal(settings, temporal_server.address)
    service = MigrationService(settings, session_factory(engine), client)
    yield Stack(settings, postgres.database_url, temporal_server.address, client, service)
    await engine.dispose()


@pytest.fixture
async def worker(stack: Stack):
    """An in-process worker for tests that do not kill it."""
    async with run_worker(stack.settings, stack.client, stack.database_url) as w:
        yield w


@pytest.fixture
def upload_limit_setting():
    """Sets the worker's `jira_attachment_limit_bytes` for one test: get_settings() is cached per
    process, so the cache is dropped when it is set and again once the variable is gone."""
    env = pytest.MonkeyPatch()

    def set_limit(limit: int) -> None:
        env.setenv("MIGRAYT_JIRA_ATTACHMENT_LIMIT_BYTES", str(limit))
        get_settings.cache_clear()

    yield set_limit
    env.undo()
    get_settings.cache_clear()
