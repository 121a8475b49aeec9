"""A fleet under fire (issue 18, small profile): 3 tenants x 2 concurrent migrations on 3 worker processes and 2 API
processes (`migrayt api`, auth on); mid-way one worker and one API are SIGKILLed, then PostgreSQL and Temporal are
restarted. Every run finishes with each item written once, each tenant sees only its own runs, and each run's
audit trail has every step once.

Each tenant works as a script does, through the API only: it saves its ADO and Jira connections (the secrets sealed
with the fleet's shared MIGRAYT_SECRET_KEY), creates its migrations from them and starts them with the start route,
half through each API process; the runs and their audit trail are then followed through the surviving API.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from migrayt.contracts.phases import run_phases
from migrayt.contracts.runs import FINAL_STATUSES
from migrayt.core.runs import MigrationService
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN
from migrayt.sandbox.testing import running_sandbox
from migrayt.stack.ports import free_port
from tests.api.conftest import ADMIN_TOKEN
from tests.integration.harness import (
    REPO,
    Stack,
    WorkerProcess,
    ado_labels,
    jira_issues,
    structure_only_plan,
)

TENANTS = ("fleet-north", "fleet-south", "fleet-east")
MIGRATIONS_PER_TENANT = 2
WORKERS = 3
ITEMS = 40
FINAL = {s.value for s in FINAL_STATUSES}


class ApiProcess:
    """`migrayt api` in its own process, as a container runs it."""

    def __init__(self, stack, log_path: Path, secret_key: str) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            MIGRAYT_AUTH="on",
            MIGRAYT_ADMIN_TOKEN=ADMIN_TOKEN,
            MIGRAYT_SECRET_KEY=secret_key,
            MIGRAYT_API_HOST="127.0.0.1",
            MIGRAYT_API_PORT=str(self.port),
            MIGRAYT_TASK_QUEUE=stack.settings.task_queue,
            MIGRAYT_OUTBOUND_ALLOW=stack.settings.outbound_allow,
            MIGRAYT_METRICS_PORT=str(self.metrics_port),
        )
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "migrayt.api.cli",
                "api",
                "--database-url",
                stack.database_url,
                "--temporal-address",
                stack.temporal_address,
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )

    async def ready(self) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while True:
                assert self.proc.poll() is None, self.log_path.read_text()[-2000:]
                try:
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


async def get_until(http: httpx.AsyncClient, path: str, done) -> dict:
    """GET until `done(answer)`; answers of a restarting PostgreSQL or Temporal (5xx, no connection) are waited out."""
    while True:
        try:
            r = await http.get(path)
            if r.status_code == 200 and done(r.json()):
                return r.json()
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.5)


async def save_connections(http: httpx.AsyncClient, sandbox, n: int) -> tuple[str, str]:
    """The tenant's ADO and Jira connections, saved through the API with their secrets (sealed there)."""
    ado = await http.post(
        "/api/connections",
        json={
            "kind": "ado",
            "name": f"ado {n}",
            "organization_url": sandbox.ado_url,
            "project": "Phoenix",
            "pat": DEFAULT_ADO_PAT,
        },
    )
    jira = await http.post(
        "/api/connections",
        json={
            "kind": "jira_cloud",
            "name": f"jira {n}",
            "site_url": sandbox.jira_url,
            "email": DEFAULT_JIRA_EMAIL,
            "api_token": DEFAULT_JIRA_TOKEN,
        },
    )
    assert ado.status_code == 201 and jira.status_code == 201, (ado.text, jira.text)
    return ado.json()["id"], jira.json()["id"]


async def test_fleet_survives_kills_and_restarts_with_every_item_once(stack, postgres, temporal_server, tmp_path):
    # A task queue of its own: the fleet's API processes record a secret key (shared_keys) that the session's other
    # workers are not given.
    settings = stack.settings.model_copy(update={"task_queue": f"fleet-{uuid.uuid4().hex[:8]}"})
    fleet = Stack(
        settings,
        stack.database_url,
        stack.temporal_address,
        stack.client,
        MigrationService(settings, stack.service.sessions, stack.client),
    )
    secret_key = Fernet.generate_key().decode()
    with ExitStack() as sandboxes:
        boxes = [
            sandboxes.enter_context(running_sandbox(items=ITEMS, seed=60 + n))
            for n in range(len(TENANTS) * MIGRATIONS_PER_TENANT)
        ]
        workers = [
            WorkerProcess(fleet, tmp_path / f"worker-{n}.log", env={"MIGRAYT_SECRET_KEY": secret_key})
            for n in range(WORKERS)
        ]
        apis = [ApiProcess(fleet, tmp_path / f"api-{n}.log", secret_key) for n in range(2)]
        try:
            for api in apis:
                await api.ready()
            for w in workers:
                w.start()
            tokens = {}
            async with httpx.AsyncClient(base_url=apis[0].url, timeout=30) as admin:
                for tenant in TENANTS:
                    r = await admin.post(
                        "/api/admin/tokens",
                        json={"tenant": tenant, "name": "fleet"},
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                    )
                    assert r.status_code == 201, r.text
                    tokens[tenant] = r.json()["token"]

            # Each tenant, through one API or the other: its connections, its migrations, their runs started.
            runs: list[tuple[str, str, object]] = []  # (tenant, run id, sandbox)
            for n, sandbox in enumerate(boxes):
                tenant = TENANTS[n % len(TENANTS)]
                async with httpx.AsyncClient(
                    base_url=apis[n % 2].url, timeout=30, headers={"Authorization": f"Bearer {tokens[tenant]}"}
                ) as http:
                    ado_id, jira_id = await save_connections(http, sandbox, n)
                    r = await http.post(
                        "/api/migrations",
                        json={
                            "name": f"Phoenix {n}",
                            "source_connection_id": ado_id,
                            "target_connection_id": jira_id,
                            "project_key": "PHX",
                            "plan": structure_only_plan().model_dump(mode="json"),
                            "approve_plan": True,
                        },
                    )
                    assert r.status_code == 201, r.text
                    r = await http.post(f"/api/migrations/{r.json()['id']}/runs")
                    assert r.status_code == 202, r.text
                    runs.append((tenant, r.json()["run_id"], sandbox))
            # Mid-way: the first run writing issues is the signal.
            tenant, first_run, _ = runs[0]
            async with httpx.AsyncClient(
                base_url=apis[1].url, timeout=30, headers={"Authorization": f"Bearer {tokens[tenant]}"}
            ) as http:
                at_kill = await get_until(
                    http, f"/api/migrations/{first_run}", lambda p: p["phase"] == "create_items" or p["status"] in FINAL
                )
            assert at_kill["status"] not in FINAL, "the kills must land while the runs go on"
            workers[0].kill()
            apis[0].kill()
            await asyncio.to_thread(postgres.restart)
            await asyncio.to_thread(temporal_server.restart)

            finals = {}
            for tenant, run_id, _ in runs:
                async with httpx.AsyncClient(
                    base_url=apis[1].url, timeout=30, headers={"Authorization": f"Bearer {tokens[tenant]}"}
                ) as http:
                    finals[run_id] = await get_until(http, f"/api/migrations/{run_id}", lambda p: p["status"] in FINAL)

            # The surviving API's own /metrics (a port of its own): its Temporal client's calls.
            async with httpx.AsyncClient(timeout=30) as http:
                metrics = (await http.get(f"http://127.0.0.1:{apis[1].metrics_port}/metrics")).text
            assert any(line.startswith("temporal_request") for line in metrics.splitlines()), metrics[:2000]

            # Every run: finished, each item written once, nothing missing.
            for _tenant, run_id, sandbox in runs:
                final = finals[run_id]
                assert final["status"] in ("COMPLETED", "INCOMPLETE"), final
                labels = ado_labels(await jira_issues(sandbox))
                assert {label: keys for label, keys in labels.items() if len(keys) > 1} == {}
                c = final["counters"]["create_items"]
                assert c["created"] + c["skipped"] + c["failed"] == c["total"] == ITEMS
                assert len(labels) == c["created"] + c["skipped"]

            # Tenants isolated: the other tenant's runs are not found, its audit trail is not shown.
            for tenant, run_id, _ in runs:
                for other in (t for t in TENANTS if t != tenant):
                    async with httpx.AsyncClient(
                        base_url=apis[1].url, timeout=30, headers={"Authorization": f"Bearer {tokens[other]}"}
                    ) as http:
                        assert (await http.get(f"/api/migrations/{run_id}")).status_code == 404
                        seen = (await http.get("/api/audit", params={"limit": 1000})).json()
                        assert run_id not in {e.get("run_id") for e in seen}

            # Each run's audit trail: started and finished once, every phase started and finished once.
            phases = len(run_phases())
            for tenant, run_id, _ in runs:
                async with httpx.AsyncClient(
                    base_url=apis[1].url, timeout=30, headers={"Authorization": f"Bearer {tokens[tenant]}"}
                ) as http:
                    events = (await http.get("/api/audit", params={"run_id": run_id, "limit": 1000})).json()
                actions = [e["action"] for e in events]
                assert actions.count("run_started") == 1 and actions.count("run_finished") == 1, actions
                started = [e["detail"].get("phase") for e in events if e["action"] == "phase_started"]
                finished = [e["detail"].get("phase") for e in events if e["action"] == "phase_finished"]
                assert sorted(started) == sorted(finished) and len(set(started)) == len(started) <= phases, events
        finally:
            for w in workers:
                w.stop()
            for api in apis:
                api.stop()
