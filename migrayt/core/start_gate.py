"""May a run start? One gate for runs, re-runs, cutover schedules and delta syncs.

A run may start when no other run of the migration is active, its mapping plan is approved (delta syncs
keep the plan of the runs before them, so they skip that check) and, with `MIGRAYT_BILLING=stripe`,
its checkout is paid.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from migrayt.billing import gate as billing_gate
from migrayt.contracts.runs import RunStatus
from migrayt.mapping import versions as plan_versions
from migrayt.store.models import Run


async def active_run(session: AsyncSession, migration_id: str, *, other_than: str | None = None) -> str | None:
    """The id of the migration's RUNNING or PAUSED run (other than `other_than`), if any."""
    stmt = select(Run.id).where(
        Run.migration_id == migration_id, Run.status.in_([RunStatus.RUNNING.value, RunStatus.PAUSED.value])
    )
    if other_than is not None:
        stmt = stmt.where(Run.id != other_than)
    return await session.scalar(stmt)


async def start_refusal(
    session: AsyncSession, migration_id: str, *, plan_approval: bool = True, this_run: str | None = None
) -> str | None:
    """Why a run of the migration may not start now, in the user's words; None when it may.

    `plan_approval`: require an approved plan (a delta sync does not); `this_run`: a run row already
    claimed for the run being started, which does not count as another active run."""
    if active := await active_run(session, migration_id, other_than=this_run):
        if this_run is not None:
            return f"run {active} of this migration is still active"
        return f"migration {migration_id} already has an active run {active}"
    if plan_approval:
        try:
            await plan_versions.require_approved(session, migration_id)
        except plan_versions.PlanNotApproved as err:
            return str(err)
    return await billing_gate.unpaid_reason(session, migration_id)  # MIGRAYT_BILLING=stripe: checkout first
