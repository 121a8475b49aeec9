"""Run an activity's writes side by side, and when one fails, stop the others before failing.

`asyncio.gather` lets the other coroutines run on after the first exception. In an activity that
means writes from an attempt Temporal already counts as failed: its item locks are released and
the retry, which now owns those items, writes them too (duplicate attachments, links, comments).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def gather_or_cancel(*aws: Awaitable[T]) -> list[T]:
    """Every result in order; on the first failure the rest are cancelled and awaited, then it is raised."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
