"""One migration spreads over every worker process: adding workers makes a large run faster, not only many runs.

Found by bench/workers_scale.py: with 1, 2 or 4 worker processes one process did all of a run's batches. Temporal's
eager activity execution hands the activities a workflow task schedules straight back to the worker that completed
that task (when it has free slots, which a worker with `max_concurrent_activities` above the run's concurrency always
has), so a run's batches stayed on the worker holding its workflow."""

from __future__ import annotations

import dataclasses
import uuid

from migrayt.contracts.runs import RunStatus
from migrayt.core.runs import MigrationService
from migrayt.sandbox.testing import running_sandbox
from tests.integration.harness import (
    WorkerProcess,
    ado_labels,
    create_sandbox_migration,
    final_in_store,
    jira_issues,
    structure_only_plan,
    wait_until_polling,
)

TENANT = "scale-co"
ITEMS = 100  # batches of 25: four per phase, about twenty in the run


async def batch_workers(stack, run_id: str) -> dict[str, int]:
    """How many of the run's batch activities each worker (by its identity) started."""
    history = await stack.client.get_workflow_handle(run_id).fetch_history()
    scheduled = {
        event.event_id: event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    }
    started: dict[str, int] = {}
    for event in history.events:
        if event.HasField("activity_task_started_event_attributes"):
            attrs = event.activity_task_started_event_attributes
            if scheduled[attrs.scheduled_event_id] in ("create_items", "run_phase_batch"):
                started[attrs.identity] = started.get(attrs.identity, 0) + 1
    return started


async def test_one_runs_batches_spread_over_two_worker_processes(stack, tmp_path):
    settings = stack.settings.model_copy(update={"task_queue": f"scale-{uuid.uuid4().hex[:8]}", "batch_size": 25})
    stack = dataclasses.replace(
        stack, settings=settings, service=MigrationService(settings, stack.service.sessions, stack.client)
    )
    with running_sandbox(items=ITEMS, seed=71) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        workers = [WorkerProcess(stack, tmp_path / f"worker-{n}.log") for n in (1, 2)]
        for worker in workers:
            worker.start()
        try:
            await wait_until_polling(stack, workers)
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            final = await final_in_store(stack, TENANT, run_id)
        finally:
            for worker in workers:
                worker.stop()
        assert final.status == RunStatus.COMPLETED
        assert len(ado_labels(await jira_issues(sandbox))) == ITEMS
    started = await batch_workers(stack, run_id)
    print(f"batches per worker: {started}")
    assert sum(started.values()) >= 12
    assert len(started) == 2, f"one run's batches went to one worker process only: {started}"
