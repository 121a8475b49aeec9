"""A worker stopped with SIGTERM (a rollout, a scale-in) hands its running batches back: it exits once they reach
an item boundary, and another worker finishes the run with every item written once."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from migrayt.contracts.runs import RunStatus
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.testing import running_sandbox
from migrayt.worker.main import GRACE_EXPIRED_EXIT
from migrayt.worker.shutdown import SHUTDOWN_ERROR_TYPE
from tests.integration.harness import (
    ISSUE_CREATES,
    WorkerProcess,
    create_sandbox_migration,
    jira_held_now,
    jira_issues,
    release_jira,
    structure_only_plan,
    wait_final,
    wait_for,
    wait_until_held,
)
from tests.integration.test_crash_recovery import assert_exactly_once, items_written_twice

TENANT = "rollout-co"
ITEMS = 150
BATCH_SIZE = 25
# A grace period far longer than the cut needs: the worker must leave on its own, not by Temporal's cancel.
GRACE = "300"


@pytest.fixture
def stack(stack):
    """The cut needs more batches than slots: batches of 25 make six of 150 items."""
    return stack.with_batch_size(BATCH_SIZE)


def log_records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def cut_batches(stack, run_id: str) -> tuple[int, int]:
    """(attempts started after a WorkerShutdown failure, activities ended as cancelled) in the run's history."""
    history = await stack.client.get_workflow_handle(run_id).fetch_history()
    retried = cancelled = 0
    for event in history.events:
        if event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            kind = started.last_failure.application_failure_info.type
            retried += started.attempt > 1 and kind == SHUTDOWN_ERROR_TYPE
        cancelled += event.HasField("activity_task_canceled_event_attributes")
    return retried, cancelled


async def test_sigterm_mid_run_hands_batches_back_and_another_worker_finishes(stack, tmp_path):
    held = FaultConfig(hold=[ISSUE_CREATES], hold_after=2)
    with running_sandbox(items=ITEMS, seed=31, jira_faults=held) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        env = {"MIGRAYT_WORKER_GRACE_SECONDS": GRACE, "MIGRAYT_LOG_FORMAT": "json"}
        first = WorkerProcess(stack, tmp_path / "first.log", env=env)
        second = WorkerProcess(stack, tmp_path / "second.log", env=env)
        first.start()
        try:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            await wait_for(stack, TENANT, run_id, lambda p: p.phase == "create_items")
            await wait_until_held(sandbox)
            first.proc.send_signal(signal.SIGTERM)
            # The write under way when the signal came is finished and recorded before the batch is cut.
            await release_jira(sandbox)
            exit_code = await asyncio.to_thread(first.proc.wait)
            second.start()
            final = await wait_final(stack, TENANT, run_id)
        finally:
            first.stop()
            second.stop()

        assert exit_code == 0
        # Temporal's view: the cut batches failed as handed back and were retried, none was cancelled.
        retried_after_shutdown, cancelled = await cut_batches(stack, run_id)
        assert retried_after_shutdown >= 1 and cancelled == 0
        records = log_records(tmp_path / "first.log")
        messages = [r["message"] for r in records]
        cut = [m for m in messages if m.startswith("worker stopping: cutting")]
        handed_back = [m for m in messages if m.endswith("handed back")]
        assert cut, "the SIGTERM must land while batches run"
        assert len(handed_back) == len(cut), messages
        assert messages[-1] == "worker stopped"

        # INCOMPLETE is the sandbox's own doing: some of its items fail in later phases by design.
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        assert_exactly_once(await jira_issues(sandbox), final, items=ITEMS)
        assert final.counters["create_items"].failed == 0
        # Only the batches cut at the boundary were taken up again, never the whole run.
        assert await items_written_twice(stack, migration_id) <= stack.settings.concurrency * stack.settings.batch_size


async def test_a_batch_stuck_in_a_write_does_not_keep_a_stopping_worker_past_its_grace(stack, tmp_path):
    # Jira holds the write under way for longer than the grace period: the worker leaves it, as a killed one
    # would, and the batch is reconciled and finished by another worker.
    held = FaultConfig(hold=[ISSUE_CREATES], hold_after=2)
    with running_sandbox(items=ITEMS, seed=32, jira_faults=held) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        env = {"MIGRAYT_WORKER_GRACE_SECONDS": "1", "MIGRAYT_LOG_FORMAT": "json"}
        first = WorkerProcess(stack, tmp_path / "first.log", env=env)
        second = WorkerProcess(stack, tmp_path / "second.log", env=env)
        first.start()
        try:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            await wait_for(stack, TENANT, run_id, lambda p: p.phase == "create_items")
            await wait_until_held(sandbox)
            first.proc.send_signal(signal.SIGTERM)
            exit_code = await asyncio.to_thread(first.proc.wait)
            still_held = await jira_held_now(sandbox)
            await release_jira(sandbox)
            second.start()
            final = await wait_final(stack, TENANT, run_id)
        finally:
            first.stop()
            second.stop()

        # It left while Jira still held its write: 0 when Temporal's cancel at the end of the grace freed the batch,
        # GRACE_EXPIRED_EXIT when the worker had to leave it running.
        assert still_held >= 1
        assert exit_code in (0, GRACE_EXPIRED_EXIT)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        assert_exactly_once(await jira_issues(sandbox), final, items=ITEMS)
        assert final.counters["create_items"].failed == 0
