"""The embedded stack: real PostgreSQL and a real Temporal dev server, started from Python."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from migrayt.stack import (
    SEARCH_ATTRIBUTES,
    EmbeddedPostgres,
    PortInUseError,
    TemporalDevServer,
    ensure_port_free,
    free_port,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def busy_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def _read_notes(engine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT body FROM note ORDER BY id"))).scalars())


async def test_postgres_keeps_committed_rows_across_restart_and_crash(pg_home: Path):
    with EmbeddedPostgres(pg_home / "pg", fsync=False) as pg:
        url = pg.database_url
        assert url.startswith("postgresql+asyncpg://")
        # pre-ping: the same engine (what the app holds) carries on after the server comes back
        engine = create_async_engine(url, pool_pre_ping=True)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE note (id serial PRIMARY KEY, body text NOT NULL)"))
                await conn.execute(text("INSERT INTO note (body) VALUES ('before restart')"))

            pg.restart()
            assert pg.database_url == url
            assert await _read_notes(engine) == ["before restart"]

            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO note (body) VALUES ('before crash')"))
            postmaster = pg.pid
            pg.kill()
            assert not _alive(postmaster)
            pg.start()
            assert pg.database_url == url
            assert await _read_notes(engine) == ["before restart", "before crash"]
        finally:
            await engine.dispose()

        pg.ensure_database("other")
        pg.ensure_database("other")  # idempotent
        other = create_async_engine(pg.url_for("other"))
        try:
            async with other.connect() as conn:
                assert await conn.scalar(text("SELECT current_database()")) == "other"
        finally:
            await other.dispose()

    assert (pg_home / "pg" / "postgres.log").stat().st_size > 0


async def test_postgres_without_a_port_reuses_its_port_next_time(pg_home: Path):
    with EmbeddedPostgres(pg_home / "pg", fsync=False) as first:
        url = first.database_url
    second = EmbeddedPostgres(pg_home / "pg", fsync=False)
    assert second.database_url == url


def test_busy_port_is_a_clear_error(pg_home: Path, tmp_path: Path, busy_port: int):
    with pytest.raises(PortInUseError, match=rf"PostgreSQL: port {busy_port} is already in use"):
        EmbeddedPostgres(pg_home / "pg", port=busy_port).start()
    with pytest.raises(PortInUseError, match=rf"Temporal: port {busy_port} is already in use"):
        TemporalDevServer(tmp_path / "t", port=busy_port, headless=True).start()
    with pytest.raises(PortInUseError, match=rf"Temporal UI: port {busy_port} is already in use"):
        TemporalDevServer(tmp_path / "t", port=free_port(), ui_port=busy_port).start()
    ensure_port_free(free_port(), "API")  # a free one passes


async def _wait_listed(client: Client, query: str, workflow_id: str, timeout: float = 10.0) -> None:
    # Visibility is eventually consistent, even on the dev server.
    deadline = time.monotonic() + timeout
    while True:
        ids = [wf.id async for wf in client.list_workflows(query)]
        if workflow_id in ids:
            return
        assert time.monotonic() < deadline, f"{workflow_id} not listed by {query!r}: {ids}"
        await asyncio.sleep(0.2)


async def test_temporal_has_search_attributes_and_keeps_runs_across_restart_and_crash(tmp_path: Path):
    server = TemporalDevServer(tmp_path / "temporal", port=free_port(), headless=True, namespace="migrayt")
    assert server.ui_url is None
    with server:
        client = await Client.connect(server.address, namespace="migrayt")
        registered = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="migrayt")
        )
        for name in SEARCH_ATTRIBUTES:
            assert registered.custom_attributes[name] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD

        # No worker polls this queue: the run simply stays open, which is all we need here.
        workflow_id = f"run-{uuid.uuid4()}"
        await client.start_workflow(
            "MigrationRunWorkflow",
            id=workflow_id,
            task_queue="nobody-polls-this",
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(SearchAttributeKey.for_keyword("MigrationStatus"), "PAUSED")]
            ),
        )
        paused = "MigrationStatus='PAUSED'"
        await _wait_listed(client, paused, workflow_id)

        for come_back in ("restart", "crash"):
            if come_back == "restart":
                server.restart()
            else:
                server.kill()
                server.start()
            client = await Client.connect(server.address, namespace="migrayt")
            described = await client.get_workflow_handle(workflow_id).describe()
            assert described.status == WorkflowExecutionStatus.RUNNING, come_back
            await _wait_listed(client, paused, workflow_id)

    assert (tmp_path / "temporal" / "temporal.db").stat().st_size > 0
    assert (tmp_path / "temporal" / "temporal.log").exists()


def test_temporal_ui_serves_pages(tmp_path: Path):
    import httpx

    with TemporalDevServer(tmp_path / "t", port=free_port(), ui_port=None) as server:
        assert server.ui_url is not None
        response = httpx.get(server.ui_url, timeout=10, follow_redirects=True)
        assert response.status_code == 200


_OWNER_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from pathlib import Path
    from migrayt.stack import EmbeddedPostgres, TemporalDevServer, free_port, start_all
    state = Path(sys.argv[1])
    pg = EmbeddedPostgres(state / "pg", fsync=False)
    temporal = TemporalDevServer(state / "temporal", port=free_port(), headless=True)
    # Started from a short-lived thread, as async code would: they must outlive that thread.
    asyncio.run(asyncio.to_thread(start_all, pg, temporal))
    time.sleep(0.5)
    print(json.dumps({"pg": pg.pid, "temporal": temporal.pid}), flush=True)
    if sys.argv[2] == "linger":
        time.sleep(600)
    """
)


def _gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _alive(pid: int) -> bool:
    # A zombie has ended; only its parent (here possibly a non-reaping init) has not noticed.
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("ending", ["normal exit", "SIGKILL"])
def test_no_orphans_and_no_server_output_on_the_console(tmp_path: Path, ending: str):
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER_SCRIPT, str(tmp_path), "exit" if ending == "normal exit" else "linger"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pids: dict[str, int] = {}
    try:
        pids = json.loads(owner.stdout.readline())
        assert all(pid is not None and _alive(pid) for pid in pids.values()), f"servers not running: {pids}"
        if ending == "SIGKILL":
            os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=30)
        assert _gone(list(pids.values()), timeout=15), f"servers outlived their owner: {pids}"
        assert owner.stdout.read() == ""
        assert owner.stderr.read() == ""
    finally:
        if owner.poll() is None:
            owner.kill()
        for pid in pids.values():  # on failure, do not leave the orphans behind for other tests
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
