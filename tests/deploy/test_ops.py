"""Real-cluster readiness against the real parts: `migrayt setup temporal` on a namespace of a running
Temporal, `migrayt db upgrade` on an empty database, /healthz and /readyz, and `migrayt probe`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from google.protobuf.duration_pb2 import Duration
from sqlalchemy import text
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client

from migrayt.api.app import create_app
from migrayt.ops.cli import role_of_process
from migrayt.stack.temporal import TemporalDevServer
from migrayt.store.db import create_engine
from tests.api.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
NEEDED = {"MigrayTenant", "MigrationStatus", "MigrationPhase"}


def migrayt(*args: str, **env: str) -> subprocess.CompletedProcess:
    """The `migrayt` command as a container runs it: a process of its own, settings from the environment."""
    return subprocess.run(
        [sys.executable, "-m", "migrayt.api.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


async def new_namespace(address: str) -> str:
    name = f"deploy-{uuid.uuid4().hex[:8]}"
    client = await Client.connect(address)
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=86400))
    )
    while True:  # registration is asynchronous to the namespace cache: wait until the namespace is served
        try:
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=name))
            return name
        except Exception:
            await asyncio.sleep(0.2)


async def custom_attributes(address: str, namespace: str) -> dict[str, int]:
    client = await Client.connect(address, namespace=namespace)
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    return dict(listed.custom_attributes)


# -- migrayt setup temporal ------------------------------------------------------------------------------


async def test_setup_temporal_registers_the_search_attributes_once(temporal_server):
    namespace = await new_namespace(temporal_server.address)
    assert not NEEDED & set(await custom_attributes(temporal_server.address, namespace))

    first = migrayt("setup", "temporal", "--temporal-address", temporal_server.address, "--namespace", namespace)
    assert first.returncode == 0, first.stderr
    assert {f"added {name}" for name in NEEDED} <= set(first.stdout.splitlines())
    after_first = await custom_attributes(temporal_server.address, namespace)
    assert {name: after_first[name] for name in NEEDED} == {name: KEYWORD for name in NEEDED}

    second = migrayt("setup", "temporal", "--temporal-address", temporal_server.address, "--namespace", namespace)
    assert second.returncode == 0, second.stderr
    assert not [line for line in second.stdout.splitlines() if line.startswith("added")]
    assert {f"already present {name}" for name in NEEDED} <= set(second.stdout.splitlines())
    assert await custom_attributes(temporal_server.address, namespace) == after_first


async def test_setup_temporal_refuses_an_attribute_of_another_type_and_adds_nothing(temporal_server):
    namespace = await new_namespace(temporal_server.address)
    client = await Client.connect(temporal_server.address, namespace=namespace)
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={"MigrationStatus": IndexedValueType.INDEXED_VALUE_TYPE_TEXT},
        )
    )

    result = migrayt("setup", "temporal", "--temporal-address", temporal_server.address, "--namespace", namespace)
    assert result.returncode == 1
    assert "MigrationStatus exists" in result.stderr and "Keyword" in result.stderr
    attributes = await custom_attributes(temporal_server.address, namespace)
    assert "MigrayTenant" not in attributes and "MigrationPhase" not in attributes


# -- migrayt db upgrade ------------------------------------------------------------------------------------


async def test_db_upgrade_builds_the_schema_on_an_empty_database_and_is_repeatable(postgres):
    name = f"deploy_{uuid.uuid4().hex[:8]}"
    postgres.ensure_database(name)
    url = postgres.url_for(name)
    for _ in range(2):  # the job of a second rollout finds the schema there
        result = migrayt("db", "upgrade", "--database-url", url)
        assert result.returncode == 0, result.stderr
    from alembic.script import ScriptDirectory

    from migrayt.store.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one() == head
            assert (await conn.execute(text("SELECT count(*) FROM item_record"))).scalar_one() == 0
    finally:
        await engine.dispose()


def test_db_upgrade_without_a_database_says_how_to_give_one():
    result = migrayt("db", "upgrade", MIGRAYT_DATABASE_URL="")
    assert result.returncode == 2
    assert "MIGRAYT_DATABASE_URL" in result.stderr


# -- /healthz and /readyz ------------------------------------------------------------------------------------


@asynccontextmanager
async def api_on(settings, database_url: str, temporal_address: str):
    app = create_app(
        settings.model_copy(update={"auth": "on"}), database_url=database_url, temporal_address=temporal_address
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_ready_when_database_and_temporal_answer(stack):
    async with api_on(stack.settings, stack.database_url, stack.temporal_address) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "database": "ok", "temporal": "ok"}


async def test_probes_answer_a_kubelet_by_pod_ip_while_other_routes_keep_the_host_check(stack):
    async with api_on(stack.settings, stack.database_url, stack.temporal_address) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"Host": "10.1.2.3:8000"}) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 200
            assert (await http.get("/api/health")).status_code == 400
            assert (await http.post("/healthz")).status_code == 400  # probes are GET/HEAD; the rest goes on in


async def test_unready_while_the_database_is_unreachable(stack):
    with socketless_port() as closed:
        url = f"postgresql+asyncpg://migrayt:secret-password@127.0.0.1:{closed}/migrayt"
        async with api_on(stack.settings, url, stack.temporal_address) as port:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                assert (await http.get("/healthz")).status_code == 200  # the process is up: no restart
                ready = await http.get("/readyz")
                assert ready.status_code == 503
                assert ready.json() == {"status": "unready", "database": "unreachable", "temporal": "ok"}
                assert "secret-password" not in ready.text
                probe = await asyncio.to_thread(migrayt, "probe", "api", "--ready", MIGRAYT_API_PORT=str(port))
                assert probe.returncode == 1 and "503" in probe.stdout
                probe = await asyncio.to_thread(migrayt, "probe", "api", MIGRAYT_API_PORT=str(port))
                assert probe.returncode == 0


async def test_unready_once_temporal_goes_away_and_ready_again_when_it_is_back(stack, tmp_path):
    server = TemporalDevServer(tmp_path / "temporal", port=None, ui_port=None, headless=True)
    server.start()
    try:
        async with api_on(stack.settings, stack.database_url, server.address) as port:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                assert (await http.get("/readyz")).status_code == 200
                await asyncio.to_thread(server.stop)
                gone = await http.get("/readyz")
                assert gone.status_code == 503
                assert gone.json() == {"status": "unready", "database": "ok", "temporal": "unreachable"}
                await asyncio.to_thread(server.start)
                while (await http.get("/readyz")).status_code != 200:  # the client reconnects on its own
                    await asyncio.sleep(0.5)
    finally:
        server.stop()


# -- migrayt probe -----------------------------------------------------------------------------------------


async def test_worker_probe_sees_this_hosts_worker_polling_its_queue(stack, worker):
    env = {"MIGRAYT_TEMPORAL_ADDRESS": stack.temporal_address, "MIGRAYT_TASK_QUEUE": stack.settings.task_queue}
    polling = await asyncio.to_thread(migrayt, "probe", "worker", **env)
    assert polling.returncode == 0, polling.stdout + polling.stderr
    nobody = await asyncio.to_thread(migrayt, "probe", "worker", **{**env, "MIGRAYT_TASK_QUEUE": "no-worker-here"})
    assert nobody.returncode == 1, (nobody.returncode, nobody.stdout, nobody.stderr)
    assert "no worker" in nobody.stdout


def test_probe_finds_the_role_from_the_containers_main_process():
    assert role_of_process(b"/app/.venv/bin/python\0/app/.venv/bin/migrayt\0api\0") == "api"
    assert role_of_process(b"/usr/local/bin/migrayt\0worker\0--temporal-address\0t:7233\0") == "worker"
    assert role_of_process(b"/usr/local/bin/migrayt\0db\0upgrade\0") is None
    assert role_of_process(b"python\0-m\0migrayt.api.cli\0api\0") == "api"
    assert role_of_process(b"postgres\0") is None


def test_probe_without_a_long_running_process_passes(tmp_path):
    # In the test process PID 1 is not `migrayt api|worker`: a one-off job container is not unhealthy.
    result = migrayt("probe")
    assert result.returncode == 0
    assert "nothing to probe" in result.stdout


class socketless_port:
    """A port nothing listens on, for as long as the block runs (bound, never listening)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.sock.close()
