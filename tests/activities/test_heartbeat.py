"""A batch heartbeats while it works, so a killed worker's batch is retried and a cut reaches it."""

from __future__ import annotations

import asyncio

import pytest
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from migrayt.activities.heartbeat import keeps_heartbeat


async def test_a_working_batch_heartbeats_and_a_cancel_stops_it():
    env = ActivityEnvironment()
    beating, never = asyncio.Event(), asyncio.Event()
    env.on_heartbeat = lambda *details: beating.set()
    stopped: list[str] = []

    @activity.defn(name="run_phase_batch")
    @keeps_heartbeat
    async def batch() -> None:
        try:
            await never.wait()
        except asyncio.CancelledError:
            stopped.append("cut")
            raise

    running = asyncio.ensure_future(env.run(batch))
    await asyncio.wait_for(beating.wait(), 30)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert stopped == ["cut"]
