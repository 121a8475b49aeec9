"""The exactly-once ledger: read and move item records between pending, done, failed and removed (by an undo)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import cast, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB, Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from migrayt.store.models import ItemRecord

PENDING = "pending"
DONE = "done"
FAILED = "failed"
# Taken out of Jira by an undo: as if never written, so a new run writes it again (never skips it).
REMOVED = "removed"


async def load(
    session: AsyncSession, migration_id: str, kind: str, source_keys: Iterable[str]
) -> dict[str, ItemRecord]:
    keys = list(source_keys)
    if not keys:
        return {}
    rows = await session.scalars(
        select(ItemRecord).where(
            ItemRecord.migration_id == migration_id, ItemRecord.kind == kind, ItemRecord.source_key.in_(keys)
        )
    )
    return {r.source_key: r for r in rows}


async def mark_pending(
    session: AsyncSession, migration_id: str, kind: str, source_keys: Sequence[str], run_id: str
) -> None:
    """Record the intent to write before writing; never downgrades a done record."""
    await mark_pending_rows(session, migration_id, [(kind, k) for k in source_keys], run_id)


async def mark_done(
    session: AsyncSession,
    migration_id: str,
    kind: str,
    source_key: str,
    target_key: str,
    run_id: str,
    detail: dict[str, Any] | None = None,
) -> None:
    stmt = insert(ItemRecord).values(
        migration_id=migration_id,
        kind=kind,
        source_key=source_key,
        target_key=target_key,
        state=DONE,
        run_id=run_id,
        attempts=1,
        detail=detail or {},
    )
    stmt = stmt.on_conflict_do_update(
        constraint="uq_item_record_migration_id_kind_source_key",
        set_=dict(
            state=DONE, target_key=target_key, run_id=run_id, error=None, detail=detail or {}, updated_at=func.now()
        ),
    )
    await session.execute(stmt)


async def mark_done_many(
    session: AsyncSession, migration_id: str, kind: str, done: Sequence[tuple[str, str, dict[str, Any]]], run_id: str
) -> None:
    """Record a whole batch's outcomes in one statement: (source key, target key, detail) each."""
    await mark_done_rows(session, migration_id, [(kind, k, t, d) for k, t, d in done], run_id)


async def load_kinds(
    session: AsyncSession, migration_id: str, kinds: Sequence[str], source_keys: Iterable[str]
) -> dict[tuple[str, str], ItemRecord]:
    """Records of several kinds for these source keys in one statement, by (kind, source key)."""
    keys = list(source_keys)
    if not keys or not kinds:
        return {}
    rows = await session.scalars(
        select(ItemRecord).where(
            ItemRecord.migration_id == migration_id,
            ItemRecord.kind.in_(list(kinds)),
            ItemRecord.source_key.in_(keys),
        )
    )
    return {(r.kind, r.source_key): r for r in rows}


async def mark_pending_rows(
    session: AsyncSession, migration_id: str, rows: Sequence[tuple[str, str]], run_id: str
) -> None:
    """`mark_pending` for writes of several kinds at once: (kind, source key) each, one statement."""
    if not rows:
        return
    stmt = _pending_insert(migration_id, rows, run_id).on_conflict_do_update(
        constraint="uq_item_record_migration_id_kind_source_key",
        set_=dict(state=PENDING, run_id=run_id, attempts=ItemRecord.attempts + 1, error=None, updated_at=func.now()),
        where=ItemRecord.state != DONE,
    )
    await session.execute(stmt)


def _pending_insert(migration_id: str, rows: Sequence[tuple[str, str]], run_id: str) -> Insert:
    return insert(ItemRecord).values(
        [
            dict(
                migration_id=migration_id, kind=kind, source_key=k, state=PENDING, run_id=run_id, attempts=1, detail={}
            )
            for kind, k in rows
        ]
    )


async def mark_pending_ahead(
    session: AsyncSession,
    migration_id: str,
    first: tuple[str, str],
    ahead: Sequence[tuple[str, str]],
    run_id: str,
) -> set[tuple[str, str]]:
    """`first` pending (its write goes now) and, in the same statement, the writes expected after it; which of
    these were marked is returned.

    A write expected next may never be sent — a file Jira refused earlier in this run is not sent again, and a
    record marked pending for it would stay pending for good — so records already failed are not marked ahead:
    such a write, if it does go, marks itself first. Done records are never touched."""
    rows = [first, *ahead]
    stmt = _pending_insert(migration_id, rows, run_id).on_conflict_do_update(
        constraint="uq_item_record_migration_id_kind_source_key",
        set_=dict(state=PENDING, run_id=run_id, attempts=ItemRecord.attempts + 1, error=None, updated_at=func.now()),
        where=(ItemRecord.state != DONE)
        & ((ItemRecord.state != FAILED) | (tuple_(ItemRecord.kind, ItemRecord.source_key) == tuple_(*first))),
    )
    marked = await session.execute(stmt.returning(ItemRecord.kind, ItemRecord.source_key))
    return {(kind, key) for kind, key in marked.all()}


async def mark_done_rows(
    session: AsyncSession,
    migration_id: str,
    rows: Sequence[tuple[str, str, str, dict[str, Any]]],
    run_id: str,
) -> None:
    """`mark_done` for writes of several kinds at once: (kind, source key, target key, detail) each, one statement."""
    if not rows:
        return
    stmt = insert(ItemRecord).values(
        [
            dict(
                migration_id=migration_id,
                kind=kind,
                source_key=k,
                target_key=t,
                state=DONE,
                run_id=run_id,
                attempts=1,
                detail=d,
            )
            for kind, k, t, d in rows
        ]
    )
    stmt = stmt.on_conflict_do_update(
        constraint="uq_item_record_migration_id_kind_source_key",
        set_=dict(
            state=DONE,
            target_key=stmt.excluded.target_key,
            run_id=run_id,
            error=None,
            detail=stmt.excluded.detail,
            updated_at=func.now(),
        ),
    )
    await session.execute(stmt)


async def note_pending(session: AsyncSession, migration_id: str, kind: str, details: dict[str, dict[str, Any]]) -> None:
    """Merge what a pending write's reconciliation needs into its record (e.g. the id of the job it started);
    a record no longer pending is left as it is."""
    for key, detail in details.items():
        await session.execute(
            update(ItemRecord)
            .where(
                ItemRecord.migration_id == migration_id,
                ItemRecord.kind == kind,
                ItemRecord.source_key == key,
                ItemRecord.state == PENDING,
            )
            .values(detail=ItemRecord.detail.op("||")(cast(detail, JSONB)), updated_at=func.now())
        )


async def mark_failed(
    session: AsyncSession,
    migration_id: str,
    kind: str,
    source_key: str,
    error: str,
    run_id: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """`detail` is merged into the record's: what names the thing to a customer (its ADO item, its file name)."""
    stmt = insert(ItemRecord).values(
        migration_id=migration_id,
        kind=kind,
        source_key=source_key,
        state=FAILED,
        error=error[:4000],
        run_id=run_id,
        attempts=1,
        detail=detail or {},
    )
    stmt = stmt.on_conflict_do_update(
        constraint="uq_item_record_migration_id_kind_source_key",
        set_=dict(
            state=FAILED,
            error=error[:4000],
            run_id=run_id,
            detail=ItemRecord.detail.op("||")(stmt.excluded.detail),
            updated_at=func.now(),
        ),
        where=ItemRecord.state != DONE,
    )
    await session.execute(stmt)


async def mark_removed(
    session: AsyncSession, record_ids: Sequence[int], run_id: str, detail: dict[str, Any] | None = None
) -> None:
    """An undo took these records' writes out of Jira; their detail keeps what they were, plus how they went."""
    if not record_ids:
        return
    await session.execute(
        update(ItemRecord)
        .where(ItemRecord.id.in_(list(record_ids)))
        .values(
            state=REMOVED,
            run_id=run_id,
            error=None,
            detail=ItemRecord.detail.op("||")(cast(detail or {}, JSONB)),
            updated_at=func.now(),
        )
    )


async def target_keys(
    session: AsyncSession, migration_id: str, kind: str, source_keys: Iterable[str]
) -> dict[str, str]:
    records = await load(session, migration_id, kind, source_keys)
    return {k: r.target_key for k, r in records.items() if r.state == DONE and r.target_key}
