"""ValidationWorkflow on a real Temporal with fake activities: its batches, controls, verdict and continue-as-new.
What the activities compare is tested in tests/unit/test_validation_rules.py and against the sandbox in
tests/integration/test_validation.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from migrayt.activities.heartbeat import heartbeating
from migrayt.contracts.runs import RunControl
from migrayt.contracts.validation import (
    ValidationBatchInput,
    ValidationBatchResult,
    ValidationEventInput,
    ValidationEventResult,
    ValidationFinishInput,
    ValidationFinishResult,
    ValidationInput,
    ValidationPrepareInput,
    ValidationPrepareResult,
    ValidationStatus,
    add_counts,
)
from migrayt.temporal.search_attributes import STATUS
from migrayt.translation.validation_rules import verdict
from migrayt.workflows.validation import ValidationWorkflow
from tests.workflows.retry_after_kill import steps_slow_to_retry

pytestmark = pytest.mark.timeout(90)


class FakeValidation:
    """Each batch finds one missing link per item; batches wait while `hold` is set."""

    def __init__(self, items: int) -> None:
        self.items = items
        self.batches: list[int] = []
        self.stored: dict[int, dict] = {}  # start → counts, as the real activity stores them: once per batch
        self.events: list[ValidationEventInput] = []
        self.hold = asyncio.Event()
        self.hold.set()

    @property
    def actions(self) -> list[str]:
        return [e.action for e in self.events]

    async def wait_until(self, predicate, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)

    @activity.defn(name="validation_prepare")
    async def prepare(self, input: ValidationPrepareInput) -> ValidationPrepareResult:
        return ValidationPrepareResult(items_total=self.items, counts={"items": {"extra": 1}})

    @activity.defn(name="validate_batch")
    async def batch(self, input: ValidationBatchInput) -> ValidationBatchResult:
        self.batches.append(input.start)
        async with heartbeating(0.2):  # as the real batch does, so a held one is not timed out
            await self.hold.wait()
        counts = {"links": {"missing": input.end - input.start}}
        self.stored[input.start] = counts
        return ValidationBatchResult(items=input.end - input.start, counts=counts, jira_calls=1)

    @activity.defn(name="validation_finish")
    async def finish(self, input: ValidationFinishInput) -> ValidationFinishResult:
        counts: dict = {"items": {"extra": 1}}
        for c in self.stored.values():
            add_counts(counts, c)
        return ValidationFinishResult(
            status=verdict(counts, input.tolerances), items_checked=sum(self.stored_items()), counts=counts
        )

    def stored_items(self) -> list[int]:
        return [c["links"]["missing"] for c in self.stored.values()]

    @activity.defn(name="record_validation_event")
    async def event(self, input: ValidationEventInput) -> ValidationEventResult:
        self.events.append(input)
        return ValidationEventResult(recorded=True)

    @property
    def activities(self) -> list:
        return [self.prepare, self.batch, self.finish, self.event]


@asynccontextmanager
async def running(env: WorkflowEnvironment, fakes: FakeValidation, **options) -> AsyncIterator[WorkflowHandle]:
    queue = f"validation-test-{uuid.uuid4().hex[:8]}"
    async with Worker(env.client, task_queue=queue, workflows=[ValidationWorkflow], activities=fakes.activities):
        vid = f"val-{uuid.uuid4().hex[:12]}"
        handle = await env.client.start_workflow(
            ValidationWorkflow.run,
            ValidationInput(validation_id=vid, migration_id="mig-1", tenant="acme-corp", requested_by="ann", **options),
            id=vid,
            task_queue=queue,
        )
        try:
            yield handle
        finally:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test over")


async def test_every_batch_once_counts_summed_and_the_verdict_honours_tolerances(workflow_env):
    fakes = FakeValidation(items=250)
    async with running(workflow_env, fakes, tolerances={"links": 250, "items": 1}) as handle:
        result = await handle.result()
        assert (await handle.describe()).typed_search_attributes.get(STATUS) == "PASSED"
    assert sorted(fakes.batches) == [0, 100, 200]
    assert result.status == ValidationStatus.PASSED and result.items_checked == 250
    assert result.counts == {"items": {"extra": 1}, "links": {"missing": 250}}
    assert fakes.actions[0] == "validation_started" and fakes.actions[-1] == "validation_finished"
    assert fakes.events[0].actor == "ann"

    fakes = FakeValidation(items=250)
    async with running(workflow_env, fakes, tolerances={"links": 249, "items": 1}) as handle:
        assert (await handle.result()).status == ValidationStatus.FAILED


async def test_pause_stops_new_batches_and_resume_finishes_each_once(workflow_env):
    fakes = FakeValidation(items=500)
    fakes.hold.clear()
    async with running(workflow_env, fakes, batch_size=100, concurrency=2) as handle:
        await fakes.wait_until(lambda: len(fakes.batches) == 2)
        await handle.signal(ValidationWorkflow.pause, RunControl(actor="ann", door="web"))
        await fakes.wait_until(lambda: "pause_requested" in fakes.actions)
        fakes.hold.set()  # the batches under way finish and are stored; no new one starts
        await fakes.wait_until(lambda: "paused_effective" in fakes.actions)
        progress = await handle.query(ValidationWorkflow.progress)
        assert progress.status == ValidationStatus.PAUSED and progress.items_checked == 200
        assert sorted(fakes.batches) == [0, 100]
        assert (await handle.describe()).typed_search_attributes.get(STATUS) == "PAUSED"
        await handle.signal(ValidationWorkflow.resume, RunControl(actor="bob", door="cli"))
        result = await handle.result()
    assert sorted(fakes.batches) == [0, 100, 200, 300, 400]
    assert result.items_checked == 500 and result.status == ValidationStatus.FAILED
    assert fakes.actions.index("paused_effective") < fakes.actions.index("resume_requested")


async def test_cancel_ends_cancelled_without_a_verdict(workflow_env):
    fakes = FakeValidation(items=500)
    fakes.hold.clear()
    async with running(workflow_env, fakes, batch_size=100, concurrency=1) as handle:
        await fakes.wait_until(lambda: len(fakes.batches) == 1)
        await handle.signal(ValidationWorkflow.cancel, RunControl(actor="ann", door="api"))
        fakes.hold.set()
        result = await handle.result()
    assert result.status == ValidationStatus.CANCELLED
    assert fakes.batches == [0]
    assert fakes.events[-1].action == "validation_finished" and fakes.events[-1].status == ValidationStatus.CANCELLED


async def test_continue_as_new_keeps_the_cursor_and_the_counts(workflow_env):
    fakes = FakeValidation(items=1000)
    async with running(workflow_env, fakes, batch_size=10, concurrency=2, history_event_limit=40) as handle:
        result = await handle.result()
    assert sorted(fakes.batches) == list(range(0, 1000, 10)), "every batch exactly once across executions"
    assert result.items_checked == 1000
    progress_continued = max(e.items_checked for e in fakes.events)
    assert progress_continued <= 1000
    assert result.counts["links"] == {"missing": 1000}


async def test_every_step_of_a_validation_is_retried_within_seconds_when_its_worker_dies(workflow_env):
    # The verdict's step did not heartbeat: a worker killed while summing waited out its 5 minutes.
    fakes = FakeValidation(items=150)
    async with running(workflow_env, fakes, tolerances={"links": 150, "items": 1}) as handle:
        await handle.result()
        scheduled, slow = await steps_slow_to_retry(handle)
    assert "validation_finish" in scheduled
    assert slow == set()
