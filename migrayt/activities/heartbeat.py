"""Heartbeat while an activity works: a killed worker's batch is retried within seconds, and a
pause or cancel reaches a running batch (in the heartbeat's answer) within about a second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import wraps
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")


@asynccontextmanager
async def heartbeating(interval: float = 0.5) -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(interval)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


def keeps_heartbeat(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @wraps(fn)
    async def wrapper(*args, **kwargs) -> T:
        async with heartbeating():
            return await fn(*args, **kwargs)

    return wrapper
