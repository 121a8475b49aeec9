"""A failed attempt must not keep writing once its failure is out (its retry owns the items then)."""

from __future__ import annotations

import asyncio

import pytest

from migrayt.activities.side_by_side import gather_or_cancel


async def test_results_come_back_in_order():
    async def after(delay: float, value: int) -> int:
        await asyncio.sleep(delay)
        return value

    assert await gather_or_cancel(after(0.02, 1), after(0.0, 2), after(0.01, 3)) == [1, 2, 3]


async def test_when_one_write_fails_the_others_stop_before_the_failure_is_raised():
    writes: list[str] = []
    stopped: list[str] = []

    async def failing() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("Jira answered 500")

    async def slow_write(name: str) -> None:
        try:
            await asyncio.sleep(0.05)
            writes.append(name)
        except asyncio.CancelledError:
            stopped.append(name)
            raise

    with pytest.raises(RuntimeError, match="Jira answered 500"):
        await gather_or_cancel(failing(), slow_write("a"), slow_write("b"))
    # Already stopped when the failure reached the caller, not merely asked to stop.
    assert sorted(stopped) == ["a", "b"]
    await asyncio.sleep(0.1)
    assert writes == []
