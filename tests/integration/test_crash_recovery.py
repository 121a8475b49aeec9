"""Exactly once under crashes and a hostile Jira: a worker SIGKILLed in phase 2, alone, with dropped responses
and index lag, and in a 429 storm."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from migrayt.contracts.phases import run_phases
from migrayt.contracts.runs import FINAL_STATUSES, RunStatus
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.testing import SandboxAdmin, running_sandbox
from migrayt.store.models import ItemRecord
from tests.integration.checker import JiraView, check_parents
from tests.integration.harness import (
    ISSUE_CREATES,
    WorkerProcess,
    ado_labels,
    create_sandbox_migration,
    jira_issues,
    release_jira,
    set_jira_faults,
    structure_only_plan,
    wait_final,
    wait_for,
    wait_until_held,
    worker_process,
)

TENANT = "crash-co"
ITEMS = 150
STORM_ITEMS = 150  # six batches (of 25) for four slots: the first finished batch leaves the phase unfinished
BATCH_SIZE = 25
# The first two issue creates pass; the next wait unanswered until the worker is dead, so every kill lands
# in the middle of phase 2 with writes in flight, however fast the machine is.
HELD_MID_CREATE = dict(hold=[ISSUE_CREATES], hold_after=2)


@pytest.fixture
def stack(stack):
    """The kills need more batches than slots: batches of 25 make six of 150 items, half the work of 300."""
    return stack.with_batch_size(BATCH_SIZE)


def assert_exactly_once(issues, progress, items=ITEMS):
    labels = ado_labels(issues)
    duplicates = {label: keys for label, keys in labels.items() if len(keys) > 1}
    assert duplicates == {}, f"duplicates in Jira: {duplicates}"
    c = progress.counters["create_items"]
    assert c.created + c.skipped + c.failed == c.total == items
    assert len(labels) == c.created + c.skipped


async def jira_fault_counters(sandbox) -> dict:
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(f"{sandbox.jira_url}/_sandbox/faults")).json()["counters"]


async def past_create_items(stack, run_id: str) -> None:
    """The faults target phase 2; later phases have their own fault tests."""
    await wait_for(
        stack, TENANT, run_id, lambda p: p.phase in run_phases()[2:] or p.status in FINAL_STATUSES, timeout=240
    )


async def items_written_twice(stack, migration_id: str) -> int:
    """Items whose write was attempted more than once or reconciled: the work a crash made us redo."""
    async with stack.service.sessions() as session:
        return await session.scalar(
            select(func.count()).where(
                ItemRecord.migration_id == migration_id,
                ItemRecord.kind == "issue",
                (ItemRecord.attempts > 1) | ItemRecord.detail["reconciled"].as_boolean(),
            )
        )


async def test_worker_killed_in_phase_2_redoes_at_most_the_batches_in_flight(stack, tmp_path):
    with running_sandbox(items=ITEMS, seed=21, jira_faults=FaultConfig(**HELD_MID_CREATE)) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        worker = WorkerProcess(stack, tmp_path / "worker.log")
        worker.start()
        try:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            await kill_and_restart_mid_create_items(stack, worker, run_id, sandbox)
            final = await wait_final(stack, TENANT, run_id)
        finally:
            worker.stop()
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        assert_exactly_once(await jira_issues(sandbox), final)
        redone = await items_written_twice(stack, migration_id)
        in_flight_at_most = stack.settings.concurrency * stack.settings.batch_size
        assert redone <= in_flight_at_most


async def kill_and_restart_mid_create_items(stack, worker: WorkerProcess, run_id: str, sandbox) -> None:
    """SIGKILL the worker while phase 2's held creates wait, let them land (their answers die with the worker),
    and start a new worker."""
    await wait_for(stack, TENANT, run_id, lambda p: p.phase == "create_items")
    await wait_until_held(sandbox)
    at_kill = await stack.service.progress(TENANT, run_id)
    worker.kill()
    await release_jira(sandbox)
    worker.start()
    c = at_kill.counters["create_items"]
    assert c.created < c.total, "the kill must land in the middle of phase 2"


async def test_killed_with_dropped_responses_and_index_lag_causes_no_duplicates(stack, tmp_path):
    # Batches killed in flight leave pending records whose issues Jira's search cannot see yet.
    faults = FaultConfig(share_drop_after_write=0.25, search_index_lag_seconds=5.0, seed=3, **HELD_MID_CREATE)
    with running_sandbox(items=ITEMS, seed=22, jira_faults=faults) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        async with worker_process(stack, tmp_path / "worker.log") as worker:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            await kill_and_restart_mid_create_items(stack, worker, run_id, sandbox)
            await past_create_items(stack, run_id)
            dropped = await jira_fault_counters(sandbox)
            await set_jira_faults(sandbox, share_drop_after_write=0, search_index_lag_seconds=0)
            final = await wait_final(stack, TENANT, run_id)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        issues = await jira_issues(sandbox)
        assert_exactly_once(issues, final)
        assert dropped["dropped_after_write"] > 0, "the test must have dropped some responses"
        # Parents set in the create payloads (MIGRAYT_PARENTS_AT_CREATE, on) survive the kill and the lost answers:
        # every issue under its ADO parent's issue, once.
        project = GeneratedProject(ProjectSpec(seed=22, items=ITEMS))
        assert check_parents(project, JiraView(issues), structure_only_plan()) == []


async def test_killed_in_a_429_storm_rides_it_out(stack, tmp_path):
    storm = dict(share_429=0.3, share_5xx=0.05, retry_after_seconds=0.2, seed=4)
    with running_sandbox(items=STORM_ITEMS, seed=23, jira_faults=FaultConfig(**HELD_MID_CREATE)) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        async with worker_process(stack, tmp_path / "worker.log") as worker, SandboxAdmin.for_ado(sandbox) as ado:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            # The storm breaks as phase 2 starts, not in preflight: there each of a hundred one-at-a-time calls
            # answered 429 waited Jira's whole second of Retry-After (90 s of this test), and the client rides a 429
            # the same way in every phase.
            await wait_for(stack, TENANT, run_id, lambda p: p.phase == "create_items")
            await set_jira_faults(sandbox, **storm)
            await ado.set_faults(**storm)
            await kill_and_restart_mid_create_items(stack, worker, run_id, sandbox)
            await past_create_items(stack, run_id)
            storm_429s = (await jira_fault_counters(sandbox))["throttled"]
            await set_jira_faults(sandbox, share_429=0, share_5xx=0)
            await ado.set_faults(share_429=0, share_5xx=0)
            final = await wait_final(stack, TENANT, run_id)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        assert_exactly_once(await jira_issues(sandbox), final, items=STORM_ITEMS)
        assert storm_429s > 0, "phase 2 must have been answered 429s"
        assert final.counters["create_items"].failed == 0
