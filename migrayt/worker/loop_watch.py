"""Name the code that blocks the worker's event loop.

Every batch, every heartbeat and the answer to every workflow task share the worker's one event loop. A batch that
computes for seconds without awaiting holds all of them: other batches' heartbeats stop (a pause or a cancel waits
for it), and a workflow task not answered within its timeout (10 s) is taken again from the start. Temporal only
says a workflow task was slow ("TMPRL1104 … exceeded 5 seconds"), not what held it. A thread outside the loop
notices that the loop has not ticked for `worker_loop_stall_seconds`, takes the loop thread's stack there and then,
and logs it with the stall's length once the loop is free again (or every further threshold while it is not).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

FRAMES_SHOWN = 12


@dataclass
class Stall:
    """One time the loop did not tick: how long, and where its thread was when the watch noticed."""

    seconds: float
    where: list[str] = field(default_factory=list)


class LoopWatch:
    """Start inside the loop to watch; `stop()` ends the ticker and the watching thread. `stalls` keeps what was
    seen (the last few), for a test or a bench to read."""

    def __init__(self, threshold_seconds: float, *, kept: int = 20) -> None:
        self.threshold = threshold_seconds
        # Ticks well inside the threshold, so a stall is measured to within a tenth of it.
        self._tick = max(threshold_seconds / 10, 0.01)
        self._kept = kept
        self.stalls: list[Stall] = []
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._ticker: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread = 0

    def start(self) -> None:
        self._loop_thread = threading.get_ident()
        self._last = time.monotonic()
        self._ticker = asyncio.get_running_loop().create_task(self._ticks(), name="loop-watch ticker")
        self._thread = threading.Thread(target=self._watch, name="loop-watch", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    async def _ticks(self) -> None:
        while True:
            self._last = time.monotonic()
            await asyncio.sleep(self._tick)

    def _where(self) -> list[str]:
        frame = sys._current_frames().get(self._loop_thread)
        if frame is None:
            return []
        return [line.rstrip() for line in traceback.format_stack(frame)[-FRAMES_SHOWN:]]

    def _watch(self) -> None:
        seen: Stall | None = None
        told_at = 0.0
        while not self._stop.wait(self._tick):
            blocked = time.monotonic() - self._last
            if blocked >= self.threshold:
                if seen is None:
                    seen = Stall(blocked, self._where())
                    told_at = blocked
                seen.seconds = blocked
                if blocked - told_at >= self.threshold * 5:
                    # Still blocked: say so now rather than only if it ever ends.
                    self._tell(seen, ended=False)
                    told_at = blocked
            elif seen is not None:
                self._tell(seen, ended=True)
                self.stalls = [*self.stalls, seen][-self._kept :]
                seen = None

    def _tell(self, stall: Stall, *, ended: bool) -> None:
        log.warning(
            "the worker's event loop %s %.1f s (batches, heartbeats and workflow tasks waited); its thread was in:\n%s",
            "was blocked for" if ended else "has been blocked for",
            stall.seconds,
            "\n".join(stall.where) or "  (no stack)",
        )
