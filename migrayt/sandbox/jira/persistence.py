"""Write-through SQLite store so sandbox Jira state survives a restart, even a SIGKILL.

Every mutating request commits its records before the response leaves (WAL mode: a committed
transaction is in the log file, so killing the process loses nothing). The in-memory state is
rebuilt from the records on start.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Store:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._pending: dict[tuple[str, str], str | None] = {}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS record (kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,"
                " PRIMARY KEY (kind, id))"
            )

    @property
    def durable(self) -> bool:
        return self._db is not None

    def put(self, kind: str, id_: Any, data: Any) -> None:
        if self._db is not None:
            self._pending[(kind, str(id_))] = json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    def delete(self, kind: str, id_: Any) -> None:
        if self._db is not None:
            self._pending[(kind, str(id_))] = None

    def commit(self) -> None:
        if self._db is None or not self._pending:
            return
        pending, self._pending = self._pending, {}
        db = self._db
        db.execute("BEGIN")
        try:
            upserts = [(k, i, d) for (k, i), d in pending.items() if d is not None]
            deletes = [(k, i) for (k, i), d in pending.items() if d is None]
            if upserts:
                db.executemany(
                    "INSERT INTO record (kind, id, data) VALUES (?, ?, ?)"
                    " ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data",
                    upserts,
                )
            if deletes:
                db.executemany("DELETE FROM record WHERE kind = ? AND id = ?", deletes)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def rollback(self) -> None:
        self._pending.clear()

    def load(self, kind: str) -> Iterator[Any]:
        if self._db is None:
            return
        for (data,) in self._db.execute("SELECT data FROM record WHERE kind = ? ORDER BY rowid", (kind,)):
            yield json.loads(data)

    def clear(self) -> None:
        self._pending.clear()
        if self._db is not None:
            self._db.execute("DELETE FROM record")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
