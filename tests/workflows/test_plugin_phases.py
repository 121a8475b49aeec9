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


async def test_each_plugin_runs_as_its_own_phase_with_its_own_counters(workflow_env):
    fakes = FakeRunActivities([120])
    async with running(workflow_env, fakes, batch_size=50) as handle:
        result: MigrationRunResult = await handle.result()
    assert result.status == RunStatus.COMPLETED
    for name in plugins():
        assert name in run_phases() and "plugins" not in run_phases()
        assert fakes.starts(fakes.finished, name) == [0, 50, 100]
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
    assert len(failed) == 3 and all(e.phase == "7pace" for e in failed)
    assert failed[0].error.startswith("7pace worklogs: 50 item(s) failed: 7pace: refused (HTTP 403)")
    assert fakes.starts(fakes.finished, "comments") == [0, 50, 100]


async def test_a_phase_that_is_no_plugin_still_fails_the_run(workflow_env):
    fakes = FakeRunActivities([60], refuse=["links"])
    async with running(workflow_env, fakes, batch_size=50) as handle:
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert fakes.event("run_finished").status == RunStatus.FAILED
    assert not fakes.starts(fakes.started, "7pace")
