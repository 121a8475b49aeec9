"""A batch's writes take turns over its issues: an issue whose write budget is spent waits alone, each issue's
writes land in their order, and none is sent to an issue that has no room (Jira would answer 429).

Time is virtual: it moves only when every place has nothing it may write (the scheduler's wait), by as much as the
scheduler asks for; nothing here sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from migrayt.activities.execution.issue_writes import LONG_LINE, in_turn
from migrayt.connectors.limits import LINE_PRIORITY

WRITES_PER_WINDOW = 3
WINDOW = 5.0


class Site:
    """Jira's per-issue write budget (`jira-per-issue-on-write`), as the client knows it, on a virtual clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.window_started: dict[str, float] = {}
        self.written_in_window: dict[str, int] = {}
        self.log: list[tuple[float, str, int]] = []  # (time, issue, write number)
        self.refused: list[tuple[str, int]] = []
        self.in_flight: dict[str, int] = {}
        self.most_in_flight_per_issue = 0
        self.waits: list[float] = []

    def _roll(self, issue: str) -> None:
        if issue not in self.window_started or self.now >= self.window_started[issue] + WINDOW:
            self.window_started[issue] = self.now
            self.written_in_window[issue] = 0

    def ready_in(self, issue: str) -> float:
        self._roll(issue)
        if self.written_in_window.get(issue, 0) < WRITES_PER_WINDOW:
            return 0.0
        return self.window_started[issue] + WINDOW - self.now

    async def write(self, issue: str, n: int) -> None:
        self._roll(issue)
        self.in_flight[issue] = self.in_flight.get(issue, 0) + 1
        self.most_in_flight_per_issue = max(self.most_in_flight_per_issue, self.in_flight[issue])
        if self.written_in_window.get(issue, 0) >= WRITES_PER_WINDOW:
            self.refused.append((issue, n))
        self.written_in_window[issue] = self.written_in_window.get(issue, 0) + 1
        self.log.append((self.now, issue, n))
        await asyncio.sleep(0)  # the answer comes back later: other places run meanwhile
        await asyncio.sleep(0)
        self.in_flight[issue] -= 1

    async def wait(self, changed: asyncio.Event, seconds: float | None) -> None:
        # A write under way ends in no time here: it wakes the scheduler before any time has to pass.
        if seconds is None or any(self.in_flight.values()):
            await changed.wait()
            return
        self.waits.append(seconds)
        self.now += seconds


class Thread:
    def __init__(self, site: Site, issue: str, writes: int) -> None:
        self.site = site
        self.issue_key = issue
        self.at_once = 1
        self._next = 1
        self._last = writes

    def has_next(self) -> bool:
        return self._next <= self._last

    def writes_left(self) -> int:
        return self._last - self._next + 1

    def next_write(self) -> Awaitable[None]:
        n, self._next = self._next, self._next + 1
        return self.site.write(self.issue_key, n)


def test_a_long_thread_waits_alone_and_the_short_ones_go_meanwhile() -> None:
    site = Site()
    long_thread = Thread(site, "PHX-1", 12)
    short = [Thread(site, f"PHX-{i}", 2) for i in range(2, 12)]

    asyncio.run(in_turn([long_thread, *short], 3, site.ready_in, site.wait))

    assert site.refused == [], "a write went to an issue whose budget was spent"
    for thread in [long_thread, *short]:
        numbers = [n for _, issue, n in site.log if issue == thread.issue_key]
        assert numbers == list(range(1, thread._last + 1)), f"{thread.issue_key} out of order or incomplete"
    assert site.most_in_flight_per_issue == 1
    # Every short thread landed before the long one's budget first ran out and time had to pass.
    assert all(at == 0.0 for at, issue, _ in site.log if issue != "PHX-1")
    # Time passed only for the long thread: 12 writes at 3 a window is 3 waits, one window each.
    assert site.waits == [WINDOW] * 3
    # The long thread started first (the longest threads are given first).
    assert site.log[0][1] == "PHX-1"


def test_writes_that_may_go_together_do_and_a_closing_write_waits_for_them() -> None:
    """An item's files go several at once; its description (a line's `has_next` says no meanwhile) waits."""

    site = Site()

    class Files:
        issue_key = "PHX-7"
        at_once = 3

        def __init__(self) -> None:
            self.steps = ["file"] * 5 + ["description"]
            self.files_under_way = 0
            self.description_saw: int | None = None

        def has_next(self) -> bool:
            if self.steps == ["description"] and self.files_under_way:
                return False
            return bool(self.steps)

        def writes_left(self) -> int:
            return len(self.steps)

        def next_write(self) -> Awaitable[None]:
            step = self.steps.pop(0)
            if step == "description":
                self.description_saw = self.files_under_way
                return site.write(self.issue_key, 99)
            self.files_under_way += 1
            return self._file()

        async def _file(self) -> None:
            try:
                await site.write(self.issue_key, 1)
            finally:
                self.files_under_way -= 1

    files = Files()
    asyncio.run(in_turn([files], 4, lambda _: 0.0, site.wait))
    assert files.steps == [] and files.description_saw == 0
    assert site.most_in_flight_per_issue == 3
    assert site.log[-1][2] == 99


def test_the_longest_thread_writes_whenever_its_issue_has_room_ahead_of_the_shorter_ones() -> None:
    # One place: going round the issues in turn, the long thread would get one write in eleven.
    site = Site()
    long_thread = Thread(site, "PHX-1", 6)
    short = [Thread(site, f"PHX-{i}", 2) for i in range(2, 12)]

    asyncio.run(in_turn([long_thread, *short], 1, site.ready_in, site.wait))

    issues = [issue for _, issue, _ in site.log]
    assert issues[:WRITES_PER_WINDOW] == ["PHX-1"] * WRITES_PER_WINDOW, issues
    # Its budget spent, the short threads take the place meanwhile; the long one goes on once it has room.
    assert all(at == 0.0 for at, issue, _ in site.log if issue != "PHX-1")
    assert site.waits == [WINDOW] and issues[-WRITES_PER_WINDOW:] == ["PHX-1"] * WRITES_PER_WINDOW


def test_a_long_line_s_writes_go_first_on_their_endpoint_to_its_last_and_short_lines_queue() -> None:
    """A line long enough to set the run's length (LONG_LINE writes: 25 s and more at Jira's per-issue pace) sends
    every write, its last ones too, with LINE_PRIORITY set: the client lets it pass the endpoint's queue."""
    site = Site()
    prioritized: dict[str, list[bool]] = {}
    write = site.write

    async def noting(issue: str, n: int) -> None:
        prioritized.setdefault(issue, []).append(LINE_PRIORITY.get())
        await write(issue, n)

    site.write = noting  # type: ignore[method-assign]
    long_thread = Thread(site, "PHX-1", LONG_LINE + 5)
    short = [Thread(site, f"PHX-{i}", 3) for i in range(2, 6)]

    asyncio.run(in_turn([long_thread, *short], 3, site.ready_in, site.wait))

    assert prioritized["PHX-1"] == [True] * (LONG_LINE + 5)
    assert all(prioritized[t.issue_key] == [False] * 3 for t in short)
    assert LINE_PRIORITY.get() is False, "the caller's own context is left as it was"
