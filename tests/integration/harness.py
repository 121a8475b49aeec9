"""The real parts an engine test runs against: embedded PostgreSQL, Temporal dev server, sandbox, worker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.contracts.runs import FINAL_STATUSES, PhaseSchedule, RunProgress, RunStatus
from migrayt.core.runs import MigrationService
from migrayt.mapping.plan import MappingPlan, default_plan
from migrayt.sandbox.server import SandboxServer
from migrayt.settings import Settings, auth_mode
from migrayt.store.models import ItemRecord

ADO_PAT_ENV = "MIGRAYT_TEST_ADO_PAT"
JIRA_TOKEN_ENV = "MIGRAYT_TEST_JIRA_TOKEN"
XRAY_SECRET_ENV = "MIGRAYT_TEST_XRAY_SECRET"
REPO = Path(__file__).resolve().parents[2]


def structure_only_plan() -> MappingPlan:
    """Engine tests care about items, not file copying: leave out the slow content phases."""
    plan = default_plan()
    plan.skip_phases = ["attachments", "comments"]
    return plan


def test_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        task_queue=f"migrayt-test-{os.getpid()}",
        batch_size=50,
        concurrency=4,
        index_lag_grace_seconds=6.0,
        http_max_retries=12,
        # The sandbox listens on loopback: with auth on (a shared server) the outbound policy lets it through
        # only because it is allowed, as an operator allows an on-premises ADO Server or Jira Data Center.
        outbound_allow="127.0.0.1",
    )
    values.update(overrides)
    return Settings(**values)


@dataclass
class Stack:
    settings: Settings
    database_url: str
    temporal_address: str
    client: Client
    service: MigrationService

    def with_batch_size(self, batch_size: int) -> Stack:
        """The stack starting runs in batches of this size: a test needing more batches than slots (four) gets
        them from fewer items."""
        settings = self.settings.model_copy(update={"batch_size": batch_size})
        return replace(self, settings=settings, service=MigrationService(settings, self.service.sessions, self.client))


def one_phase_at_a_time(plan: MappingPlan) -> MappingPlan:
    """A plan that does not say how its phases run goes one after the other here (new plans go side by side): the
    tests on this harness pause, hold and kill runs in one named phase at a time; tests/integration/
    test_phases_side_by_side.py says `phase_schedule` itself."""
    if "phase_schedule" in plan.model_fields_set:
        return plan
    return plan.model_copy(update={"phase_schedule": PhaseSchedule.SEQUENTIAL})


async def create_sandbox_migration(
    stack: Stack,
    sandbox: SandboxServer,
    plan: MappingPlan | None = None,
    tenant: str = "acme-corp",
    *,
    with_xray: bool = False,
) -> str:
    """With `with_xray`, the target names the sandbox Xray's API key (the secret through an environment reference)."""
    os.environ[ADO_PAT_ENV] = "sandbox-pat"
    os.environ[JIRA_TOKEN_ENV] = "sandbox-token"
    xray: dict[str, Any] = {}
    if with_xray:
        os.environ[XRAY_SECRET_ENV] = sandbox.sandbox.xray_client_secret
        xray = dict(
            xray_client_id=sandbox.sandbox.xray_client_id,
            xray_secret_ref=f"env:{XRAY_SECRET_ENV}",
            xray_url=sandbox.xray_url,
        )
    return await stack.service.create_migration(
        tenant,
        "Phoenix to PHX",
        SourceConnection(
            organization_url=sandbox.ado_url, project="Phoenix", team="Phoenix Team", pat_ref=f"env:{ADO_PAT_ENV}"
        ),
        TargetConnection(
            base_url=sandbox.jira_url,
            project_key="PHX",
            email="migrator@example.com",
            token_ref=f"env:{JIRA_TOKEN_ENV}",
            **xray,
        ),
        one_phase_at_a_time(plan or default_plan()),
        actor="test@acme.example",
        door="api",
    )


# A wait's deadline only guards against a hang, with the last progress in the message; it never decides
# pass or fail for a slow machine (a 120 s deadline failed a healthy 160-item run on a loaded machine).
HANG_GUARD_SECONDS = 480.0


async def wait_for(
    stack: Stack, tenant: str, run_id: str, predicate, timeout: float = HANG_GUARD_SECONDS, poll: float = 0.2
) -> RunProgress:
    deadline = time.monotonic() + timeout
    while True:
        progress = await stack.service.progress(tenant, run_id)
        if predicate(progress):
            return progress
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; last progress: {progress.model_dump_json()}")
        await asyncio.sleep(poll)


async def wait_final(stack: Stack, tenant: str, run_id: str, timeout: float = HANG_GUARD_SECONDS) -> RunProgress:
    return await wait_for(stack, tenant, run_id, lambda p: p.status in FINAL_STATUSES, timeout)


async def jira_state(sandbox: SandboxServer) -> dict:
    async with httpx.AsyncClient(timeout=30) as http:
        return (await http.get(f"{sandbox.jira_url}/_sandbox/state")).json()


async def jira_issues(sandbox: SandboxServer) -> list[dict]:
    out: list[dict] = []
    async with httpx.AsyncClient(timeout=60) as http:
        offset = 0
        while True:
            page = (
                await http.get(f"{sandbox.jira_url}/_sandbox/state/issues", params={"offset": offset, "limit": 1000})
            ).json()
            items = page["issues"] if isinstance(page, dict) else page
            out.extend(items)
            if len(items) < 1000:
                return out
            offset += len(items)


async def set_jira_faults(sandbox: SandboxServer, **faults: Any) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.patch(f"{sandbox.jira_url}/_sandbox/faults", json=faults)
        r.raise_for_status()


async def jira_fault_counters(sandbox: Any) -> dict:
    """What the sandbox Jira counted: requests, 429s (`throttled`), per endpoint."""
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(f"{sandbox.jira_url}/_sandbox/faults")).json()["counters"]


# Jira's issue creates (bulk, and one by one where a bulk element is retried alone).
ISSUE_CREATES = r"POST /rest/api/3/issue(/bulk)?"


async def hold_jira(sandbox: SandboxServer, *patterns: str, after: int = 0) -> None:
    """Hold the sandbox Jira's answers to these requests (the first `after` pass) until `release_jira`:
    a run then waits at a known point however fast the machine is."""
    await set_jira_faults(sandbox, hold=list(patterns), hold_after=after)


async def release_jira(sandbox: SandboxServer) -> None:
    await set_jira_faults(sandbox, hold=[])


async def jira_held_now(sandbox: SandboxServer) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(f"{sandbox.jira_url}/_sandbox/faults")).json()["counters"]["held_now"]


async def wait_until_held(sandbox: SandboxServer, timeout: float = 120.0) -> None:
    """Until at least one request waits on a hold."""
    deadline = time.monotonic() + timeout
    while await jira_held_now(sandbox) < 1:
        if time.monotonic() > deadline:
            raise AssertionError("no request reached the hold")
        await asyncio.sleep(0.05)


def ado_labels(issues: list[dict]) -> dict[str, list[str]]:
    """ado-id label → the keys carrying it (more than one key is a duplicate)."""
    by_label: dict[str, list[str]] = {}
    for issue in issues:
        for label in issue.get("labels") or []:
            if label.startswith("ado-id-"):
                by_label.setdefault(label, []).append(issue["key"])
    return by_label


async def record_states(stack: Stack, migration_id: str, kind: str = "issue") -> dict[str, int]:
    async with stack.service.sessions() as session:
        rows = await session.execute(
            select(ItemRecord.state, func.count())
            .where(ItemRecord.migration_id == migration_id, ItemRecord.kind == kind)
            .group_by(ItemRecord.state)
        )
        return dict(rows.all())


class WorkerProcess:
    """A worker in its own process, so a test can SIGKILL it like a crashed machine."""

    def __init__(self, stack: Stack, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.stack = stack
        self.log_path = log_path
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ)
        s = self.stack.settings
        env.update(
            # The same auth mode (so secret rules and outbound policy) as the in-process worker of this stack.
            MIGRAYT_AUTH=auth_mode(s),
            MIGRAYT_OUTBOUND_ALLOW=s.outbound_allow,
            MIGRAYT_TASK_QUEUE=s.task_queue,
            MIGRAYT_INDEX_LAG_GRACE_SECONDS=str(s.index_lag_grace_seconds),
            MIGRAYT_HTTP_MAX_RETRIES=str(s.http_max_retries),
            MIGRAYT_CONCURRENCY=str(s.concurrency),
        )
        env.update(self.extra_env)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "migrayt.api.cli",
                "worker",
                "--database-url",
                self.stack.database_url,
                "--temporal-address",
                self.stack.temporal_address,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


async def wait_until_polling(stack, workers: list[WorkerProcess]) -> None:
    """Until every worker process polls the task queue for activities: started before a run, each is handed batches."""
    while True:
        answer = await stack.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=stack.client.namespace,
                task_queue=TaskQueue(name=stack.settings.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        identities = {p.identity for p in answer.pollers}
        if all(any(i.startswith(f"{w.proc.pid}@") for i in identities) for w in workers if w.proc):
            return
        for w in workers:
            if w.proc and w.proc.poll() is not None:
                raise AssertionError(f"a worker process ended before polling: {w.log_path.read_text()[-2000:]}")
        await asyncio.sleep(0.2)


async def final_in_store(stack, tenant: str, run_id: str):
    """The run's end as recorded in the store. Not by querying the workflow: on a loaded machine two workers' workflow
    tasks can overrun the deadlock detector now and then, and a query in that moment fails while the run goes on."""
    while RunStatus((await stack.service.get_run(tenant, run_id)).status) not in FINAL_STATUSES:
        await asyncio.sleep(0.5)
    return await stack.service.progress(tenant, run_id)


def budget_reports(worker: WorkerProcess) -> list[dict]:
    """The site budget's counters each worker logs when it stops (Jira calls, SQL statements)."""
    lines = [line for line in worker.log_path.read_text().splitlines() if "site budgets: " in line]
    return [json.loads(line.split("site budgets: ", 1)[1]) for line in lines]


@asynccontextmanager
async def worker_process(stack: Stack, log_path: Path, **env: str) -> AsyncIterator[WorkerProcess]:
    """`env`: settings of this worker only (MIGRAYT_...)."""
    worker = WorkerProcess(stack, log_path, env)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
