"""A batch's writes to many issues, taken in turn, so that no issue's write budget holds the batch up.

Jira limits writes per issue (`jira-per-issue-on-write`: Jira Cloud lets about ten through in a few seconds). A
batch that posts one issue's long thread from start to end spends its places on waiting for that one issue while
the others' writes could go. Here every issue is a line of writes in its own order; the places go round the issues,
one write at a time, and an issue whose budget is spent for now is passed over until it has room again (the client
knows when: `JiraClient.issue_write_ready_in`). The lines given first (the longest threads) start first, and keep
their place: whenever one has room, its next write goes before the shorter lines'. The longest thread bounds the
batch's time, so it must write at its issue's pace from the start; going round the issues in turn would give it
one write in as many as there are lines, and leave it alone at the end, writing at Jira's per-issue pace only then.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from migrayt.activities.side_by_side import gather_or_cancel
from migrayt.connectors.limits import LINE_PRIORITY

# A line this long takes 25 s and more at Jira Cloud's per-issue pace (about 2 writes a second): long enough to set
# the run's length, its writes go before the others' on their endpoint (LINE_PRIORITY). Shorter lines only wait.
LONG_LINE = 50


class IssueLine(Protocol):
    """One issue's writes, `at_once` of them under way at a time (1: one after the other, in their order).

    `has_next` may say no while some of the line's writes are under way (a write that must wait for them): it is
    asked again each time one of them ends.
    """

    @property
    def issue_key(self) -> str: ...

    @property
    def at_once(self) -> int: ...

    def has_next(self) -> bool: ...

    def writes_left(self) -> int:
        """Writes (and reads among them) still on the line."""
        ...

    def next_write(self) -> Awaitable[None]:
        """The next write, taken off the line now (to be awaited)."""
        ...


def item_outcome(outcomes: Sequence[str]) -> str:
    """An item's outcome from those of its writes: failed over created over adopted; skipped when none wrote."""
    if "failed" in outcomes:
        return "failed"
    if "created" in outcomes:
        return "created"
    return "adopted" if "adopted" in outcomes else "skipped"


async def in_turn(
    lines: Sequence[IssueLine],
    places: int,
    ready_in: Callable[[str], float],
    sleep_until_change: Callable[[asyncio.Event, float | None], Awaitable[None]] | None = None,
) -> None:
    """Every line's writes, `places` at once over the issues, each issue's in its order.

    An error in one write stops the others (as a batch does) and is raised.
    """
    rank = {id(line): i for i, line in enumerate(lines)}
    waiting = [line for line in lines if line.has_next()]  # in the order given
    under_way: dict[int, int] = {}  # id(line) → its writes under way
    long_lines: set[int] = set()

    def back_in_line(line: IssueLine) -> None:
        bisect.insort(waiting, line, key=lambda waiting_line: rank[id(waiting_line)])

    busy = 0
    changed = asyncio.Event()
    wait_for_change = sleep_until_change or _wait

    async def take_places() -> None:
        nonlocal busy
        while waiting or busy:
            chosen = None
            soonest: float | None = None
            for i, line in enumerate(waiting):
                seconds = ready_in(line.issue_key)
                if seconds <= 0:
                    chosen = i
                    break
                soonest = seconds if soonest is None else min(soonest, seconds)
            if chosen is None:
                # Nothing may be written now: wait for an issue's budget to have room, or a write to end.
                changed.clear()
                await wait_for_change(changed, soonest)
                continue
            line = waiting[chosen]
            del waiting[chosen]
            under_way[id(line)] = under_way.get(id(line), 0) + 1
            busy += 1
            # A line once long stays so to its end. Each place is a task of its own: the priority holds for the
            # writes it sends.
            if line.writes_left() >= LONG_LINE:
                long_lines.add(id(line))
            LINE_PRIORITY.set(id(line) in long_lines)
            write = line.next_write()
            # Room for another of its writes: back in line, at its place.
            if under_way[id(line)] < line.at_once and line.has_next():
                back_in_line(line)
            try:
                await write
            finally:
                busy -= 1
                under_way[id(line)] -= 1
                changed.set()
            if line not in waiting and under_way[id(line)] < line.at_once and line.has_next():
                back_in_line(line)

    room = sum(max(1, line.at_once) for line in waiting)
    await gather_or_cancel(*(take_places() for _ in range(max(1, min(places, room)))))


async def _wait(changed: asyncio.Event, seconds: float | None) -> None:
    try:
        await asyncio.wait_for(changed.wait(), seconds)
    except TimeoutError:
        pass
