"""One non-idempotent Jira write, exactly once, when the response may be lost on the way back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from migrayt.connectors.http import AmbiguousWriteError

T = TypeVar("T")


async def write_once(
    write: Callable[[], Awaitable[T]],
    find: Callable[[], Awaitable[T | None]],
    attempts: int = 3,
) -> T:
    """`write`, and if its outcome is unknown, `find` it with a consistent read before writing again.

    `find` must not depend on a lagging search index (GET the issue, its links, comments, attachments).
    After `attempts` unknown outcomes the error propagates: the activity retries, and its
    pending item record makes the retry reconcile first.
    """
    for attempt in range(attempts):
        try:
            return await write()
        except AmbiguousWriteError:
            found = await find()
            if found is not None:
                return found
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
