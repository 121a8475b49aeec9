"""A run mutes the Jira project's notifications once its preflight passed and puts them back exactly once, however it
ends: completed, cancelled (by the cancel signal or by Temporal), failed, or continued as new on the way. A delta sync
(no preflight) mutes before its first phase, when anything changed."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError

from migrayt.contracts.runs import RunControl, RunStatus
from migrayt.workflows.migration_run import MigrationRunWorkflow
from tests.workflows.fakes import FakeDeltaActivities, FakeRunActivities
from tests.workflows.test_delta_sync import syncing
from tests.workflows.test_migration_run import pause_mid_batch, running

pytestmark = pytest.mark.timeout(90)


async def test_a_completed_run_mutes_first_and_restores_once_before_its_final_status(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[2], hold_event="run_finished")
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        await fakes.wait_until(lambda: "run_finished" in fakes.actions)
        assert fakes.notifications == ["mute", "restore"], "restored before the final status is written"
        fakes.release_event()
        assert (await handle.result()).status == RunStatus.COMPLETED
    assert fakes.notifications == ["mute", "restore"]


async def test_a_paused_run_stays_muted_and_a_cancel_then_restores(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[6], hold={"hierarchy"})
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        await pause_mid_batch(handle, fakes, "hierarchy", in_flight=2)
        assert fakes.notifications == ["mute"]
        await handle.signal(MigrationRunWorkflow.cancel, RunControl(actor="ann", door="web"))
        assert (await handle.result()).status == RunStatus.CANCELLED
    assert fakes.notifications == ["mute", "restore"]


async def test_a_run_cancelled_through_temporal_still_restores(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[6], hold={"links"})
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        await fakes.wait_until(lambda: len(fakes.starts(fakes.started, "links")) == 2)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert fakes.notifications == ["mute", "restore"]
    assert fakes.event("run_finished").status == RunStatus.CANCELLED


async def test_a_run_that_fails_in_preflight_never_mutes(workflow_env):
    # Preflight's checks come before any write: there is nothing to put back (the restore finds no record).
    fakes = FakeRunActivities(tier_sizes=[2])
    fakes.fail_preflight = True
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert fakes.notifications == ["restore"]
    assert fakes.event("run_finished").status == RunStatus.FAILED


async def test_a_run_that_fails_in_a_phase_restores(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[2], refuse={"links"})
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert fakes.notifications == ["mute", "restore"]
    assert fakes.event("run_finished").status == RunStatus.FAILED


async def test_a_run_continued_as_new_mutes_and_restores_once(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[5, 3])
    async with running(workflow_env, fakes, batch_size=1, concurrency=2, history_event_limit=120) as handle:
        result = await handle.result()
        progress = await workflow_env.client.get_workflow_handle(handle.id).query(MigrationRunWorkflow.progress)
    assert result.status == RunStatus.COMPLETED and progress.continued >= 1
    assert fakes.notifications == ["mute", "restore"]


async def test_a_delta_sync_mutes_before_its_first_phase_and_restores_once_before_its_final_status(workflow_env):
    fakes = FakeDeltaActivities(tier_sizes=[2], hold={"create_items"})
    async with syncing(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        await fakes.wait_until(lambda: len(fakes.starts(fakes.started, "create_items")) == 1)
        assert fakes.notifications == ["mute"], "muted before its first write"
        fakes.release()
        assert (await handle.result()).status == RunStatus.COMPLETED
    assert fakes.notifications == ["mute", "restore"]


async def test_a_delta_sync_with_nothing_changed_leaves_the_projects_scheme_alone(workflow_env):
    fakes = FakeDeltaActivities(tier_sizes=[0])
    async with syncing(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        assert (await handle.result()).status == RunStatus.COMPLETED
    # The restore finds no record of a mute: nothing is asked of Jira.
    assert fakes.notifications == ["restore"]
