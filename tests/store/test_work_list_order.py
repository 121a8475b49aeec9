"""The later phases' batches over a run's work list in its content order, against the real PostgreSQL: a batch is a
range of places, heaviest item first; a list kept before content places existed is placed in its tier order the
first time a batch asks, so no batch comes back empty and every item is taken exactly once."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert

from migrayt.activities.execution.phase_batch import content_rows
from migrayt.store.db import create_engine, session_factory, upgrade_schema
from migrayt.store.models import Migration, Run, RunSourceItem

# (source id, tier, ordinal, content place): 40 is a sub-task in the last tier with the longest thread.
ITEMS = [(10, 0, 0, 1), (20, 0, 1, 2), (30, 1, 0, 3), (40, 1, 1, 0)]


@pytest.fixture
async def sessions(postgres):
    await upgrade_schema(postgres.database_url)
    engine = create_engine(postgres.database_url)
    yield session_factory(engine)
    await engine.dispose()


async def work_list(sessions, placed: bool) -> str:
    migration_id, run_id = f"mig-{uuid.uuid4().hex[:8]}", f"run-{uuid.uuid4().hex[:8]}"
    async with sessions() as session:
        await session.execute(
            insert(Migration),
            [dict(id=migration_id, tenant_id="order-co", name="m", source={}, target={}, plan={})],
        )
        await session.execute(
            insert(Run), [dict(id=run_id, migration_id=migration_id, tenant_id="order-co", status="RUNNING")]
        )
        rows = [
            dict(
                run_id=run_id,
                source_id=s,
                work_item_type="Task",
                tier=t,
                ordinal=o,
                content_ordinal=p if placed else None,
            )
            for s, t, o, p in ITEMS
        ]
        await session.execute(insert(RunSourceItem), rows)
        await session.commit()
    return run_id


async def test_a_batch_is_a_range_of_the_content_order_across_tiers(sessions):
    run_id = await work_list(sessions, placed=True)
    first, rest = await content_rows(sessions, run_id, 0, 2), await content_rows(sessions, run_id, 2, 4)
    assert [r.source_id for r in first] == [40, 10]
    assert [r.source_id for r in rest] == [20, 30]
    assert [r.tier for r in first] == [1, 0], "each row keeps its own tier (a sub-task stays one)"


async def test_a_list_kept_before_content_places_is_taken_in_its_tier_order_every_item_once(sessions):
    run_id = await work_list(sessions, placed=False)
    batches = [await content_rows(sessions, run_id, start, start + 3) for start in (0, 3)]
    assert [[r.source_id for r in batch] for batch in batches] == [[10, 20, 30], [40]]
    assert await content_rows(sessions, run_id, 4, 7) == []
