"""The suite's files longest first (tests/file_order.py): what CI's three processes take from the queue."""

from __future__ import annotations

import json
from types import SimpleNamespace

from tests import file_order


def items(*nodeids: str) -> list:
    return [SimpleNamespace(nodeid=n) for n in nodeids]


def test_the_longest_files_go_first_each_whole_and_in_its_own_order():
    collected = items("a.py::t1", "a.py::t2", "b.py::t1", "c.py::t1", "c.py::t2", "d.py::t1")
    file_order.longest_first(collected, {"c.py": 200.0, "b.py": 50.0})
    assert [i.nodeid for i in collected] == ["c.py::t1", "c.py::t2", "b.py::t1", "a.py::t1", "a.py::t2", "d.py::t1"]


def test_a_fresh_table_is_written_longest_first_only_when_asked(tmp_path, monkeypatch):
    out = tmp_path / "walls.json"
    monkeypatch.delenv(file_order.WALLS_OUT, raising=False)
    file_order.write_walls({"a.py": 1.0})
    assert not out.exists()
    monkeypatch.setenv(file_order.WALLS_OUT, str(out))
    file_order.write_walls({"a.py": 1.04, "b.py": 30.0})
    assert list(json.loads(out.read_text()).items()) == [("b.py", 30.0), ("a.py", 1.0)]


def test_the_committed_table_names_only_files_that_exist():
    root = file_order.WALLS.parent.parent
    assert [path for path in file_order.file_walls() if not (root / path).exists()] == []
