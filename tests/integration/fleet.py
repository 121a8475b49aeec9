"""A fleet under fire (issue 18): 3 tenants x 2 concurrent migrations on 3 worker processes and 2 API processes
(`migrayt api`, auth on); mid-way one worker and one API are SIGKILLed, then PostgreSQL and Temporal are restarted.

Shared by the CI test (tests/integration/test_fleet.py, small profile) and the long profile (bench/fleet_long.py):
`run_fleet` plays the scenario and reports what each run did; the test asserts on the report, the benchmark prints it.

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
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from migrayt.contracts.runs import FINAL_STATUSES
from migrayt.core.runs import MigrationService
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN
from migrayt.stack.ports import free_port
from tests.api.conftest import ADMIN_TOKEN
from tests.integration.harness import REPO, Stack, WorkerProcess, ado_labels, jira_issues, structure_only_plan

TENANTS = ("fleet-north", "fleet-south", "fleet-east")
MIGRATIONS_PER_TENANT = 2
WORKERS = 3
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


async def audit_trail(http: httpx.AsyncClient, run_id: str) -> list[dict]:
    """Every audit event of the run, oldest first (paged: a long run has more than a page)."""
    events: list[dict] = []
    while True:
        after = events[-1]["id"] if events else 0
        page = (await http.get("/api/audit", params={"run_id": run_id, "after_id": after, "limit": 1000})).json()
        events.extend(page)
        if len(page) < 1000:
            return events


@dataclass
class FleetRun:
    """One migration's run in the fleet, as its tenant sees it through the surviving API, and what landed in Jira."""

    tenant: str
    run_id: str
    sandbox: Any
    items: int  # the work items of its ADO project
    final: dict = field(default_factory=dict)
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # ado-id label -> its keys, where more than one
    in_jira: int = 0  # source items with an issue in Jira
    events: list[dict] = field(default_factory=list)
    seen_by: list[str] = field(default_factory=list)  # other tenants that could read the run or its audit events

    @property
    def missing(self) -> int:
        return self.items - self.in_jira

    @property
    def seconds(self) -> float | None:
        """From run_started to run_finished in its audit trail (the workflow's own record, not a poll)."""
        at = {e["action"]: datetime.fromisoformat(e["created_at"]) for e in self.events}
        if "run_started" not in at or "run_finished" not in at:
            return None
        return (at["run_finished"] - at["run_started"]).total_seconds()


@dataclass
class FleetReport:
    runs: list[FleetRun]
    at_kill: dict  # the first run as the API answered just before the kills
    metrics: str  # the surviving API's /metrics
    tokens: dict[str, str]


def tenant_of(n: int) -> str:
    return TENANTS[n % len(TENANTS)]


async def run_fleet(
    stack: Stack,
    sandboxes: Sequence[Any],
    items: int,
    workdir: Path,
    restart_postgres: Callable[[], None],
    restart_temporal: Callable[[], None],
    *,
    workers: int = WORKERS,
    kill_at: float = 0.0,
) -> FleetReport:
    """The fleet on `stack`'s PostgreSQL and Temporal, one migration per sandbox (of `items` work items each), the
    tenants in turn. The kills come once the first run is creating items and has created `kill_at` of them."""
    # A task queue of its own: the fleet's API processes record a secret key (shared_keys) that the stack's other
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
    worker_procs = [
        WorkerProcess(fleet, workdir / f"worker-{n}.log", env={"MIGRAYT_SECRET_KEY": secret_key})
        for n in range(workers)
    ]
    apis = [ApiProcess(fleet, workdir / f"api-{n}.log", secret_key) for n in range(2)]
    try:
        for api in apis:
            await api.ready()
        for w in worker_procs:
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

        def as_tenant(tenant: str, api: ApiProcess) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=api.url, timeout=30, headers={"Authorization": f"Bearer {tokens[tenant]}"}
            )

        # Each tenant, through one API or the other: its connections, its migrations, their runs started.
        runs: list[FleetRun] = []
        for n, sandbox in enumerate(sandboxes):
            tenant = tenant_of(n)
            async with as_tenant(tenant, apis[n % 2]) as http:
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
                runs.append(FleetRun(tenant, r.json()["run_id"], sandbox, items))

        def mid_way(p: dict) -> bool:
            if p["status"] in FINAL:
                return True
            if p["phase"] != "create_items":
                return bool(p.get("phases")) and p["phase"] in p["phases"][p["phases"].index("create_items") :]
            c = p["counters"].get("create_items") or {}
            return c.get("created", 0) >= kill_at * c.get("total", 0)

        # Mid-way: the first run writing issues is the signal.
        async with as_tenant(runs[0].tenant, apis[1]) as http:
            at_kill = await get_until(http, f"/api/migrations/{runs[0].run_id}", mid_way)
        worker_procs[0].kill()
        apis[0].kill()
        await asyncio.to_thread(restart_postgres)
        await asyncio.to_thread(restart_temporal)

        for run in runs:
            async with as_tenant(run.tenant, apis[1]) as http:
                run.final = await get_until(http, f"/api/migrations/{run.run_id}", lambda p: p["status"] in FINAL)

        # The surviving API's own /metrics (a port of its own): its Temporal client's calls.
        async with httpx.AsyncClient(timeout=30) as http:
            metrics = (await http.get(f"http://127.0.0.1:{apis[1].metrics_port}/metrics")).text

        async with AsyncExitStack() as clients:
            as_each = {t: await clients.enter_async_context(as_tenant(t, apis[1])) for t in TENANTS}
            for run in runs:
                labels = ado_labels(await jira_issues(run.sandbox))
                run.duplicates = {label: keys for label, keys in labels.items() if len(keys) > 1}
                run.in_jira = len(labels)
                run.events = await audit_trail(as_each[run.tenant], run.run_id)
                for other in (t for t in TENANTS if t != run.tenant):
                    http = as_each[other]
                    found = (await http.get(f"/api/migrations/{run.run_id}")).status_code != 404
                    seen = (await http.get("/api/audit", params={"limit": 1000})).json()
                    if found or run.run_id in {e.get("run_id") for e in seen}:
                        run.seen_by.append(other)
        return FleetReport(runs, at_kill, metrics, tokens)
    finally:
        for w in worker_procs:
            w.stop()
        for api in apis:
            api.stop()
