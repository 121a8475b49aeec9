"""The test files longest first, so the three xdist processes end together.

Under `--dist loadfile` a process takes the next file from the front of the queue whenever it is nearly out of work.
xdist's own order (files with the most tests first) put the few-test integration files, which take minutes, last:
CI ran one process alone for its final ~6 minutes (24.8 min of pytest for 35 min of CPU on 2 cores). Longest first
is the classic rule for spreading jobs over machines: what is left at the end is short.

The weights are each file's wall seconds in a CI run (setup, call and teardown of its tests, under the load of the
whole suite), kept in file_walls.json; a file not in it counts as 0 (new files are rarely the longest) and keeps its
collection place among those. `MIGRAYT_TEST_WALLS_OUT=<path> make test` writes a fresh table to commit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

WALLS = Path(__file__).with_name("file_walls.json")
WALLS_OUT = "MIGRAYT_TEST_WALLS_OUT"


def file_walls() -> dict[str, float]:
    return json.loads(WALLS.read_text()) if WALLS.exists() else {}


def longest_first(items: list[pytest.Item], walls: dict[str, float]) -> None:
    """In place, stable: a file's tests stay together and in their order."""
    items.sort(key=lambda item: -walls.get(item.nodeid.split("::", 1)[0], 0.0))


def write_walls(walls: dict[str, float]) -> None:
    out = os.environ.get(WALLS_OUT)
    if out:
        table = {path: round(seconds, 1) for path, seconds in sorted(walls.items(), key=lambda kv: -kv[1])}
        Path(out).write_text(json.dumps(table, indent=1) + "\n")
