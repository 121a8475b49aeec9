"""What the schedule tests share: ADO edits through the sandbox, ledger reads."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from migrayt.contracts.record_kinds import NOTIFICATION_SCHEME
from migrayt.sandbox.server import SandboxServer
from migrayt.store.models import ItemRecord


async def change_ado(sandbox: SandboxServer, changes: list[dict[str, Any]], new_items: int = 0) -> dict:
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{sandbox.ado_root}/_sandbox/changes", json={"changes": changes, "new_items": new_items})
        r.raise_for_status()
        return r.json()


async def issue_keys(stack, migration_id: str) -> dict[int, str]:
    async with stack.service.sessions() as session:
        rows = await session.execute(
            select(ItemRecord.source_key, ItemRecord.target_key).where(
                ItemRecord.migration_id == migration_id, ItemRecord.kind == "issue", ItemRecord.state == "done"
            )
        )
        return {int(s): t for s, t in rows}


async def records_written_by(stack, run_id: str) -> dict[str, int]:
    async with stack.service.sessions() as session:
        rows = await session.execute(
            select(ItemRecord.kind, func.count()).where(ItemRecord.run_id == run_id).group_by(ItemRecord.kind)
        )
        return dict(rows.all())


async def content_written_by(stack, run_id: str) -> dict[str, int]:
    """As `records_written_by`, less the record of the run's mute of the project's notifications: a delta sync with a
    work list mutes for it, whether or not an item turns out to need writing."""
    written = await records_written_by(stack, run_id)
    return {kind: n for kind, n in written.items() if kind != NOTIFICATION_SCHEME}
