"""One Jira budget per site (issue 17): two worker processes on one site keep to its budget together, and two runs
on one worker share it in turn.

The sandbox Jira answers 429 over `rate_limit_rps`, which is set to the site budget (MIGRAYT_JIRA_SITE_RPS). With the
budget shared through PostgreSQL the two processes stay within it; with each process keeping the same rate to itself
(MIGRAYT_JIRA_SITE_BUDGET_SHARED=false, how every worker limited before) they send up to twice it and are throttled.
Two sources migrate into the one site at once (the second sandbox serves only as a source)."""

from __future__ import annotations

import dataclasses
import os

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.contracts.runs import FINAL_STATUSES
from migrayt.core.runs import MigrationService
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.testing import running_sandbox
from tests.integration.harness import (
    ADO_PAT_ENV,
    JIRA_TOKEN_ENV,
    WorkerProcess,
    budget_reports,
    final_in_store,
    jira_fault_counters,
    structure_only_plan,
    wait_until_polling,
)

ITEMS = 25  # per run; two runs at once
# Below what two workers on this machine can send (about 9 requests/s seen from one), so the budget limits them.
SITE_RPS = 6


def budget_plan():
    """Items and their statuses: the phases of many small calls (transitions), without the slow content ones, and
    without sprints and work logs, which at the site's budget were two fifths of the test's minutes."""
    plan = structure_only_plan()
    plan.skip_phases = [*plan.skip_phases, "hierarchy", "links", "7pace"]
    plan.iterations_to_sprints = False
    # Two runs at once into one Jira project: the second would find the first's silent notification scheme and
    # refuse to start (README, "A migration that e-mails no one"); muting is not what these tests measure.
    plan.mute_notifications = False
    return plan


def on_own_queue(stack, name: str):
    """The stack with a task queue of its own: a worker process polling it runs only the runs started through it."""
    settings = stack.settings.model_copy(update={"task_queue": f"{stack.settings.task_queue}-{name}"})
    return dataclasses.replace(
        stack, settings=settings, service=MigrationService(settings, stack.service.sessions, stack.client)
    )


async def migrate_with_two_workers(stack, tmp_path, monkeypatch, *, shared: bool):
    """Two runs, each on its own worker process (its own task queue), from two sources into one Jira site at once."""
    monkeypatch.setenv("MIGRAYT_JIRA_SITE_RPS", str(SITE_RPS))
    monkeypatch.setenv("MIGRAYT_JIRA_SITE_BUDGET_SHARED", "true" if shared else "false")
    name = "shared" if shared else "own"
    stacks = [on_own_queue(stack, f"{name}-1"), on_own_queue(stack, f"{name}-2")]
    with (
        running_sandbox(items=ITEMS, seed=17, jira_faults=FaultConfig(rate_limit_rps=SITE_RPS)) as site,
        running_sandbox(items=ITEMS, seed=17) as second_source,
    ):
        migrations = [
            await migration_into(stacks[0], f"{name}-one", site, site),
            await migration_into(stacks[1], f"{name}-two", second_source, site),
        ]
        workers = [WorkerProcess(s, tmp_path / f"{name}-worker-{n}.log") for n, s in enumerate(stacks, 1)]
        for worker in workers:
            worker.start()
        try:
            for s, worker in zip(stacks, workers, strict=True):
                await wait_until_polling(s, [worker])
            tenants = [f"{name}-one", f"{name}-two"]
            runs = [
                await s.service.start_run(t, m, actor="test", door="api")
                for s, t, m in zip(stacks, tenants, migrations, strict=True)
            ]
            finals = [await final_in_store(s, t, r) for s, t, r in zip(stacks, tenants, runs, strict=True)]
        finally:
            for worker in workers:
                worker.stop()
        counters = await jira_fault_counters(site)
    reports = [budget_reports(w) for w in workers]
    return finals, counters, reports


def jira_calls(report: list[dict]) -> int:
    return sum(int(site["calls"]) for r in report for site in r.values())


async def test_two_workers_on_one_site_stay_within_its_budget_only_when_they_share_it(stack, tmp_path, monkeypatch):
    finals, counters, reports = await migrate_with_two_workers(stack, tmp_path, monkeypatch, shared=True)
    assert all(f.status in FINAL_STATUSES and f.counters["create_items"].total == ITEMS for f in finals)
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

    finals, counters, reports = await migrate_with_two_workers(stack, tmp_path, monkeypatch, shared=False)
    assert all(f.status in FINAL_STATUSES and f.counters["create_items"].total == ITEMS for f in finals)
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
