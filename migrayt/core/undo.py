"""Undo: the dry run of what would go, the confirmed undo (by count), and its progress. No HTTP here.

An undo is a run of the migration (row in `run`, id `undo-…`): the start gate keeps it from running
beside a run, and pause/resume/cancel go through `MigrationService.control` like any run's.
"""

from __future__ import annotations

import asyncio
import uuid

from pydantic import BaseModel, Field
from sqlalchemy import select
from temporalio.service import RPCError

from migrayt.contracts.runs import FINAL_STATUSES, RunProgress, RunStatus
from migrayt.contracts.undo import (
    FORCE_CATEGORIES,
    UNDO_PHASE,
    UNDO_RUN_PREFIX,
    Blocker,
    UndoInput,
    UndoPlan,
    UndoPlanInput,
)
from migrayt.core.errors import NotFound, RunConflict
from migrayt.core.migrations import Migrations
from migrayt.core.ownership import owned
from migrayt.core.start_gate import start_refusal
from migrayt.store.models import AuditEvent, Migration, Run
from migrayt.temporal.search_attributes import search_attributes
from migrayt.workflows.engine import RunEngine
from migrayt.workflows.undo import UndoPreviewWorkflow, UndoWorkflow


class UnknownForce(ValueError):
    """A --force category that does not exist."""


class UndoProgress(BaseModel):
    run_id: str
    migration_id: str
    status: RunStatus
    live: bool = True
    total: int = 0
    removed: int = 0
    already_gone: int = 0  # or needing no removal: a sprint or component still in use stays
    kept: int = 0  # Jira refused to delete them (each record says why)
    pause_requested: bool = False
    cancel_requested: bool = False
    counts: dict[str, int] = Field(default_factory=dict)
    blocked: list[Blocker] = Field(default_factory=list)
    forced: list[Blocker] = Field(default_factory=list)
    error: str | None = None


def check_force(force: list[str]) -> list[str]:
    unknown = sorted(set(force) - set(FORCE_CATEGORIES))
    if unknown:
        raise UnknownForce(f"unknown --force {', '.join(unknown)}; one of: {', '.join(FORCE_CATEGORIES)}")
    return sorted(set(force))


class UndoService(Migrations):
    async def dry_run(self, tenant: str, migration_id: str, force: list[str] | None = None) -> UndoPlan:
        """What an undo would remove now, and what it would hold back (others built on it)."""
        force = check_force(force or [])
        async with self.sessions() as session:
            await owned(session, Migration, migration_id, tenant, "migration")
        return await self.temporal.execute_workflow(
            UndoPreviewWorkflow.run,
            UndoPlanInput(run_id="dry-run", migration_id=migration_id, tenant=tenant, force=force),
            id=f"undo-preview-{uuid.uuid4().hex[:12]}",
            task_queue=self.settings.task_queue,
        )

    async def start(
        self, tenant: str, migration_id: str, confirm: int, actor: str, door: str, force: list[str] | None = None
    ) -> str:
        """Start the undo once `confirm` repeats the count the dry run shows now; RunConflict otherwise."""
        force = check_force(force or [])
        plan = await self.dry_run(tenant, migration_id, force)
        if confirm != plan.total:
            raise RunConflict(
                f"the undo would remove {plan.total} items now, not the {confirm} confirmed: "
                f"confirm with {plan.total} after reading the dry run"
            )
        async with self.sessions() as session:
            if refusal := await start_refusal(session, migration_id, plan_approval=False):
                raise RunConflict(refusal)
            run_id = f"{UNDO_RUN_PREFIX}{uuid.uuid4().hex[:12]}"
            # The row first, so the doors can show the undo at once; the plan activity claims it again.
            session.add(
                Run(
                    id=run_id,
                    migration_id=migration_id,
                    tenant_id=tenant,
                    status=RunStatus.RUNNING,
                    phase=UNDO_PHASE,
                    counters={},
                )
            )
            await session.commit()
        await self.temporal.start_workflow(
            UndoWorkflow.run,
            UndoInput(
                run_id=run_id,
                migration_id=migration_id,
                tenant=tenant,
                requested_by=actor,
                door=door,
                force=force,
                confirm=confirm,
                batch_size=self.settings.undo_batch_size,
                concurrency=self.settings.concurrency,
            ),
            id=run_id,
            task_queue=self.settings.task_queue,
            search_attributes=search_attributes(tenant, RunStatus.RUNNING, UNDO_PHASE),
        )
        return run_id

    async def latest(self, tenant: str, migration_id: str) -> str:
        """The migration's last undo."""
        async with self.sessions() as session:
            await owned(session, Migration, migration_id, tenant, "migration")
            run_id = await session.scalar(
                select(Run.id)
                .where(Run.migration_id == migration_id, Run.id.like(f"{UNDO_RUN_PREFIX}%"))
                .order_by(Run.started_at.desc())
                .limit(1)
            )
        if run_id is None:
            raise NotFound(f"migration {migration_id} has not been undone")
        return run_id

    async def progress(self, tenant: str, run_id: str, query_timeout: float = 5.0) -> UndoProgress:
        async with self.sessions() as session:
            run = await owned(session, Run, run_id, tenant, "undo")
            requested = await session.scalar(
                select(AuditEvent.detail).where(AuditEvent.event_key == f"{run_id}:requested")
            )
        progress = RunProgress(
            run_id=run.id, status=RunStatus(run.status), phase=run.phase, counters=run.counters or {}
        )
        live = True
        if RunStatus(run.status) not in FINAL_STATUSES:
            try:
                progress = await asyncio.wait_for(
                    self.temporal.get_workflow_handle(run_id).query(RunEngine.progress), query_timeout
                )
            except (TimeoutError, RPCError):
                live = False
        c = progress.counters.get(UNDO_PHASE)
        plan = requested or {}
        return UndoProgress(
            run_id=run.id,
            migration_id=run.migration_id,
            status=progress.status,
            live=live,
            total=c.total if c else 0,
            removed=c.created if c else 0,
            already_gone=c.skipped if c else 0,
            kept=c.failed if c else 0,
            pause_requested=progress.pause_requested,
            cancel_requested=progress.cancel_requested,
            counts=plan.get("counts") or {},
            blocked=[Blocker.model_validate(b) for b in plan.get("blocked") or []],
            forced=[Blocker.model_validate(b) for b in plan.get("forced") or []],
            error=run.error,
        )
