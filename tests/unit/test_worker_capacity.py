"""What one worker process runs at once: every batch a side-by-side run has under way, each with the database
connection that holds its items' locks."""

from __future__ import annotations

from migrayt.contracts.phases import run_phases, side_by_side_groups
from migrayt.settings import get_settings
from migrayt.worker.main import activity_slots, worker_engine


def test_the_database_pool_has_a_connection_for_each_batch_the_worker_runs_at_once() -> None:
    settings = get_settings()
    (group,) = side_by_side_groups(run_phases())
    batches = settings.concurrency * len(group)
    assert activity_slots(settings) >= batches
    engine = worker_engine(settings, "postgresql+asyncpg://migrayt@127.0.0.1:1/migrayt")
    try:
        # Each batch's lock connection, and room for its reads and writes beside them.
        assert engine.pool.size() >= activity_slots(settings)
        assert engine.pool.size() + engine.pool._max_overflow >= activity_slots(settings) + batches // 2  # type: ignore[attr-defined]
    finally:
        engine.sync_engine.dispose()
