"""History stays within Temporal's limits (continue-as-new) and replays deterministically."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Replayer

from migrayt.contracts.phases import run_phases
from migrayt.contracts.runs import RunStatus
from migrayt.contracts.validation import FINAL_VALIDATION_STATUSES, ValidationStatus
from migrayt.core.runs import MigrationService
from migrayt.core.undo import UndoService
from migrayt.core.validations import ValidationService
from migrayt.sandbox.testing import running_sandbox
from migrayt.stack.temporal import TemporalDevServer
from migrayt.temporal.client import connect_temporal
from migrayt.worker.main import run_worker
from migrayt.workflows.delta_sync import DeltaSyncWorkflow
from migrayt.workflows.migration_run import MigrationRunWorkflow
from migrayt.workflows.undo import UndoWorkflow
from migrayt.workflows.validation import ValidationWorkflow
from tests.integration.harness import (
    Stack,
    ado_labels,
    create_sandbox_migration,
    hold_jira,
    jira_issues,
    jira_state,
    release_jira,
    set_jira_faults,
    structure_only_plan,
    wait_final,
    wait_for,
    wait_until_held,
)

TENANT = "history-co"
HISTORIES = Path(__file__).resolve().parents[1] / "replay" / "histories"


@pytest.fixture
async def parents_after_worker(stack):
    """A worker that sets parents in the hierarchy phase (MIGRAYT_PARENTS_AT_CREATE off): the pause tests hold
    its parent edits so the pause lands while batches are in flight."""
    settings = stack.settings.model_copy(update={"parents_at_create": False})
    async with run_worker(settings, stack.client, stack.database_url) as w:
        yield w


# Four batches a phase, as 200 items in the default batches of 50 make: the history, and so where the run continues
# as new, grows with the batches, not with the items in them.
EXACT_RUN_ITEMS = 80
EXACT_RUN_BATCH_SIZE = 20


async def test_continue_as_new_keeps_history_small_and_the_run_exact(stack, worker):
    stack = stack.with_batch_size(EXACT_RUN_BATCH_SIZE)
    with running_sandbox(items=EXACT_RUN_ITEMS, seed=31) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api", history_event_limit=120)
        final = await wait_final(stack, TENANT, run_id)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        executions = [w async for w in stack.client.list_workflows(f"WorkflowId = '{run_id}'")]
        assert len(executions) >= 3, "the run should have continued as new at least twice"
        c = final.counters["create_items"]
        assert c.created + c.skipped + c.failed == c.total == EXACT_RUN_ITEMS
        labels = ado_labels(await jira_issues(sandbox))
        assert all(len(keys) == 1 for keys in labels.values())
        assert len(labels) == c.created

        handle = stack.service.handle(run_id)
        history = await handle.fetch_history()
        assert len(history.events) < 400  # the continued execution, not the whole run


# Temporal refuses a history past 51,200 events or 50 MB; the run must continue as new well before.
HISTORY_EVENT_LIMIT = 51_200
HISTORY_BYTE_LIMIT = 50 * 1024 * 1024
# Where Temporal suggests continuing as new by default (dynamic config limit.historyCount.suggestContinueAsNew, 4 Ki
# events; limit.historySize.suggestContinueAsNew, 4 MiB, suggests later for runs like these).
SERVER_SUGGESTS_AT_EVENTS = 4 * 1024
# Here it suggests at this many, so a small run continues as new as often as a run of many thousand items would.
SUGGEST_AT_EVENTS = 80
LONG_RUN_ITEMS = 96
LONG_RUN_BATCH_SIZE = 12  # 8 batches a phase, 4 at a time: continued mid-phase and between phases


@pytest.fixture
async def suggesting_early(stack, tmp_path):
    """A stack on a Temporal server of its own that suggests continuing as new after SUGGEST_AT_EVENTS events (the
    session's server keeps the default, which the other tests' runs never reach), with an in-process worker."""
    server = TemporalDevServer(
        tmp_path / "temporal",
        port=None,
        ui_port=None,
        headless=True,
        dynamic_config={"limit.historyCount.suggestContinueAsNew": SUGGEST_AT_EVENTS},
    )
    server.start()
    try:
        settings = stack.settings.model_copy(update={"batch_size": LONG_RUN_BATCH_SIZE})
        client = await connect_temporal(settings, server.address)
        service = MigrationService(settings, stack.service.sessions, client)
        early = Stack(settings, stack.database_url, server.address, client, service)
        async with run_worker(settings, client, stack.database_url):
            yield early
    finally:
        server.stop()


async def test_a_long_run_continues_as_new_whenever_temporal_suggests_and_stays_within_its_history_limits(
    suggesting_early,
):
    """A run of any size keeps each execution's history within Temporal's limits: it continues as new when the server
    suggests it (no threshold of its own), in every phase, overshooting the suggestion only by the batches it lets
    finish, a bound that does not grow with the run. Measured here on a server suggesting after SUGGEST_AT_EVENTS
    events, so LONG_RUN_ITEMS items in 8 batches a phase continue as new as often as a run of many thousand at the
    default threshold (a 10,000-item run at the default is bench/history_limits.py).

    Only create items writes to Jira: the later phases are skipped by the plan, which still runs
    each of their batches (counting every item skipped), so the history has the shape of a full run's.
    """
    stack = suggesting_early
    items = LONG_RUN_ITEMS
    plan = structure_only_plan()
    plan.skip_phases = list(run_phases()[2:])
    with running_sandbox(items=items, seed=34) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        for phase in run_phases()[1:]:
            c = final.counters[phase]
            assert c.created + c.skipped + c.failed == c.total == items, (phase, c)
        labels = ado_labels(await jira_issues(sandbox))
        assert all(len(keys) == 1 for keys in labels.values())
        assert len(labels) == final.counters["create_items"].created

    executions = [w async for w in stack.client.list_workflows(f"WorkflowId = '{run_id}'")]
    continued = [e for e in executions if e.status == WorkflowExecutionStatus.CONTINUED_AS_NEW]
    assert len(continued) >= 3, "a run this long should have continued as new each time Temporal suggested it"
    overshoot = 0
    bytes_per_event = 0.0
    for execution in continued:
        history = await stack.client.get_workflow_handle(run_id, run_id=execution.run_id).fetch_history()
        size = sum(event.ByteSize() for event in history.events)
        print(f"execution {execution.run_id}: {len(history.events)} events, {size / 1024:.0f} KiB")
        assert len(history.events) >= SUGGEST_AT_EVENTS, "continued before Temporal suggested it"
        overshoot = max(overshoot, len(history.events) - SUGGEST_AT_EVENTS)
        bytes_per_event = max(bytes_per_event, size / len(history.events))
    # The batches let finish after the suggestion: at most `concurrency` (4) in flight, each a handful of events.
    assert overshoot <= 25 * stack.settings.concurrency, overshoot
    # So at the default suggestion an execution ends far within Temporal's limits, whatever the run's size.
    at_default = SERVER_SUGGESTS_AT_EVENTS + overshoot
    assert at_default < HISTORY_EVENT_LIMIT / 4, at_default
    assert at_default * bytes_per_event < HISTORY_BYTE_LIMIT / 4, (at_default, bytes_per_event)


async def test_recorded_history_replays_deterministically(stack, worker):
    with running_sandbox(items=60, seed=32) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        await wait_final(stack, TENANT, run_id)
        history = await stack.service.handle(run_id).fetch_history()
    await replay_and_keep(stack, history, "full_run_60_items")


async def test_a_paused_and_resumed_run_replays_deterministically(stack, parents_after_worker):
    # Pause lands while batches are in flight, so the history holds cut (cancelled) activities: parent
    # edits after the first 5 wait on the sandbox until the workflow has taken the pause.
    with running_sandbox(items=60, seed=33) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        await hold_jira(sandbox, r"PUT /rest/api/3/issue/[^/]+", after=5)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        await wait_for(stack, TENANT, run_id, lambda p: p.phase == "hierarchy", poll=0.05)
        await wait_until_held(sandbox)
        await stack.service.control(TENANT, run_id, "pause", actor="ops", door="api")
        await wait_for(stack, TENANT, run_id, lambda p: p.pause_requested, poll=0.05)
        await set_jira_faults(sandbox, hold=[], latency_ms=3000)
        await wait_for(stack, TENANT, run_id, lambda p: p.status == RunStatus.PAUSED)
        await set_jira_faults(sandbox, latency_ms=0)
        await stack.service.control(TENANT, run_id, "resume", actor="ops", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        history = await stack.service.handle(run_id).fetch_history()
    assert any(e.HasField("activity_task_cancel_requested_event_attributes") for e in history.events)
    await replay_and_keep(stack, history, "paused_and_resumed_60_items")


async def test_a_paused_run_writing_savepoints_replays_deterministically(stack, parents_after_worker):
    # Since the `savepoints` patch a run writes savepoints at phase ends, on pause and between batches: recorded,
    # so a later change to the engine must keep such runs replaying too.
    often = MigrationService(
        stack.settings.model_copy(update={"savepoint_every_minutes": 1e-4}), stack.service.sessions, stack.client
    )
    with running_sandbox(items=60, seed=34) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        await hold_jira(sandbox, r"PUT /rest/api/3/issue/[^/]+", after=5)
        run_id = await often.start_run(TENANT, migration_id, actor="test", door="api")
        await wait_until_held(sandbox)
        await stack.service.control(TENANT, run_id, "pause", actor="ops", door="api")
        await wait_for(stack, TENANT, run_id, lambda p: p.pause_requested, poll=0.05)
        await release_jira(sandbox)
        await wait_for(stack, TENANT, run_id, lambda p: p.status == RunStatus.PAUSED)
        await stack.service.control(TENANT, run_id, "resume", actor="ops", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        history = await stack.service.handle(run_id).fetch_history()
    written = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert written.count("write_savepoint") > len(run_phases())  # each phase end, the pause, and between batches
    await replay_and_keep(stack, history, "savepoints_paused_and_resumed_60_items")


async def test_a_paused_and_resumed_validation_replays_deterministically(stack, worker):
    # One batch at a time, the first one's Jira read held until the pause is taken: the second batch waits for
    # the resume, so the history holds the control signals, the PAUSED wait and its events.
    one_at_a_time = stack.settings.model_copy(update={"concurrency": 1})
    validations = ValidationService(one_at_a_time, stack.service.sessions, stack.client)
    with running_sandbox(items=120, seed=35) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        assert (await wait_final(stack, TENANT, run_id)).status == RunStatus.COMPLETED
        await hold_jira(sandbox, r"POST /rest/api/3/issue/bulkfetch")
        vid = await validations.start(TENANT, migration_id, "test", "api")
        await wait_until_held(sandbox)
        await validations.control(TENANT, migration_id, vid, "pause", actor="ops", door="api")
        await until(lambda: validations.progress(TENANT, migration_id, vid), lambda p: p[1].pause_requested)
        await release_jira(sandbox)
        await until(
            lambda: validations.progress(TENANT, migration_id, vid), lambda p: p[1].status == ValidationStatus.PAUSED
        )
        await validations.control(TENANT, migration_id, vid, "resume", actor="ops", door="api")
        row, _ = await until(
            lambda: validations.progress(TENANT, migration_id, vid),
            lambda p: p[1].status in FINAL_VALIDATION_STATUSES,
        )
        assert row.status == ValidationStatus.PASSED
        history = await stack.client.get_workflow_handle(vid).fetch_history()
    await replay_and_keep(stack, history, "validation_paused_and_resumed_120_items")


async def test_a_paused_and_resumed_undo_replays_deterministically(stack, worker):
    # Small batches, the second bulk delete held until the pause is taken: the history holds a cut batch.
    undo = UndoService(stack.settings.model_copy(update={"undo_batch_size": 20}), stack.service.sessions, stack.client)
    with running_sandbox(items=60, seed=36) as sandbox:
        before = (await jira_state(sandbox))["issues"]["total"]
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        assert (await wait_final(stack, TENANT, run_id)).status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        plan = await undo.dry_run(TENANT, migration_id)
        await hold_jira(sandbox, r"POST /rest/api/3/bulk/issues/delete", after=1)
        undo_id = await undo.start(TENANT, migration_id, plan.total, actor="test", door="api")
        await wait_until_held(sandbox)
        await stack.service.control(TENANT, undo_id, "pause", actor="ops", door="api")
        await wait_for(stack, TENANT, undo_id, lambda p: p.pause_requested, poll=0.05)
        await release_jira(sandbox)
        await wait_for(stack, TENANT, undo_id, lambda p: p.status == RunStatus.PAUSED)
        await stack.service.control(TENANT, undo_id, "resume", actor="ops", door="api")
        assert (await wait_final(stack, TENANT, undo_id)).status == RunStatus.COMPLETED
        assert (await jira_state(sandbox))["issues"]["total"] == before
        history = await stack.service.handle(undo_id).fetch_history()
    await replay_and_keep(stack, history, "undo_paused_and_resumed_60_items")


async def until(read, predicate, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while not predicate(value := await read()):
        assert time.monotonic() < deadline, value
        await asyncio.sleep(0.05)
    return value


async def replay_and_keep(stack, history, name: str) -> None:
    replayer = Replayer(
        workflows=[MigrationRunWorkflow, DeltaSyncWorkflow, ValidationWorkflow, UndoWorkflow],
        data_converter=stack.client.data_converter,
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
    if os.environ.get("MIGRAYT_RECORD_HISTORY"):
        # Refresh the committed history that tests/replay replays without any server.
        HISTORIES.mkdir(parents=True, exist_ok=True)
        # Payloads are encrypted by the codec; commit them decoded so CI replays without the key.
        from migrayt.temporal.codec import decoded_history

        plain = await decoded_history(history, stack.client.data_converter.payload_codec)
        (HISTORIES / f"{name}.json").write_text(plain.to_json())
