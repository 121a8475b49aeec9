"""The delta sync on the run engine, on a real Temporal with fake activities: the same controls as a run.

Pause cuts the batches under way and reports PAUSED, resume redoes them once, cancel is final, a long
sync continues as new, and each control leaves its audit event (what the real activities do with a
delta's changed items is tested in tests/schedules against the sandbox).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from migrayt.contracts.phases import delta_phases
from migrayt.contracts.runs import RunControl, RunStatus
from migrayt.contracts.schedules import DeltaSyncInput
from migrayt.temporal.search_attributes import STATUS
from migrayt.workflows.delta_sync import DeltaSyncWorkflow
from tests.workflows.fakes import FakeDeltaActivities

pytestmark = pytest.mark.timeout(90)


@asynccontextmanager
async def syncing(
    env: WorkflowEnvironment, fakes: FakeDeltaActivities, **sync: object
) -> AsyncIterator[WorkflowHandle]:
    queue = f"delta-test-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[DeltaSyncWorkflow],
        activities=fakes.activities,
        max_heartbeat_throttle_interval=timedelta(milliseconds=100),
        default_heartbeat_throttle_interval=timedelta(milliseconds=100),
    ):
        run_id = f"delta-{uuid.uuid4().hex[:12]}"
        handle = await env.client.start_workflow(
            DeltaSyncWorkflow.run,
            DeltaSyncInput(migration_id="mig-1", tenant="acme-corp", requested_by="ann", door="web", **sync),
            id=run_id,
            task_queue=queue,
        )
        try:
            yield handle
        finally:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test over")


async def pause_mid_batch(handle: WorkflowHandle, fakes: FakeDeltaActivities, phase: str, in_flight: int) -> None:
    await fakes.wait_until(lambda: len(fakes.starts(fakes.started, phase)) == in_flight)
    await handle.signal(DeltaSyncWorkflow.pause, RunControl(actor="ann", door="web", reason="review"))
    await fakes.wait_until(lambda: "paused_effective" in fakes.actions)


async def test_a_paused_delta_sync_cuts_its_batches_reports_paused_and_resumes_them_once(workflow_env):
    fakes = FakeDeltaActivities(tier_sizes=[6], hold={"source_changes"})
    async with syncing(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        await pause_mid_batch(handle, fakes, "source_changes", in_flight=2)

        assert sorted(fakes.starts(fakes.cut, "source_changes")) == [0, 2]
        assert fakes.starts(fakes.started, "source_changes") == [0, 2], "no batch may start after the pause"
        progress = await handle.query(DeltaSyncWorkflow.progress)
        assert progress.status == RunStatus.PAUSED and progress.phase == "source_changes"
        assert (await handle.describe()).typed_search_attributes.get(STATUS) == "PAUSED"
        asked = fakes.event("pause_requested")
        assert (asked.actor, asked.door, asked.error) == ("ann", "web", "review")

        fakes.release()
        await handle.signal(DeltaSyncWorkflow.resume, RunControl(actor="bob", door="cli"))
        result = await handle.result()

    assert result.status == RunStatus.COMPLETED
    assert fakes.starts(fakes.started, "source_changes") == [0, 2, 0, 2, 4], "the cut batches run again first"
    assert sorted(fakes.starts(fakes.finished, "source_changes")) == [0, 2, 4]
    assert all(result.counters[p].created == 6 for p in delta_phases()), "a cut batch's items are counted once"
    resumed = fakes.actions[fakes.actions.index("paused_effective") :]
    assert resumed[:3] == ["paused_effective", "resume_requested", "running"]
    assert fakes.event("resume_requested").actor == "bob"


async def test_a_cancelled_delta_sync_cuts_its_batches_and_ends_cancelled(workflow_env):
    fakes = FakeDeltaActivities(tier_sizes=[6], hold={"links"})
    async with syncing(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        await fakes.wait_until(lambda: len(fakes.starts(fakes.started, "links")) == 2)
        await handle.signal(DeltaSyncWorkflow.cancel, RunControl(actor="ann", door="cli"))
        result = await handle.result()

    assert result.status == RunStatus.CANCELLED
    assert sorted(fakes.starts(fakes.cut, "links")) == [0, 2]
    later = delta_phases()[delta_phases().index("links") + 1 :]
    assert not {phase for phase, _, _ in fakes.started} & set(later), "nothing runs after the cancel"
    assert fakes.actions[-2:] == ["cancel_requested", "run_finished"]
    assert fakes.event("cancel_requested").door == "cli"
    assert fakes.event("run_finished").status == RunStatus.CANCELLED


async def test_a_long_delta_sync_continues_as_new_and_runs_every_batch_once(workflow_env):
    tiers = [4, 3]
    fakes = FakeDeltaActivities(tier_sizes=tiers)
    async with syncing(workflow_env, fakes, batch_size=1, concurrency=2, history_event_limit=120) as handle:
        result = await handle.result()
        first = workflow_env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        progress = await workflow_env.client.get_workflow_handle(handle.id).query(DeltaSyncWorkflow.progress)

    assert result.status == RunStatus.COMPLETED
    assert (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert progress.continued >= 1
    every = [(p, tier, start) for p in delta_phases() for tier, size in enumerate(tiers) for start in range(size)]
    assert sorted(fakes.finished) == sorted(every), "every batch runs exactly once across the continued syncs"
    assert [e.phase for e in fakes.events if e.action == "phase_finished"] == list(delta_phases())
    keys = [e.event_key for e in fakes.events]
    assert len(set(keys)) == len(keys), "audit events keep distinct keys across continue-as-new"
    assert fakes.actions.count("run_started") == 1 and fakes.actions[-1] == "run_finished"
