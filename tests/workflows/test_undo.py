"""The undo workflow on a real Temporal with fake activities: tier order, refusal, pause/resume/cancel, the sweep.

What the activities remove is tested against the real stack and the sandbox (tests/integration/test_undo.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from migrayt.activities.heartbeat import heartbeating
from migrayt.contracts.execution import RunEventInput, RunEventResult
from migrayt.contracts.runs import PhaseCounters, RunControl, RunStatus
from migrayt.contracts.undo import (
    UndoBatchInput,
    UndoBatchResult,
    UndoInput,
    UndoPlan,
    UndoPlanInput,
    UndoSweepInput,
    UndoSweepResult,
)
from migrayt.workflows.undo import UndoPreviewWorkflow, UndoWorkflow
from tests.workflows.retry_after_kill import steps_slow_to_retry

pytestmark = pytest.mark.timeout(90)


class FakeUndo:
    def __init__(self, tier_sizes: list[int], refused: str | None = None, hold_tier: int | None = None) -> None:
        self.plan = UndoPlan(total=sum(tier_sizes), tier_sizes=tier_sizes, refused=refused)
        self.hold_tier = hold_tier
        self.batches: list[tuple[int, int]] = []
        self.events: list[RunEventInput] = []
        self.swept = 0
        self.planned: list[UndoPlanInput] = []
        self.holding = 0
        self.released = asyncio.Event()
        self.changed = asyncio.Condition()

    @property
    def activities(self) -> list:
        return [self.undo_plan, self.undo_batch, self.undo_sweep, self.record_run_event]

    async def wait_until(self, condition, within: float = 30.0) -> None:
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(condition)

    async def _note(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    @property
    def actions(self) -> list[str]:
        return [e.action for e in self.events]

    @activity.defn(name="undo_plan")
    async def undo_plan(self, input: UndoPlanInput) -> UndoPlan:
        self.planned.append(input)
        return self.plan

    @activity.defn(name="undo_batch")
    async def undo_batch(self, input: UndoBatchInput) -> UndoBatchResult:
        if input.tier == self.hold_tier and not self.released.is_set():
            self.holding += 1
            await self._note()
            async with heartbeating(0.05):
                try:
                    await self.released.wait()
                except asyncio.CancelledError:
                    await self._note()
                    raise
        self.batches.append((input.tier, input.start))
        await self._note()
        n = input.end - input.start
        return UndoBatchResult(counters=PhaseCounters(total=n, created=n))

    @activity.defn(name="undo_sweep")
    async def undo_sweep(self, input: UndoSweepInput) -> UndoSweepResult:
        self.swept += 1
        return UndoSweepResult(released=3)

    @activity.defn(name="record_run_event")
    async def record_run_event(self, event: RunEventInput) -> RunEventResult:
        self.events.append(event)
        await self._note()
        return RunEventResult(recorded=True)


@asynccontextmanager
async def undoing(env: WorkflowEnvironment, fakes: FakeUndo, **undo: object) -> AsyncIterator[WorkflowHandle]:
    queue = f"undo-test-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[UndoWorkflow, UndoPreviewWorkflow],
        activities=fakes.activities,
        max_heartbeat_throttle_interval=timedelta(milliseconds=100),
        default_heartbeat_throttle_interval=timedelta(milliseconds=100),
    ):
        run_id = f"undo-{uuid.uuid4().hex[:12]}"
        handle = await env.client.start_workflow(
            UndoWorkflow.run,
            UndoInput(run_id=run_id, migration_id="mig-1", tenant="acme-corp", requested_by="ann", **undo),
            id=run_id,
            task_queue=queue,
        )
        try:
            yield handle
        finally:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test over")


async def test_undo_removes_content_then_issues_then_containers_and_sweeps_the_ledger(workflow_env):
    fakes = FakeUndo([3, 5, 2])
    async with undoing(workflow_env, fakes, confirm=10, batch_size=2, concurrency=1) as handle:
        result = await handle.result()
    assert result.status == RunStatus.COMPLETED
    assert (result.removed, result.failed) == (10, 0)
    assert [t for t, _ in fakes.batches] == [0, 0, 1, 1, 1, 2]
    assert fakes.swept == 1
    assert fakes.actions[0] == "run_started" and fakes.actions[-1] == "run_finished"
    assert fakes.planned[0].confirm == 10 and fakes.planned[0].dry_run is False


async def test_a_refused_plan_removes_nothing_and_says_why(workflow_env):
    fakes = FakeUndo([0, 4, 0], refused="the undo would remove 4 items now, not the 5 confirmed")
    async with undoing(workflow_env, fakes, confirm=5) as handle:
        result = await handle.result()
    assert result.status == RunStatus.FAILED
    assert "not the 5 confirmed" in (result.error or "")
    assert fakes.batches == [] and fakes.swept == 0
    assert fakes.events[-1].finished and "not the 5 confirmed" in (fakes.events[-1].error or "")


async def test_pause_cuts_the_issue_batch_and_resume_finishes_it(workflow_env):
    fakes = FakeUndo([0, 4, 0], hold_tier=1)
    async with undoing(workflow_env, fakes, confirm=4, batch_size=4) as handle:
        await fakes.wait_until(lambda: fakes.holding == 1)
        await handle.signal(UndoWorkflow.pause, RunControl(actor="ann", door="web"))
        await fakes.wait_until(lambda: "paused_effective" in fakes.actions)
        assert (await handle.query(UndoWorkflow.progress)).status == RunStatus.PAUSED
        assert fakes.swept == 0 and fakes.batches == []  # the cut batch removed nothing it reported
        fakes.released.set()
        await handle.signal(UndoWorkflow.resume, RunControl(actor="ann", door="web"))
        result = await handle.result()
    assert result.status == RunStatus.COMPLETED and result.removed == 4
    assert fakes.swept == 1
    assert {"pause_requested", "paused_effective", "resume_requested", "running"} <= set(fakes.actions)


async def test_cancel_ends_cancelled_without_sweeping(workflow_env):
    fakes = FakeUndo([0, 4, 0], hold_tier=1)
    async with undoing(workflow_env, fakes, confirm=4, batch_size=4) as handle:
        await fakes.wait_until(lambda: fakes.holding == 1)
        await handle.signal(UndoWorkflow.cancel, RunControl(actor="ann", door="cli"))
        result = await handle.result()
    assert result.status == RunStatus.CANCELLED
    assert fakes.swept == 0  # what is left keeps its records: a new undo finds it again


async def test_the_dry_run_only_plans(workflow_env):
    fakes = FakeUndo([1, 2, 0])
    queue = f"undo-test-{uuid.uuid4().hex[:8]}"
    async with Worker(
        workflow_env.client, task_queue=queue, workflows=[UndoPreviewWorkflow], activities=fakes.activities
    ):
        plan = await workflow_env.client.execute_workflow(
            UndoPreviewWorkflow.run,
            UndoPlanInput(run_id="dry-run", migration_id="mig-1", tenant="acme-corp", dry_run=False),
            id=f"undo-preview-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
    assert plan.total == 3
    assert fakes.planned[0].dry_run is True  # forced, whatever the caller said
    assert fakes.batches == [] and fakes.events == []


async def test_every_step_of_an_undo_is_retried_within_seconds_when_its_worker_dies(workflow_env):
    # The ledger's sweep did not heartbeat: a worker killed mid-sweep held the undo for its 10 minutes.
    fakes = FakeUndo([2, 2, 1])
    async with undoing(workflow_env, fakes, confirm=5, batch_size=2, concurrency=1) as handle:
        assert (await handle.result()).status == RunStatus.COMPLETED
        scheduled, slow = await steps_slow_to_retry(handle)
    assert "undo_sweep" in scheduled
    assert slow == set()
