"""Phase 8 on the run workflow with fake activities: each plugin a sub-phase of its own, and a plugin whose batches
fail for good fails its items, not the run — the phases after it still run and the run ends INCOMPLETE."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError

from migrayt.contracts.phases import BY_NAME, plugins, run_phases
from migrayt.contracts.runs import MigrationRunResult, RunStatus
from tests.workflows.fakes import FakeRunActivities
from tests.workflows.test_migration_run import running

pytestmark = pytest.mark.timeout(90)
# In content order the heaviest item goes alone, then 50 each: places 0, 1-50, 51-100, 101-119.
RAMP_OF_120 = [0, 1, 51, 101]


async def test_each_plugin_runs_as_its_own_phase_with_its_own_counters(workflow_env):
    fakes = FakeRunActivities([120])
    async with running(workflow_env, fakes, batch_size=50) as handle:
        result: MigrationRunResult = await handle.result()
    assert result.status == RunStatus.COMPLETED
    for name in plugins():
        assert name in run_phases() and "plugins" not in run_phases()
        # Batches under way together start and finish in any order: each once, on the ramp's bounds.
        assert sorted(fakes.starts(fakes.finished, name)) == RAMP_OF_120
        assert result.counters[name].created == 120
    # Each plugin is named in the user's words, never a bare "plugins".
    assert {n: (BY_NAME[n].title, BY_NAME[n].counts) for n in plugins()} == {
        "7pace": ("7pace worklogs", "logged"),
        "xray": ("Xray tests", "tests written"),
    }
    assert [e.phase for e in fakes.events if e.action == "phase_started"][-len(plugins()) :] == list(plugins())


async def test_a_plugin_that_fails_for_good_fails_its_items_not_the_run(workflow_env):
    fakes = FakeRunActivities([120], refuse=["7pace"])
    # The plugin before another phase: what comes after it still runs.
    phases = ["preflight", "create_items", "7pace", "comments"]
    async with running(workflow_env, fakes, batch_size=50, phases=phases) as handle:
        result: MigrationRunResult = await handle.result()
    assert result.status == RunStatus.INCOMPLETE
    assert (result.counters["7pace"].failed, result.counters["7pace"].created) == (120, 0)
    assert result.counters["comments"].created == 120
    failed = [e for e in fakes.events if e.action == "plugin_failed"]
    assert len(failed) == len(RAMP_OF_120) and all(e.phase == "7pace" for e in failed)
    # One event per batch, naming its items (batches finish in any order).
    refused = "7pace: refused (HTTP 403): no permission"
    sizes = (1, 50, 50, 19)
    assert sorted(e.error for e in failed) == sorted(f"7pace worklogs: {n} item(s) failed: {refused}" for n in sizes)
    assert sorted(fakes.starts(fakes.finished, "comments")) == RAMP_OF_120


async def test_a_phase_that_is_no_plugin_still_fails_the_run(workflow_env):
    fakes = FakeRunActivities([60], refuse=["links"])
    async with running(workflow_env, fakes, batch_size=50) as handle:
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert fakes.event("run_finished").status == RunStatus.FAILED
    assert not fakes.starts(fakes.started, "7pace")
