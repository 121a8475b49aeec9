"""The exactly-once protocol for a whole batch's writes in few SQL statements.

The order of the protocol is unchanged: a write's pending mark is committed before the write is sent, its result
after its answer came back. What changes is how many go in one statement: pending marks are committed a window at a
time, ahead of the writes they cover (the writes the batch expects next, whatever their item); results are kept
until a window of them is complete, then committed together. A crash between a write and the commit of its result
leaves its record pending, which is what a lost answer does anyway: the retry reconciles pending records with Jira
before writing (comments by the marker in their header, files by name, size and content).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from migrayt.store import item_records

# Writes marked pending together, and results committed together. A crash re-checks at most about this many
# pending writes against Jira, spread over the issues they were for.
WINDOW = 25

Key = tuple[str, str]  # (record kind, source key)


class WriteLedger:
    """One batch's item records as its writes go: marks pending a window ahead, results in windows."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], migration_id: str, run_id: str, window: int = WINDOW
    ) -> None:
        self._sessions = sessions
        self._migration_id = migration_id
        self._run_id = run_id
        self._window = window
        self._expected: dict[Key, None] = {}  # writes to come, in the order the batch expects them (a set, ordered)
        self._marked: set[Key] = set()
        self._results: dict[Key, tuple[str, dict[str, Any]]] = {}
        self._lock = asyncio.Lock()
        self.statements = 0

    def expect(self, keys: Iterable[Key]) -> None:
        """These writes will follow: their pending marks may go with those of earlier ones."""
        for key in keys:
            if key not in self._marked:
                self._expected[key] = None

    async def pending(self, kind: str, source_key: str) -> None:
        """Committed as pending before this write is sent: with it, the next expected writes up to a window."""
        key = (kind, source_key)
        if key in self._marked:
            return
        async with self._lock:
            if key in self._marked:
                return
            self._expected.pop(key, None)
            rows = [key]
            for ahead in self._expected:
                if len(rows) >= self._window:
                    break
                rows.append(ahead)
            for ahead in rows[1:]:
                del self._expected[ahead]
            async with self._sessions() as session:
                marked = await item_records.mark_pending_ahead(session, self._migration_id, key, rows[1:], self._run_id)
                await session.commit()
            self.statements += 1
            # What was not marked (refused before, or done) marks itself if its write does go.
            self._marked.update(marked)
            self._marked.add(key)

    def is_done(self, target_key: str) -> bool:
        """This Jira object is already the result of one of the batch's writes (committed or not yet)."""
        return any(target == target_key for target, _ in self._results.values())

    async def done(self, kind: str, source_key: str, target_key: str, detail: dict[str, Any] | None = None) -> None:
        """A write's result; committed with the others of its window (or by `flush`)."""
        self._results[(kind, source_key)] = (target_key, dict(detail or {}))
        if len(self._results) >= self._window:
            await self.flush()

    async def flush(self) -> None:
        """Commit every result held: at the end of a batch, also when it is cut, and before Jira is searched for
        what an earlier attempt wrote (which must not be claimed twice)."""
        async with self._lock:
            if not self._results:
                return
            results, self._results = self._results, {}
            rows = [(kind, key, target, detail) for (kind, key), (target, detail) in results.items()]
            try:
                async with self._sessions() as session:
                    await item_records.mark_done_rows(session, self._migration_id, rows, self._run_id)
                    await session.commit()
            except BaseException:
                # Not recorded: keep them, so a flush later in the batch (its `finally`) tries again.
                self._results = {**results, **self._results}
                raise
            self.statements += 1
