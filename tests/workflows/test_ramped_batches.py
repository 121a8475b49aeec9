"""Ramped batches in content order, on a real Temporal with fake activities: a content-ordered range begins with a
batch of one item (workflows/engine.py `batch_end`), so the heaviest item goes alone first and, side by side,
its comments start as soon as its own files are up — not once the files of the 50 heaviest are. Pause, resume and
continue-as-new keep every batch once, with the same bounds; a run started before the ramp keeps its batches.
"""

from __future__ import annotations

import pytest

from migrayt.contracts.phases import run_phases
from migrayt.contracts.runs import PhaseSchedule, RunCheckpoint, RunControl, RunStatus
from migrayt.workflows.migration_run import MigrationRunWorkflow, fresh_counters
from tests.workflows.fakes import FakeRunActivities
from tests.workflows.test_migration_run import pause_mid_batch, running
from tests.workflows.test_phases_side_by_side import AFTER_FILES, files_before_comments

pytestmark = pytest.mark.timeout(90)

BATCH_PHASES = run_phases()[1:]
CONTENT_ORDERED = BATCH_PHASES[1:]  # after create items, which goes tier by tier (parents first)
SIDE_BY_SIDE = {"phase_schedule": PhaseSchedule.SIDE_BY_SIDE}
# 120 items in batches of 50: the heaviest item alone, then 50 each from place 1.
RAMP_120_BY_50 = [(0, 1), (1, 51), (51, 101), (101, 120)]


async def test_a_content_ordered_phase_sends_its_batches_in_a_ramp_and_create_items_does_not(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[70, 50])
    async with running(workflow_env, fakes, batch_size=50, concurrency=4) as handle:
        result = await handle.result()

    assert result.status == RunStatus.COMPLETED
    creates = [(p, tier, start, end) for p, tier, start, end in fakes.sent if p == "create_items"]
    assert sorted(creates) == [("create_items", 0, 0, 50), ("create_items", 0, 50, 70), ("create_items", 1, 0, 50)]
    for phase in CONTENT_ORDERED:
        assert sorted(fakes.bounds(phase)) == RAMP_120_BY_50, phase
        assert result.counters[phase].created == result.counters[phase].total == 120, phase
    assert sorted(set(fakes.content_ordered)) == sorted((p, 0, s) for p in CONTENT_ORDERED for s, _ in RAMP_120_BY_50)


async def test_side_by_side_the_heaviest_item_s_comments_start_while_the_next_items_files_still_go_up(workflow_env):
    # Every attachments batch after the first waits, held: only the heaviest item's files can be up.
    held = [("attachments", 0, start) for start, _ in RAMP_120_BY_50[1:]]
    fakes = FakeRunActivities(tier_sizes=[120], hold=held)
    async with running(workflow_env, fakes, batch_size=50, concurrency=4, **SIDE_BY_SIDE) as handle:
        await fakes.wait_until(
            lambda: (
                all((p, 0, 0) in fakes.finished for p in AFTER_FILES)
                and len(fakes.starts(fakes.started, "attachments")) >= 3
            )
        )
        # The heaviest item's comments (and its status, and its Xray steps) went first, alone, ...
        # (a later batch of theirs waits for its own files) ...
        for phase in AFTER_FILES:
            assert fakes.bounds(phase) == [(0, 1)], phase
        # ... while the files of the next heaviest items are still going up (held here): only its own were waited for.
        assert fakes.starts(fakes.finished, "attachments") == [0]
        under_way = [b for b in fakes.bounds("attachments") if b != (0, 1)]
        assert (0, 1) in fakes.bounds("attachments") and len(under_way) >= 2, fakes.bounds("attachments")
        assert all(start >= 1 for start, _ in under_way), under_way
        fakes.release()
        result = await handle.result()

    assert result.status == RunStatus.COMPLETED
    files_before_comments(fakes)
    for phase in CONTENT_ORDERED:
        assert sorted(fakes.bounds(phase)) == RAMP_120_BY_50, phase
        assert result.counters[phase].created == 120, phase


async def test_pause_cuts_ramp_batches_and_resume_redoes_each_with_the_same_bounds(workflow_env):
    fakes = FakeRunActivities(tier_sizes=[12], hold={"hierarchy"})
    async with running(workflow_env, fakes, batch_size=4, concurrency=2) as handle:
        await pause_mid_batch(handle, fakes, "hierarchy", in_flight=2)
        assert sorted(fakes.starts(fakes.cut, "hierarchy")) == [0, 1]
        fakes.release()
        await handle.signal(MigrationRunWorkflow.resume, RunControl(actor="bob", door="cli"))
        result = await handle.result()

    assert result.status == RunStatus.COMPLETED
    # Batches of 4 go 0 | then 4 each from 1; the cut ones run again first, over the same items.
    # (Batches launched together may start in either order.)
    sent = fakes.bounds("hierarchy")
    assert sorted(sent[:2]) == [(0, 1), (1, 5)] and sorted(sent[2:]) == [(0, 1), (1, 5), (5, 9), (9, 12)]
    assert sorted(fakes.starts(fakes.finished, "hierarchy")) == [0, 1, 5, 9]
    assert all(result.counters[p].created == 12 for p in BATCH_PHASES)


@pytest.mark.parametrize("schedule", [PhaseSchedule.SEQUENTIAL, PhaseSchedule.SIDE_BY_SIDE])
async def test_a_continued_run_goes_on_in_the_ramp_and_runs_every_batch_once(workflow_env, schedule):
    tiers = [5, 3]
    fakes = FakeRunActivities(tier_sizes=tiers)
    # A small history limit stands in for Temporal's suggestion: the run continues as new inside the ramps.
    run = {"history_event_limit": 60, "phase_schedule": schedule}
    async with running(workflow_env, fakes, batch_size=4, concurrency=2, **run) as handle:
        result = await handle.result()
        progress = await workflow_env.client.get_workflow_handle(handle.id).query(MigrationRunWorkflow.progress)

    assert result.status == RunStatus.COMPLETED
    assert progress.continued >= 2
    for phase in CONTENT_ORDERED:
        # Each batch sent once (none was cut), with the bounds the first execution would have given it.
        assert sorted(fakes.bounds(phase)) == [(0, 1), (1, 5), (5, 8)], phase
    creates = [(p, tier, start, end) for p, tier, start, end in fakes.sent if p == "create_items"]
    assert sorted(creates) == [("create_items", 0, 0, 4), ("create_items", 0, 4, 5), ("create_items", 1, 0, 3)]
    assert all(result.counters[p].created == 8 and result.counters[p].total == 8 for p in BATCH_PHASES)
    if schedule == PhaseSchedule.SIDE_BY_SIDE:
        files_before_comments(fakes)


async def test_a_run_continued_from_before_the_ramp_keeps_batches_of_batch_size(workflow_env):
    # Its cursors count in full batches: its continued executions go on in them (the phase under way, mid-way, and
    # the ones after it), though in content order.
    names = list(run_phases())
    checkpoint = RunCheckpoint(
        phase="hierarchy",
        next_ordinal=4,
        tier_sizes=[12],
        counters=fresh_counters(names),
        continued=1,
        content_order=True,
    )
    fakes = FakeRunActivities(tier_sizes=[12])
    async with running(workflow_env, fakes, batch_size=4, phases=names, checkpoint=checkpoint) as handle:
        result = await handle.result()

    assert result.status == RunStatus.COMPLETED
    assert fakes.bounds("hierarchy") == [(4, 8), (8, 12)]
    for phase in names[3:]:
        assert sorted(fakes.bounds(phase)) == [(0, 4), (4, 8), (8, 12)], phase
    assert {p for p, _, _ in fakes.content_ordered} == set(names[2:])
