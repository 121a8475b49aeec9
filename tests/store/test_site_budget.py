"""The Jira site budget's bucket against the real PostgreSQL: refill, leases shared between processes, a 429's
pause for everyone, a site's own rate, and the fair queue per run in front of it.

Time passing is made by moving the row's clock back (refilled_at, blocked_until), never by waiting."""

from __future__ import annotations

import asyncio
import contextvars

import pytest
from sqlalchemy import text

from migrayt.connectors.site_budget import SharedBucket, SiteBudget, lease_of, set_site_rate, site_key
from migrayt.store.db import create_engine, upgrade_schema

SITE = "https://budget-test.atlassian.net"


@pytest.fixture
async def engine(postgres):
    await upgrade_schema(postgres.database_url)
    engine = create_engine(postgres.database_url, pool_size=4)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM site_budget"))
    yield engine
    await engine.dispose()


async def seconds_pass(engine, seconds: float) -> None:
    """As if `seconds` went by since the row was last refilled (and since a pause was set)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE site_budget SET refilled_at = refilled_at - make_interval(secs => :s),"
                " blocked_until = blocked_until - make_interval(secs => :s)"
            ),
            {"s": seconds},
        )


async def test_refill_is_capped_at_half_a_second_of_the_rate(engine):
    bucket = SharedBucket(engine, SITE, default_rate=20.0)
    await bucket.pause(0)  # makes the site's row, as a first take does
    async with engine.connect() as conn:
        assert (await conn.scalar(text("SELECT tokens FROM site_budget"))) == 0, "a new site starts empty: no burst"
    await seconds_pass(engine, 60)
    full = await bucket.take(100)
    assert full.granted == 10, "a minute of quiet refills no more than half a second of the rate"
    await seconds_pass(engine, 0.2)
    # 0.2 s of 20 per second, and what the moment between the statements added.
    assert 4 <= (await bucket.take(100)).granted < 10


async def test_two_processes_lease_from_one_bucket(engine):
    mine, theirs = SharedBucket(engine, SITE, 20.0), SharedBucket(engine, SITE, 20.0)
    await mine.take(1)
    await seconds_pass(engine, 60)
    assert (await mine.take(10)).granted == 10
    left = await theirs.take(10)
    # Only what refilled in the moment between the two statements (a bucket of its own would give it 10).
    assert left.granted < 10, "the other process gets only what the first left"
    again = await theirs.take(2)
    assert again.granted == 2 or 0 < again.wait_seconds <= 0.1 + 1e-6, "come back when 2 tokens are there (2 / 20)"
    assert mine.statements + theirs.statements == 2 + 4, "one statement per take, one per process for the row"


async def test_a_pause_after_a_429_holds_every_process_and_builds_no_burst(engine):
    mine, theirs = SharedBucket(engine, SITE, 20.0), SharedBucket(engine, SITE, 20.0)
    await mine.take(1)
    await seconds_pass(engine, 60)
    await mine.pause(30)
    held = await theirs.take(5)
    assert held.granted == 0
    assert held.wait_seconds > 20, "the other process waits for the Retry-After too"
    async with engine.connect() as conn:
        tokens, refill_from_pause = (
            await conn.execute(text("SELECT tokens, refilled_at >= blocked_until FROM site_budget"))
        ).one()
    assert tokens == 0 and refill_from_pause, "no tokens pile up during the pause to burst out after it"
    await seconds_pass(engine, 31)
    assert (await theirs.take(1)).granted == 1, "the pause is over"


async def test_a_site_has_its_own_rate_whatever_the_spelling_of_its_url(engine):
    assert site_key(SITE) == site_key(SITE.upper() + "/")
    await set_site_rate(engine, SITE + "/", 100.0)
    bucket = SharedBucket(engine, SITE, default_rate=20.0)
    await seconds_pass(engine, 60)
    took = await bucket.take(1000)
    assert took.rate == 100.0 and took.granted == 50
    await set_site_rate(engine, SITE, None)
    await seconds_pass(engine, 60)
    assert (await bucket.take(1000)).granted == 10, "back to the setting's rate"


run = contextvars.ContextVar("run", default="")


async def test_a_small_run_beside_a_large_one_is_served_in_turn_not_after_it(engine):
    budget = SiteBudget(SharedBucket(engine, SITE, 50.0), rate=50.0, run_of=run.get)
    served: list[str] = []

    async def request(run_id: str) -> None:
        run.set(run_id)
        await budget.acquire()
        served.append(run_id)

    large = [asyncio.create_task(request("large-run")) for _ in range(60)]
    await asyncio.sleep(0)  # the large run's requests all wait before the small one asks
    small = [asyncio.create_task(request("small-run")) for _ in range(6)]
    await asyncio.gather(*large, *small)

    last_small = max(i for i, r in enumerate(served) if r == "small-run")
    large_before = served[:last_small].count("large-run")
    # In turn: one large, one small, ...; at most a first lease went to the large run alone. Served in the order
    # asked (first come, first served), the small run would have waited for all 60.
    assert large_before <= 6 + lease_of(50.0), f"the small run waited behind the large one: {served}"
    assert budget.counters.granted_by_run == {"large-run": 60, "small-run": 6}
    assert budget.statements <= 66, "leases of several tokens keep it under one statement per call"


async def test_without_the_database_a_process_keeps_to_the_rate_alone_rather_than_hang():
    from migrayt.stack.ports import free_port

    nowhere = create_engine(f"postgresql+asyncpg://migrayt@127.0.0.1:{free_port()}/migrayt", pool_size=1)
    budget = SiteBudget(SharedBucket(nowhere, SITE, 50.0), rate=50.0)
    await asyncio.gather(*(budget.acquire() for _ in range(5)))
    await budget.pause(0.01)
    await nowhere.dispose()
    assert budget.counters.calls == 5 and budget.counters.fallbacks >= 1
