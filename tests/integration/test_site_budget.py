"""Two worker processes on one Jira site keep to the site's budget together (issue 17).

The sandbox Jira answers 429 over `rate_limit_rps`, which is set to the site budget (MIGRAYT_JIRA_SITE_RPS). With the
budget shared through PostgreSQL the two processes stay within it; with each process keeping the same rate to itself
(MIGRAYT_JIRA_SITE_BUDGET_SHARED=false, how every worker limited before) they send up to twice it and are throttled."""

from __future__ import annotations

import asyncio
import json
import os

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.contracts.runs import FINAL_STATUSES
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.testing import running_sandbox
from migrayt.worker.main import run_worker
from tests.integration.harness import (
    ADO_PAT_ENV,
    JIRA_TOKEN_ENV,
    WorkerProcess,
    ado_labels,
    create_sandbox_migration,
    jira_issues,
    record_states,
    structure_only_plan,
    wait_final,
)

TENANT = "budget-co"
ITEMS = 150  # three batches of 50 in flight at once, over two workers
# Below what two workers on this machine can send (about 9 requests/s seen), so the budget is what limits them.
SITE_RPS = 5


async def jira_fault_counters(sandbox) -> dict:
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(f"{sandbox.jira_url}/_sandbox/faults")).json()["counters"]


async def wait_until_polling(stack, workers: list[WorkerProcess]) -> None:
    """Both processes poll for activities before the run starts, so both are handed batches."""
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
        await asyncio.sleep(0.2)


def budget_plan():
    """Items and their statuses: the phases of many small calls (transitions), without the slow content ones."""
    plan = structure_only_plan()
    plan.skip_phases = [*plan.skip_phases, "hierarchy", "links"]
    return plan


def budget_reports(worker: WorkerProcess) -> list[dict]:
    """The site budget's counters each worker logs when it stops (Jira calls, SQL statements)."""
    lines = [line for line in worker.log_path.read_text().splitlines() if "site budgets: " in line]
    return [json.loads(line.split("site budgets: ", 1)[1]) for line in lines]


async def migrate_with_two_workers(stack, tmp_path, monkeypatch, *, shared: bool):
    monkeypatch.setenv("MIGRAYT_JIRA_SITE_RPS", str(SITE_RPS))
    monkeypatch.setenv("MIGRAYT_JIRA_SITE_BUDGET_SHARED", "true" if shared else "false")
    name = "shared" if shared else "own"
    with running_sandbox(items=ITEMS, seed=17, jira_faults=FaultConfig(rate_limit_rps=SITE_RPS)) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=budget_plan(), tenant=TENANT)
        workers = [WorkerProcess(stack, tmp_path / f"{name}-worker-{n}.log") for n in (1, 2)]
        for worker in workers:
            worker.start()
        try:
            await wait_until_polling(stack, workers)
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            final = await wait_final(stack, TENANT, run_id)
        finally:
            for worker in workers:
                worker.stop()
        counters = await jira_fault_counters(sandbox)
        labels = ado_labels(await jira_issues(sandbox))
    reports = [budget_reports(w) for w in workers]
    return final, counters, labels, reports


def jira_calls(report: list[dict]) -> int:
    return sum(int(site["calls"]) for r in report for site in r.values())


async def test_two_workers_on_one_site_stay_within_its_budget_only_when_they_share_it(stack, tmp_path, monkeypatch):
    final, counters, labels, reports = await migrate_with_two_workers(stack, tmp_path, monkeypatch, shared=True)
    assert final.status in FINAL_STATUSES and final.counters["create_items"].total == ITEMS
    assert all(len(keys) == 1 for keys in labels.values()), "every item once"
    assert all(jira_calls(r) > 0 for r in reports), f"both workers talked to the site: {reports}"
    calls = sum(jira_calls(r) for r in reports)
    statements = sum(int(site["sql_statements"]) for r in reports for x in r for site in x.values())
    print(
        f"shared: {counters['requests']} Jira requests, {counters['throttled']} answered 429; "
        f"{statements} SQL statements for {calls} budgeted calls ({statements / calls:.2f} per call)"
    )
    shared_429s = counters["throttled"]
    # A handful at most: requests granted a moment apart can still reach Jira bunched.
    assert shared_429s <= max(3, counters["requests"] // 100), counters

    final, counters, labels, reports = await migrate_with_two_workers(stack, tmp_path, monkeypatch, shared=False)
    assert final.status in FINAL_STATUSES and all(len(keys) == 1 for keys in labels.values())
    assert all(jira_calls(r) > 0 for r in reports), f"both workers talked to the site: {reports}"
    print(f"each process alone: {counters['requests']} Jira requests, {counters['throttled']} answered 429")
    assert counters["throttled"] > 5 * max(1, shared_429s), "the same rate kept per process exceeds the site's budget"


LARGE_ITEMS = 200
SMALL_ITEMS = 20


async def migration_into(stack, tenant: str, ado_of, jira_of) -> str:
    """A migration of `ado_of`'s ADO project into `jira_of`'s Jira site: two sources, one site."""
    os.environ[ADO_PAT_ENV] = "sandbox-pat"
    os.environ[JIRA_TOKEN_ENV] = "sandbox-token"
    return await stack.service.create_migration(
        tenant,
        f"{tenant} to PHX",
        SourceConnection(
            organization_url=ado_of.ado_url, project="Phoenix", team="Phoenix Team", pat_ref=f"env:{ADO_PAT_ENV}"
        ),
        TargetConnection(
            base_url=jira_of.jira_url,
            project_key="PHX",
            email="migrator@example.com",
            token_ref=f"env:{JIRA_TOKEN_ENV}",
        ),
        budget_plan(),
        actor="test@budget.example",
        door="api",
    )


async def test_a_small_run_beside_a_large_one_on_one_site_budget_is_not_starved(stack):
    settings = stack.settings.model_copy(update={"jira_site_rps": float(SITE_RPS), "jira_site_budget_shared": True})
    with (
        running_sandbox(items=LARGE_ITEMS, seed=5) as large_site,
        running_sandbox(items=SMALL_ITEMS, seed=5) as small_source,
    ):
        # Both tenants' runs write to the one Jira site of the first sandbox; the second sandbox is only a source.
        large = await migration_into(stack, "large-co", large_site, large_site)
        small = await migration_into(stack, "small-co", small_source, large_site)
        async with run_worker(settings, stack.client, stack.database_url):
            large_run = await stack.service.start_run("large-co", large, actor="test", door="api")
            while not (await record_states(stack, large)).get("done"):
                await asyncio.sleep(0.2)
            small_run = await stack.service.start_run("small-co", small, actor="test", door="api")
            small_final = await wait_final(stack, "small-co", small_run)
            large_when_small_ended = await record_states(stack, large)
            await stack.service.control("large-co", large_run, "cancel", actor="test", door="api")
            await wait_final(stack, "large-co", large_run)
    small_done = await record_states(stack, small)
    print(f"when the small run ended: small {small_done}, large {large_when_small_ended} of {LARGE_ITEMS}")
    assert (
        small_final.status in FINAL_STATUSES and small_done.get("done", 0) + small_done.get("failed", 0) == SMALL_ITEMS
    )
    assert 0 < large_when_small_ended.get("done", 0) < LARGE_ITEMS, (
        "both progressed; the small did not wait for the large"
    )
