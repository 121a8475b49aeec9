"""May a run start? One gate for runs, re-runs, cutover schedules and delta syncs.

A run may start when no other run of the migration is active, its mapping plan is approved (delta syncs
keep the plan of the runs before them, so they skip that check; and the preview too), the latest preview does
not say the run would not start (it would stop in preflight as FAILED) and, with `MIGRAYT_BILLING=stripe`,
its checkout is paid.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from migrayt.billing import gate as billing_gate
from migrayt.contracts.runs import RunStatus
from migrayt.intake.verdict import preview_refusal
from migrayt.mapping import versions as plan_versions
from migrayt.store.models import AuditEvent, Run


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
        if refused := await preview_refusal(session, migration_id):
            return refused
    return await billing_gate.unpaid_reason(session, migration_id)  # MIGRAYT_BILLING=stripe: checkout first


async def claim_run(
    session: AsyncSession,
    *,
    run_id: str,
    migration_id: str,
    tenant: str,
    phase: str,
    action: str,
    actor: str,
    door: str,
    detail: dict[str, Any],
) -> None:
    """The RUNNING row of a run started by its own workflow (a delta sync, an undo) and its `…_requested` audit
    event; both keyed by the run id, so a retried activity claims once. The caller commits."""
    await session.execute(
        pg_insert(Run)
        .values(
            id=run_id,
            migration_id=migration_id,
            tenant_id=tenant,
            status=RunStatus.RUNNING.value,
            phase=phase,
            counters={},
        )
        .on_conflict_do_nothing(index_elements=[Run.id])
    )
    await session.execute(
        pg_insert(AuditEvent)
        .values(
            event_key=f"{run_id}:requested",
            tenant_id=tenant,
            migration_id=migration_id,
            run_id=run_id,
            action=action,
            actor=actor,
            door=door,
            detail=detail,
        )
        .on_conflict_do_nothing(index_elements=[AuditEvent.event_key])
    )
