"""The tenant-ownership rule, written once: a row of another tenant is answered as if it did not exist."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from migrayt.core.errors import NotFound


class TenantRow(Protocol):
    tenant_id: Any


Row = TypeVar("Row", bound=TenantRow)


async def owned(session: AsyncSession, model: type[Row], row_id: str, tenant: str, what: str) -> Row:
    """The `model` row `row_id` when it belongs to `tenant`; else NotFound("<what> <id> not found")."""
    row = await session.get(model, row_id)
    if row is None or row.tenant_id != tenant:
        raise NotFound(f"{what} {row_id} not found")
    return row
