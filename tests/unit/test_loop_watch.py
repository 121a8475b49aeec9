"""The worker names the code that blocks its event loop (migrayt/worker/loop_watch.py)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from migrayt.worker.loop_watch import LoopWatch


def render_ten_thousand_descriptions() -> None:
    time.sleep(0.5)  # stands in for CPU work that never awaits


async def test_a_batch_that_blocks_the_loop_is_named_with_how_long_it_held_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = LoopWatch(0.1)
    watch.start()
    with caplog.at_level(logging.WARNING, logger="migrayt.worker.loop_watch"):
        await asyncio.sleep(0.2)
        render_ten_thousand_descriptions()
        await asyncio.sleep(0.3)
        await watch.stop()
    (stall,) = watch.stalls
    assert 0.4 <= stall.seconds < 1.0
    assert any("render_ten_thousand_descriptions" in line for line in stall.where)
    (record,) = [r for r in caplog.records if "event loop was blocked" in r.getMessage()]
    assert "render_ten_thousand_descriptions" in record.getMessage()


async def test_a_loop_that_awaits_is_never_reported(caplog: pytest.LogCaptureFixture) -> None:
    watch = LoopWatch(0.1)
    watch.start()
    with caplog.at_level(logging.WARNING, logger="migrayt.worker.loop_watch"):
        for _ in range(20):
            time.sleep(0.02)  # short work between awaits, as a batch's items are
            await asyncio.sleep(0.01)
        await watch.stop()
    assert watch.stalls == []
    assert not [r for r in caplog.records if "event loop" in r.getMessage()]


async def test_a_loop_still_blocked_is_reported_before_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    watch = LoopWatch(0.05)
    watch.start()
    with caplog.at_level(logging.WARNING, logger="migrayt.worker.loop_watch"):
        await asyncio.sleep(0.1)
        time.sleep(0.5)
        await asyncio.sleep(0.1)
        await watch.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert any("has been blocked for" in m for m in messages)
    assert any("was blocked for" in m for m in messages)
