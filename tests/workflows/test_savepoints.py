"""When a run writes savepoints: at each phase end, on pause (once nothing writes), and while batches run
once the last one is older than `savepoint_every_minutes`. Mocked activities on a real dev server."""

from __future__ import annotations

import pytest

from migrayt.contracts.phases import run_phases
from migrayt.contracts.runs import RunControl, RunStatus
from migrayt.workflows.migration_run import MigrationRunWorkflow
from tests.workflows.fakes import FakeRunActivities
from tests.workflows.retry_after_kill import steps_slow_to_retry
from tests.workflows.test_migration_run import pause_mid_batch, running

pytestmark = pytest.mark.timeout(90)


async def test_a_savepoint_is_written_at_each_phase_end(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[4])
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        result = await handle.result()

    assert result.status == RunStatus.COMPLETED
    assert [s.phase for s in fakes.savepoints] == list(run_phases())
    assert {s.reason for s in fakes.savepoints} == {"phase_end"}
    assert all((s.run_id, s.migration_id, s.tenant) == (handle.id, "mig-1", "acme-corp") for s in fakes.savepoints)
    # Each one right after its phase is recorded finished: it holds everything the phase wrote.
    ends = [i for i, a in enumerate(fakes.timeline) if a == "phase_finished"]
    assert all(fakes.timeline[i + 1] == "savepoint:phase_end" for i in ends)


async def test_a_savepoint_is_written_on_pause_once_nothing_writes(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[6], hold={"links"})
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        await pause_mid_batch(handle, fakes, "links", in_flight=2)
        await fakes.wait_until(lambda: any(s.reason == "pause" for s in fakes.savepoints))
        paused = next(s for s in fakes.savepoints if s.reason == "pause")
        assert paused.phase == "links"
        assert fakes.timeline.index("savepoint:pause") == fakes.timeline.index("paused_effective") + 1
        # The phases before the pause each left theirs: the last one is of the phase before links.
        assert [s.phase for s in fakes.savepoints if s.reason == "phase_end"] == list(run_phases())[:3]
        fakes.release()
        await handle.signal(MigrationRunWorkflow.resume, RunControl(actor="bob", door="cli"))
        assert (await handle.result()).status == RunStatus.COMPLETED


async def test_savepoints_are_written_between_batches_when_the_last_is_older_than_the_setting(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[12])
    # A tiny interval: every batch boundary after the first finds the last savepoint older than it.
    async with running(workflow_env, fakes, batch_size=2, concurrency=1, savepoint_every_minutes=1e-6) as handle:
        assert (await handle.result()).status == RunStatus.COMPLETED
    assert any(s.reason == "periodic" for s in fakes.savepoints)

    quiet = FakeRunActivities(tier_sizes=[12])
    async with running(workflow_env, quiet, batch_size=2, concurrency=1) as handle:
        assert (await handle.result()).status == RunStatus.COMPLETED
    assert {s.reason for s in quiet.savepoints} == {"phase_end"}


async def test_every_step_of_a_run_is_retried_within_seconds_when_its_worker_dies(workflow_env):
    """A worker killed mid-step leaves that step to Temporal's timeout: a step that does not heartbeat waits out
    its whole start-to-close timeout before another worker may retry it. A savepoint waited 5 minutes (CI's chaos
    and fleet runs, whose kills land at phase ends, took 5–6 minutes instead of one)."""
    fakes = FakeRunActivities(tier_sizes=[4])
    async with running(workflow_env, fakes, batch_size=2, concurrency=2) as handle:
        assert (await handle.result()).status == RunStatus.COMPLETED
        scheduled, slow = await steps_slow_to_retry(handle)
    assert "write_savepoint" in scheduled
    assert slow == set()
