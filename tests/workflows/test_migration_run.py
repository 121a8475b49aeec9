"""The run workflow on a real Temporal with fake activities: its controls and continue-as-new.

What the activities do is tested against real parts elsewhere (tests/integration); here the
workflow's own decisions are: which batches it launches, cuts and redoes, and what it reports.
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

from migrayt.contracts.phases import run_phases
from migrayt.contracts.runs import MigrationRunInput, RunCheckpoint, RunControl, RunStatus
from migrayt.temporal.search_attributes import STATUS
from migrayt.workflows.migration_run import MigrationRunWorkflow, fresh_counters
from tests.workflows.fakes import FakeRunActivities

BATCH_PHASES = run_phases()[1:]
# A workflow that never gets where a test waits fails the test instead of hanging the session.
pytestmark = pytest.mark.timeout(90)


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, fakes: FakeRunActivities, slots: int = 100, **run: object
) -> AsyncIterator[WorkflowHandle]:
    """A worker with the fakes (running at most `slots` activities at once), and a run started on it."""
    queue = f"run-test-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[MigrationRunWorkflow],
        activities=fakes.activities,
        max_concurrent_activities=slots,
        # As the real worker: a cut reaches a batch in its next heartbeat's answer.
        max_heartbeat_throttle_interval=timedelta(milliseconds=100),
        default_heartbeat_throttle_interval=timedelta(milliseconds=100),
    ):
        run_id = f"run-{uuid.uuid4().hex[:12]}"
        handle = await env.client.start_workflow(
            MigrationRunWorkflow.run,
            MigrationRunInput(run_id=run_id, migration_id="mig-1", tenant="acme-corp", requested_by="ann", **run),
            id=run_id,
            task_queue=queue,
        )
        try:
            yield handle
        finally:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test over")


async def pause_mid_batch(handle: WorkflowHandle, fakes: FakeRunActivities, phase: str, in_flight: int) -> None:
    await fakes.wait_until(lambda: len(fakes.starts(fakes.started, phase)) == in_flight)
    await handle.signal(MigrationRunWorkflow.pause, RunControl(actor="ann", door="web", reason="lunch"))
    await fakes.wait_until(lambda: "paused_effective" in fakes.actions)


# The later phases go through the work list in content order, in ramped batches: of 2, places 0, 1-2, 3-4, 5.
RAMP_OF_6_BY_2 = [0, 1, 3, 5]


async def test_pause_cuts_the_batches_under_way_and_reports_paused(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[6], hold={"hierarchy"})
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        await pause_mid_batch(handle, fakes, "hierarchy", in_flight=2)

        assert sorted(fakes.starts(fakes.cut, "hierarchy")) == [0, 1]
        assert sorted(fakes.starts(fakes.started, "hierarchy")) == [0, 1], "no batch may start after the pause"
        assert fakes.starts(fakes.finished, "hierarchy") == []
        progress = await handle.query(MigrationRunWorkflow.progress)
        assert progress.status == RunStatus.PAUSED and progress.phase == "hierarchy"
        asked, effective = fakes.event("pause_requested"), fakes.event("paused_effective")
        assert (asked.actor, asked.door, asked.error) == ("ann", "web", "lunch")
        assert effective.status == RunStatus.PAUSED
        assert fakes.actions.index("pause_requested") < fakes.actions.index("paused_effective")
        assert (await handle.describe()).typed_search_attributes.get(STATUS) == "PAUSED"


async def test_resume_redoes_the_cut_batches_once_and_finishes(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[6], hold={"hierarchy"})
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        await pause_mid_batch(handle, fakes, "hierarchy", in_flight=2)
        fakes.release()
        await handle.signal(MigrationRunWorkflow.resume, RunControl(actor="bob", door="cli"))
        result = await handle.result()

    assert result.status == RunStatus.COMPLETED
    started = fakes.starts(fakes.started, "hierarchy")
    assert sorted(started[:2]) == [0, 1] and sorted(started[2:]) == RAMP_OF_6_BY_2, "the cut batches run again"
    assert sorted(fakes.starts(fakes.finished, "hierarchy")) == RAMP_OF_6_BY_2
    # A cut batch's counters are dropped; its rerun counts the items once.
    assert result.counters["hierarchy"].created == 6
    assert all(result.counters[p].created == 6 for p in BATCH_PHASES)
    resumed = fakes.actions[fakes.actions.index("paused_effective") :]
    assert resumed[:3] == ["paused_effective", "resume_requested", "running"]
    assert fakes.event("resume_requested").actor == "bob"


async def test_a_final_status_shows_only_once_its_row_is_written(workflow_env):
    # Whoever sees COMPLETED/FAILED through the query must find the run's final row (and its error) at once.
    fakes = FakeRunActivities(tier_sizes=[2], hold_event="run_finished")
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        await fakes.wait_until(lambda: "run_finished" in fakes.actions)
        assert fakes.event("run_finished").status == RunStatus.COMPLETED
        assert (await handle.query(MigrationRunWorkflow.progress)).status == RunStatus.RUNNING
        fakes.release_event()
        assert (await handle.result()).status == RunStatus.COMPLETED
        assert (await handle.query(MigrationRunWorkflow.progress)).status == RunStatus.COMPLETED


async def test_a_run_whose_failures_were_all_accepted_says_so_in_temporal_too(workflow_env):
    # A re-run whose items failed again, all accepted by the user before: its row settles as
    # COMPLETED_WITH_ACCEPTED_EXCEPTIONS, and what Temporal shows (the MigrationStatus search attribute that
    # `temporal workflow list` filters on, the progress query, the result) says the same, not INCOMPLETE.
    accepted = RunStatus.COMPLETED_WITH_ACCEPTED_EXCEPTIONS
    fakes = FakeRunActivities(tier_sizes=[2], fail={"links"}, settled=accepted)
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        assert (await handle.result()).status == accepted
        assert fakes.event("run_finished").status == RunStatus.INCOMPLETE  # what the row was written as
        assert (await handle.describe()).typed_search_attributes.get(STATUS) == accepted.value
        assert (await handle.query(MigrationRunWorkflow.progress)).status == accepted


async def test_a_run_with_failures_nobody_accepted_stays_incomplete_in_temporal(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[2], fail={"links"})
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        assert (await handle.result()).status == RunStatus.INCOMPLETE
        assert (await handle.describe()).typed_search_attributes.get(STATUS) == RunStatus.INCOMPLETE.value


async def test_cancel_cuts_the_batches_under_way_and_ends_cancelled(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[6], hold={"links"})
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        await fakes.wait_until(lambda: len(fakes.starts(fakes.started, "links")) == 2)
        await handle.signal(MigrationRunWorkflow.cancel, RunControl(actor="ann", door="web"))
        result = await handle.result()

    assert result.status == RunStatus.CANCELLED
    assert sorted(fakes.starts(fakes.cut, "links")) == [0, 1]
    assert sorted(fakes.starts(fakes.started, "links")) == [0, 1], "no batch may start after the cancel"
    assert not {phase for phase, _, _ in fakes.started} & set(run_phases()[run_phases().index("links") + 1 :])
    assert fakes.actions[-2:] == ["cancel_requested", "run_finished"]
    assert fakes.event("cancel_requested").actor == "ann"
    finished = fakes.event("run_finished")
    assert finished.finished and finished.status == RunStatus.CANCELLED


async def test_cancel_while_paused_ends_cancelled_without_resuming(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[6], hold={"hierarchy"})
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        await pause_mid_batch(handle, fakes, "hierarchy", in_flight=2)
        await handle.signal(MigrationRunWorkflow.cancel, RunControl(actor="ann", door="web"))
        result = await handle.result()

    assert result.status == RunStatus.CANCELLED
    assert sorted(fakes.starts(fakes.started, "hierarchy")) == [0, 1]
    assert fakes.event("run_finished").status == RunStatus.CANCELLED


async def test_a_long_run_continues_as_new_and_carries_on_to_the_end(workflow_env):
    tiers = [5, 3]
    fakes = FakeRunActivities(tier_sizes=tiers)
    # A small history limit stands in for Temporal's suggestion, which comes only after thousands of events.
    async with running(workflow_env, fakes, batch_size=1, concurrency=2, history_event_limit=120) as handle:
        result = await handle.result()
        first_run = workflow_env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        last_run = workflow_env.client.get_workflow_handle(handle.id)
        progress = await last_run.query(MigrationRunWorkflow.progress)

    assert result.status == RunStatus.COMPLETED
    assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert progress.continued >= 1
    # Create items goes tier by tier (parents first); the later phases through the whole list in its content order.
    creates = [("create_items", tier, start) for tier, size in enumerate(tiers) for start in range(size)]
    later = [(p, 0, start) for p in BATCH_PHASES if p != "create_items" for start in range(sum(tiers))]
    assert sorted(fakes.finished) == sorted(creates + later), "every batch runs exactly once across the continued runs"
    assert sorted(set(fakes.content_ordered)) == sorted(later)
    assert all(result.counters[p].created == 8 and result.counters[p].total == 8 for p in BATCH_PHASES)
    finished = [e.phase for e in fakes.events if e.action == "phase_finished"]
    assert finished == list(run_phases()), "each phase finishes once, in order"
    keys = [e.event_key for e in fakes.events]
    assert len(set(keys)) == len(keys), "audit events keep distinct keys across continue-as-new"
    assert fakes.actions.count("run_started") == 1 and fakes.actions[-1] == "run_finished"


async def test_a_run_continued_from_before_content_order_keeps_going_tier_by_tier(workflow_env):
    # Its cursor counts in tiers: read as a place in the content order it would skip items and redo others.
    tiers = [2, 1]
    names = list(run_phases())
    checkpoint = RunCheckpoint(phase="hierarchy", tier_sizes=tiers, counters=fresh_counters(names), continued=1)
    fakes = FakeRunActivities(tier_sizes=tiers)
    async with running(workflow_env, fakes, batch_size=1, phases=names, checkpoint=checkpoint) as handle:
        result = await handle.result()

    assert result.status == RunStatus.COMPLETED
    later = [(p, tier, start) for p in names[2:] for tier, size in enumerate(tiers) for start in range(size)]
    assert sorted(fakes.finished) == sorted(later) and fakes.content_ordered == []


async def test_a_phase_is_reported_started_once_when_the_run_continues_as_new_at_its_start(workflow_env):
    # One batch per phase, one at a time: every continue-as-new falls at the start of a phase.
    fakes = FakeRunActivities(tier_sizes=[1])
    async with running(workflow_env, fakes, batch_size=1, concurrency=1, history_event_limit=40) as handle:
        result = await handle.result()
        progress = await workflow_env.client.get_workflow_handle(handle.id).query(MigrationRunWorkflow.progress)

    assert result.status == RunStatus.COMPLETED and progress.continued >= 1
    assert [e.phase for e in fakes.events if e.action == "phase_started"] == list(run_phases())
