"""One verdict before paying: while the latest preview says the run would not start, no checkout and no run.

The preview walks the run's own preflight (plan_problems); a run started against that verdict stops in
preflight as FAILED, after the user paid. No API imports here, so the service module can ask it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from migrayt.store.models import Preview


async def latest_preview_verdict(session: AsyncSession, migration_id: str) -> tuple[Preview, list[str]] | None:
    """(preview, its reasons) when the latest finished preview says the run would not start; else None."""
    preview = await session.scalar(
        select(Preview)
        .where(Preview.migration_id == migration_id, Preview.status == "COMPLETED")
        .order_by(Preview.started_at.desc())
        .limit(1)
    )
    report = preview.report if preview is not None else None
    if preview is None or not report or report.get("would_start", True):
        return None
    return preview, list(report.get("plan_problems") or [])


async def preview_refusal(session: AsyncSession, migration_id: str) -> str | None:
    """Why no checkout and no run may start (None: they may), in the preview's own words."""
    found = await latest_preview_verdict(session, migration_id)
    if found is None:
        return None
    preview, problems = found
    return (
        f"the latest preview ({preview.id}, plan version {preview.plan_version}) says the run would not start: "
        + "; ".join(problems or ["see the preview"])
        + ". Fix the mapping, then preview again."
    )
