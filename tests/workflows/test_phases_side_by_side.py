"""Phases side by side on a real Temporal with fake activities: which batches the workflow runs at once, in which
order for one item, and how each phase's own cursor carries a paused or continued run.

That a side-by-side run ends in the same Jira state as a sequential one is shown against real parts in
tests/integration/test_phases_side_by_side.py.
"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus

from migrayt.contracts.phases import PHASES, run_phases, side_by_side_groups
from migrayt.contracts.runs import PhaseSchedule, RunControl, RunStatus
from migrayt.settings import get_settings
from migrayt.temporal.search_attributes import PHASE
from migrayt.worker.main import activity_slots
from migrayt.workflows.migration_run import MigrationRunWorkflow
from tests.workflows.fakes import Batch, FakeRunActivities
from tests.workflows.test_migration_run import running

pytestmark = pytest.mark.timeout(90)

SIDE_BY_SIDE = {"phase_schedule": PhaseSchedule.SIDE_BY_SIDE}
(GROUP,) = side_by_side_groups(run_phases())
BATCH_PHASES = run_phases()[1:]
AFTER_FILES = ("transitions", "comments", "xray")
# Create items goes tier by tier in batches of `batch_size`; the later phases through the work list in content order,
# in batches that ramp up (1, 2, 4 … items: workflows/engine.py batch_end). Of 2: places 0, 1-2, 3-4 …
CONTENT_ORDERED = BATCH_PHASES[1:]


def files_before_comments(fakes: FakeRunActivities) -> None:
    """Every comments batch (and statuses batch: a closed status may forbid edits; and Xray batch: attachments
    rewrites the description its steps go in) started only after the attachments batch of the same items had
    finished."""
    assert {p.name for p in PHASES if p.after_batch_of == "attachments"} == set(AFTER_FILES)
    for index, (what, (phase, tier, start)) in enumerate(fakes.log):
        if what == "started" and phase in AFTER_FILES:
            assert ("finished", ("attachments", tier, start)) in fakes.log[:index], (phase, tier, start)


def finished_phases(fakes: FakeRunActivities) -> set[str | None]:
    return {e.phase for e in fakes.events if e.action == "phase_finished"}


def batches_of(fakes: FakeRunActivities, phase: str, what: str) -> list[Batch]:
    return [b for w, b in fakes.log if w == what and b[0] == phase]


async def test_the_group_runs_at_once_and_each_item_gets_its_files_before_its_comments(workflow_env):
    assert GROUP == ["links", "attachments", "transitions", "comments", "7pace", "xray"]
    fakes = FakeRunActivities(tier_sizes=[4], hold={"attachments"})
    async with running(workflow_env, fakes, batch_size=2, concurrency=2, **SIDE_BY_SIDE) as handle:
        # Files are held: every other phase of the group finishes meanwhile, except those waiting for the files.
        others = [p for p in GROUP if p not in ("attachments", *AFTER_FILES)]
        await fakes.wait_until(lambda: set(others) <= finished_phases(fakes))
        assert all(batches_of(fakes, p, "started") == [] for p in AFTER_FILES)
        progress = await handle.query(MigrationRunWorkflow.progress)
        assert progress.phases_running == ["attachments", "transitions", "comments", "xray"]
        assert progress.phase == "attachments" and progress.status == RunStatus.RUNNING
        assert (await handle.describe()).typed_search_attributes.get(PHASE) == "attachments"
        fakes.release()
        result = await handle.result()
        final = await handle.query(MigrationRunWorkflow.progress)

    assert result.status == RunStatus.COMPLETED and final.phases_running == []
    files_before_comments(fakes)
    assert all(result.counters[p].created == 4 for p in BATCH_PHASES)
    creates = [("create_items", 0, s) for s in (0, 2)]
    later = [(p, 0, s) for p in CONTENT_ORDERED for s in (0, 1, 3)]
    assert sorted(fakes.finished) == sorted(creates + later), "each batch once"
    started = [e.phase for e in fakes.events if e.action == "phase_started"]
    finished = [e.phase for e in fakes.events if e.action == "phase_finished"]
    assert started == list(run_phases()) and sorted(finished) == sorted(run_phases())
    assert finished[-4] == "attachments" and set(finished[-3:]) == set(AFTER_FILES)


async def test_pause_cuts_every_phase_under_way_and_resume_goes_on_from_each_phase_s_own_cursor(workflow_env):
    # Links and files are held (cut by the pause); work logs are not, and finish before it.
    fakes = FakeRunActivities(tier_sizes=[6], hold={"links", "attachments"})
    async with running(workflow_env, fakes, batch_size=2, concurrency=1, **SIDE_BY_SIDE) as handle:
        free = ["7pace"]
        await fakes.wait_until(
            lambda: (
                set(free) <= finished_phases(fakes)
                and len(batches_of(fakes, "links", "started")) == 1
                and len(batches_of(fakes, "attachments", "started")) == 1
            )
        )
        await handle.signal(MigrationRunWorkflow.pause, RunControl(actor="ann", door="web"))
        await fakes.wait_until(lambda: "paused_effective" in fakes.actions)
        assert sorted(fakes.cut) == [("attachments", 0, 0), ("links", 0, 0)]
        paused = await handle.query(MigrationRunWorkflow.progress)
        assert paused.status == RunStatus.PAUSED
        assert paused.phases_running == ["links", "attachments", "transitions", "comments", "xray"]
        fakes.release()
        await handle.signal(MigrationRunWorkflow.resume, RunControl(actor="bob", door="cli"))
        result = await handle.result()

    assert result.status == RunStatus.COMPLETED
    # The cut batches run again; what finished before the pause never does.
    assert fakes.bounds("links") == [(0, 1), (0, 1), (1, 3), (3, 5), (5, 6)]
    assert fakes.bounds("attachments") == [(0, 1), (0, 1), (1, 3), (3, 5), (5, 6)]
    assert all(fakes.bounds(p) == [(0, 1), (1, 3), (3, 5), (5, 6)] for p in [*free, *AFTER_FILES])
    files_before_comments(fakes)
    assert all(result.counters[p].created == 6 for p in BATCH_PHASES)


async def test_cancel_cuts_every_phase_under_way_and_starts_nothing_after(workflow_env):
    held = [p for p in GROUP if p not in AFTER_FILES]
    fakes = FakeRunActivities(tier_sizes=[4], hold=held)
    async with running(workflow_env, fakes, batch_size=2, concurrency=2, **SIDE_BY_SIDE) as handle:
        await fakes.wait_until(lambda: all(len(batches_of(fakes, p, "started")) == 2 for p in held))
        await handle.signal(MigrationRunWorkflow.cancel, RunControl(actor="ann", door="web"))
        result = await handle.result()

    assert result.status == RunStatus.CANCELLED
    assert sorted(fakes.cut) == sorted((p, 0, s) for p in held for s in (0, 1))
    assert all(batches_of(fakes, p, "started") == [] for p in AFTER_FILES)
    assert fakes.actions[-2:] == ["cancel_requested", "run_finished"]


async def test_a_continued_run_carries_each_phase_s_cursor_and_runs_every_batch_once(workflow_env):
    tiers = [5, 3]
    fakes = FakeRunActivities(tier_sizes=tiers)
    # A small history limit stands in for Temporal's suggestion: the group continues as new several times, its
    # phases each somewhere else.
    limit = {"history_event_limit": 150, **SIDE_BY_SIDE}
    async with running(workflow_env, fakes, batch_size=1, concurrency=2, **limit) as handle:
        result = await handle.result()
        first_run = workflow_env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        progress = await workflow_env.client.get_workflow_handle(handle.id).query(MigrationRunWorkflow.progress)

    assert result.status == RunStatus.COMPLETED
    assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert progress.continued >= 2
    # Create items goes tier by tier (parents first); the later phases through the whole list in its content order.
    creates = [("create_items", tier, start) for tier, size in enumerate(tiers) for start in range(size)]
    later = [(p, 0, start) for p in BATCH_PHASES if p != "create_items" for start in range(sum(tiers))]
    assert sorted(fakes.finished) == sorted(creates + later), "every batch runs exactly once across the continued runs"
    assert sorted(set(fakes.content_ordered)) == sorted(later)
    assert all(result.counters[p].created == 8 and result.counters[p].total == 8 for p in BATCH_PHASES)
    files_before_comments(fakes)
    for action in ("phase_started", "phase_finished"):
        assert sorted(e.phase for e in fakes.events if e.action == action) == sorted(run_phases()), action
    keys = [e.event_key for e in fakes.events]
    assert len(set(keys)) == len(keys)


async def test_a_worker_runs_every_phase_s_batches_of_a_side_by_side_group_at_once(workflow_env):
    """With as many activity slots as the worker is given (`activity_slots`), each phase of the group has its
    `concurrency` batches under way, whatever the others hold: with 8 slots the phases' batches queued for each
    other, and comments — whose budget is a run's floor — waited behind phases with budget to spare."""
    settings = get_settings()
    held = [p for p in GROUP if p != "attachments"]
    fakes = FakeRunActivities(tier_sizes=[40], hold=set(held))
    async with running(
        workflow_env,
        fakes,
        slots=activity_slots(settings),
        batch_size=2,
        concurrency=settings.concurrency,
        **SIDE_BY_SIDE,
    ) as handle:
        # Files are not held: every attachments batch finishes while the other phases hold their windows full.
        await fakes.wait_until(lambda: len(batches_of(fakes, "attachments", "finished")) == 21)
        await fakes.wait_until(lambda: all(len(batches_of(fakes, p, "started")) == settings.concurrency for p in held))
        fakes.release()
        assert (await handle.result()).status == RunStatus.COMPLETED
