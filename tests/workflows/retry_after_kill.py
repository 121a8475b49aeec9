"""How long a step of a workflow waits before another worker may retry it once its worker died: its heartbeat
timeout where it heartbeats, else its whole start-to-close timeout."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import WorkflowHandle

# Longer than a dead worker's batch waits (the engine's 10-s heartbeat timeout), short against a run.
RETRIED_WITHIN = timedelta(seconds=30)


async def steps_slow_to_retry(handle: WorkflowHandle) -> tuple[set[str], set[tuple[str, timedelta]]]:
    """Every activity the workflow scheduled, and those a dead worker would hold longer than RETRIED_WITHIN."""
    scheduled_names, slow = set(), set()
    for event in (await handle.fetch_history()).events:
        if not event.HasField("activity_task_scheduled_event_attributes"):
            continue
        scheduled = event.activity_task_scheduled_event_attributes
        scheduled_names.add(scheduled.activity_type.name)
        heartbeat = scheduled.heartbeat_timeout.ToTimedelta()
        waits = heartbeat if heartbeat else scheduled.start_to_close_timeout.ToTimedelta()
        if waits > RETRIED_WITHIN:
            slow.add((scheduled.activity_type.name, waits))
    return scheduled_names, slow
