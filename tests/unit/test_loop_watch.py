"""The worker names the code that blocks its event loop (migrayt/worker/loop_watch.py)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from migrayt.worker.loop_watch import LoopWatch


def render_ten_thousand_descriptions() -> None:
    time.sleep(0.8)  # stands in for CPU work that never awaits


async def test_a_batch_that_blocks_the_loop_is_named_with_how_long_it_held_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = LoopWatch(0.2)
    watch.start()
    with caplog.at_level(logging.WARNING, logger="migrayt.worker.loop_watch"):
        await asyncio.sleep(0.3)
        render_ten_thousand_descriptions()
        await asyncio.sleep(0.5)
        await watch.stop()
    # Only the blocking call is asserted on: on a loaded machine the loop may also miss a tick now and then.
    (stall,) = [s for s in watch.stalls if any("render_ten_thousand_descriptions" in line for line in s.where)]
    assert 0.6 <= stall.seconds < 2.0
    told = [r.getMessage() for r in caplog.records if "render_ten_thousand_descriptions" in r.getMessage()]
    assert [m for m in told if "event loop was blocked for" in m], told


async def test_a_loop_that_awaits_is_never_reported(caplog: pytest.LogCaptureFixture) -> None:
    watch = LoopWatch(0.5)
    watch.start()
    with caplog.at_level(logging.WARNING, logger="migrayt.worker.loop_watch"):
        for _ in range(20):
            time.sleep(0.02)  # short work between awaits, as a batch's items are
            await asyncio.sleep(0.01)
        await watch.stop()
    assert watch.stalls == []
    assert not [r for r in caplog.records if "event loop" in r.getMessage()]


async def test_a_loop_still_blocked_is_reported_before_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    watch = LoopWatch(0.1)
    watch.start()
    with caplog.at_level(logging.WARNING, logger="migrayt.worker.loop_watch"):
        await asyncio.sleep(0.2)
        time.sleep(1.0)
        await asyncio.sleep(0.3)
        await watch.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert any("has been blocked for" in m for m in messages)
    assert any("was blocked for" in m for m in messages)
