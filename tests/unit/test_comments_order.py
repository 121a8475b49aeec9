"""The comments phase starts the longest threads first, so a long discussion does not finish last alone."""

from __future__ import annotations

from migrayt.activities.execution.create_items import SourceRow
from migrayt.activities.execution.phase_comments import longest_threads_first
from migrayt.connectors.ado import WorkItem


def test_the_longest_threads_start_first_and_equal_ones_keep_the_work_list_order() -> None:
    counts = {1: 2, 2: 300, 3: 0, 4: 2, 5: 40, 6: None}
    rows = [SourceRow(i, "Task", None, 0) for i in counts]
    work_items = {
        i: WorkItem(id=i, fields={} if n is None else {"System.CommentCount": n}) for i, n in counts.items() if i != 3
    }
    assert [r.source_id for r in longest_threads_first(rows, work_items)] == [2, 5, 1, 4, 3, 6]
