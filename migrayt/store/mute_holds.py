"""One mute of a Jira project's notifications shared by every run of a tenant writing into it at once.

Each run that mutes holds the mute: its `notification_scheme` item record (keyed by the run) names the project's own
scheme and says whether the run has released its hold. The project's own scheme goes back only when the last hold is
released, decided under an advisory lock per (tenant, Jira site, project) so two runs ending at once cannot both
leave the project muted. Only the tenant's own records are ever read: another tenant muting the same project shares
nothing with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from migrayt.contracts.record_kinds import NOTIFICATION_SCHEME
from migrayt.contracts.runs import FINAL_STATUSES
from migrayt.store.models import ItemRecord, Migration, Run


@dataclass(frozen=True)
class Hold:
    """One run's hold on a project's mute, as its record and its run row say."""

    run_id: str
    migration_id: str
    original_id: str
    original_name: str
    # Released: the run has ended its part (restored, or left the project muted for another run).
    released: bool
    run_status: str | None

    @property
    def run_ended(self) -> bool:
        return self.run_status in FINAL_STATUSES


def site_of(base_url: str) -> str:
    return base_url.rstrip("/").lower()


def released(detail: dict) -> bool:
    """Records written before holds were shared say only `restored`."""
    return bool(detail.get("released") or detail.get("restored") or detail.get("left_muted_for"))


def still_holding(holds: Collection[Hold], me: str, open_runs: Collection[str]) -> list[Hold]:
    """The other runs whose hold keeps the project muted: not released, their run not in a final state, and their
    workflow still open in Temporal (`open_runs`) — a run terminated there never writes its final status, and must
    not keep the project muted for ever."""
    return [h for h in holds if h.run_id != me and not h.released and not h.run_ended and h.run_id in open_runs]


async def holds(session: AsyncSession, tenant: str, site: str, project: str) -> list[Hold]:
    """Every hold the tenant's runs ever took on (site, project), oldest first."""
    rows = await session.execute(
        select(ItemRecord, Migration.target, Run.status)
        .join(Migration, Migration.id == ItemRecord.migration_id)
        .outerjoin(Run, Run.id == ItemRecord.source_key)
        .where(
            Migration.tenant_id == tenant,
            ItemRecord.kind == NOTIFICATION_SCHEME,
            ItemRecord.detail["project"].astext == project,
            ItemRecord.target_key.is_not(None),
        )
        .order_by(ItemRecord.id)
    )
    out: list[Hold] = []
    for record, target, status in rows:
        detail = record.detail or {}
        if site_of(detail.get("site") or (target or {}).get("base_url") or "") != site:
            continue
        out.append(
            Hold(
                run_id=record.source_key,
                migration_id=record.migration_id,
                original_id=record.target_key or "",
                original_name=detail.get("original_name", ""),
                released=released(detail),
                run_status=status,
            )
        )
    return out


@asynccontextmanager
async def project_locked(engine: AsyncEngine, tenant: str, site: str, project: str) -> AsyncIterator[None]:
    """A session-level advisory lock on one connection for the block: a killed worker's connection closes and
    PostgreSQL releases the lock at once, so a crash never leaves a project locked."""
    key = {"k": f"migrayt-mute/{tenant}/{site}/{project}"}
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"), key)
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), key)
            await conn.commit()
