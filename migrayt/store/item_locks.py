"""Advisory locks so two attempts of one batch (a retry racing a slow original) never write the same item."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class ItemsBusy(Exception):
    """Another live attempt holds some of these items; try again once it has finished or died."""


def _int4(value: str) -> int:
    n = zlib.crc32(value.encode())
    return n - (1 << 32) if n >= (1 << 31) else n


@asynccontextmanager
async def claimed(engine: AsyncEngine, migration_id: str, kind: str, source_keys: Sequence[str]) -> AsyncIterator[None]:
    """Session-level locks, held on one connection for the block; a killed worker's connection
    closes and PostgreSQL releases its locks at once, so a crash never leaves items stuck."""
    namespace = _int4(f"{migration_id}:{kind}")
    keys = sorted({_int4(k) for k in source_keys})
    async with engine.connect() as conn:
        got = (
            await conn.execute(
                text("SELECT k, pg_try_advisory_lock(:ns, k) FROM unnest(CAST(:keys AS int[])) AS k"),
                {"ns": namespace, "keys": keys},
            )
        ).all()
        await conn.commit()
        try:
            if not all(ok for _, ok in got):
                raise ItemsBusy(
                    f"{sum(not ok for _, ok in got)} of {len(keys)} {kind} items are being written by another attempt"
                )
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock_all()"))
            await conn.commit()
