"""Validations: start a read-only check of a migration's Jira issues against ADO, follow it, control it, read
its differences. Every door (HTTP, web, CLI, the automatic check after a run) goes through this service."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from migrayt.contracts.runs import RunControl, RunStatus
from migrayt.contracts.validation import (
    CHECKS,
    FINAL_VALIDATION_STATUSES,
    VALIDATION_PHASE,
    DifferenceKind,
    ValidationInput,
    ValidationProgress,
    ValidationStatus,
)
from migrayt.core.errors import NotFound, RunConflict
from migrayt.core.ownership import owned
from migrayt.settings import Settings
from migrayt.store.models import AuditEvent, Migration, Run, Validation, ValidationDifference
from migrayt.temporal.search_attributes import search_attributes
from migrayt.workflows.validation import ValidationWorkflow

ACTIVE_RUN = (RunStatus.RUNNING.value, RunStatus.PAUSED.value)
ACTIVE_VALIDATION = (ValidationStatus.RUNNING.value, ValidationStatus.PAUSED.value)
PAGE_SIZE_MAX = 500


class BadTolerance(ValueError):
    """A tolerance for a check that does not exist, or not a whole number ≥ 0 (a 422 at the doors)."""


@dataclass
class DifferencePage:
    total: int
    page: int
    page_size: int
    differences: list[ValidationDifference]


def check_tolerances(tolerances: dict[str, int]) -> dict[str, int]:
    for check, n in tolerances.items():
        if check not in CHECKS:
            raise BadTolerance(f"unknown check {check!r}: one of {', '.join(CHECKS)}")
        if not isinstance(n, int) or n < 0:
            raise BadTolerance(f"tolerance of {check} must be a whole number ≥ 0")
    return dict(tolerances)


class ValidationService:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], temporal: Client) -> None:
        self.settings = settings
        self.sessions = sessions
        self.temporal = temporal

    async def start(
        self,
        tenant: str,
        migration_id: str,
        actor: str,
        door: str,
        *,
        deep: bool = False,
        tolerances: dict[str, int] | None = None,
        history_event_limit: int | None = None,
        validation_id: str | None = None,
    ) -> str:
        """A new validation of the migration (409 while one of its runs or validations is under way)."""
        tolerances = check_tolerances(tolerances or {})
        validation_id = validation_id or f"val-{uuid.uuid4().hex[:12]}"
        async with self.sessions() as session:
            await owned(session, Migration, migration_id, tenant, "migration")
            running = await session.scalar(
                select(Run.id).where(Run.migration_id == migration_id, Run.status.in_(ACTIVE_RUN)).limit(1)
            )
            if running:
                raise RunConflict(f"run {running} of migration {migration_id} is under way: validate once it ends")
            validating = await session.scalar(
                select(Validation.id)
                .where(Validation.migration_id == migration_id, Validation.status.in_(ACTIVE_VALIDATION))
                .limit(1)
            )
            if validating:
                raise RunConflict(f"validation {validating} of migration {migration_id} is under way")
            session.add(
                Validation(
                    id=validation_id,
                    migration_id=migration_id,
                    tenant_id=tenant,
                    status=ValidationStatus.RUNNING.value,
                    deep=deep,
                    tolerances=tolerances,
                    counts={},
                    scope={},
                    requested_by=actor,
                )
            )
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    migration_id=migration_id,
                    run_id=validation_id,
                    action="validation_requested",
                    actor=actor,
                    door=door,
                    detail={"deep": deep, "tolerances": tolerances},
                )
            )
            await session.commit()
        await self._start_workflow(
            ValidationInput(
                validation_id=validation_id,
                migration_id=migration_id,
                tenant=tenant,
                deep=deep,
                tolerances=tolerances,
                requested_by=actor,
                door=door,
                concurrency=self.settings.concurrency,
                history_event_limit=history_event_limit,
            )
        )
        return validation_id

    async def _start_workflow(self, input: ValidationInput) -> None:
        try:
            await self.temporal.start_workflow(
                ValidationWorkflow.run,
                input,
                id=input.validation_id,
                task_queue=self.settings.task_queue,
                search_attributes=search_attributes(input.tenant, RunStatus.RUNNING, VALIDATION_PHASE),
            )
        except WorkflowAlreadyStartedError:
            pass  # a retried start: the validation is already under way

    async def start_after_run(self, tenant: str, migration_id: str, run_id: str) -> str | None:
        """MIGRAYT_VALIDATE_AFTER_RUN: one validation per ended run (`val-<run id>`), however often this is retried."""
        validation_id = f"val-{run_id}"
        async with self.sessions() as session:
            row = await session.get(Validation, validation_id)
        if row is not None:
            if row.status == ValidationStatus.RUNNING.value:  # recorded, then the start was lost: start it again
                await self._start_workflow(
                    ValidationInput(
                        validation_id=validation_id,
                        migration_id=migration_id,
                        tenant=tenant,
                        tolerances=row.tolerances or {},
                        requested_by=row.requested_by,
                        door="system",
                        concurrency=self.settings.concurrency,
                    )
                )
            return validation_id
        try:
            return await self.start(tenant, migration_id, "system", "system", validation_id=validation_id)
        except RunConflict:
            return None  # another run or validation of the migration is under way: it will be checked after that

    async def list(self, tenant: str, migration_id: str) -> list[Validation]:
        async with self.sessions() as session:
            await owned(session, Migration, migration_id, tenant, "migration")
            rows = await session.scalars(
                select(Validation)
                .where(Validation.migration_id == migration_id)
                .order_by(Validation.started_at.desc(), Validation.id)
            )
            return list(rows)

    async def get(self, tenant: str, migration_id: str, validation_id: str) -> Validation:
        async with self.sessions() as session:
            row = await owned(session, Validation, validation_id, tenant, "validation")
        if row.migration_id != migration_id:
            raise NotFound(f"validation {validation_id} not found")
        return row

    async def progress(
        self, tenant: str, migration_id: str, validation_id: str, query_timeout: float = 5.0
    ) -> tuple[Validation, ValidationProgress]:
        """The row and the live progress (the row's last kept state when it ended or no worker answers)."""
        row = await self.get(tenant, migration_id, validation_id)
        kept = ValidationProgress(
            validation_id=row.id,
            status=ValidationStatus(row.status),
            items_total=row.items_total,
            items_checked=row.items_checked,
            counts=row.counts or {},
        )
        if kept.status in FINAL_VALIDATION_STATUSES:
            return row, kept
        handle = self.temporal.get_workflow_handle(validation_id)
        try:
            return row, await asyncio.wait_for(handle.query(ValidationWorkflow.progress), query_timeout)
        except (TimeoutError, RPCError):
            return row, kept

    async def control(
        self, tenant: str, migration_id: str, validation_id: str, action: str, actor: str, door: str
    ) -> None:
        """pause / resume / cancel; RunConflict when the validation is not in a state for it."""
        _, progress = await self.progress(tenant, migration_id, validation_id)
        status = progress.status
        if status in FINAL_VALIDATION_STATUSES:
            raise RunConflict(f"validation {validation_id} is {status.value}: nothing to {action}")
        if action == "pause" and (status != ValidationStatus.RUNNING or progress.pause_requested):
            raise RunConflict(f"validation {validation_id} is {status.value}: only a RUNNING one can be paused")
        if action == "resume" and status != ValidationStatus.PAUSED and not progress.pause_requested:
            raise RunConflict(f"validation {validation_id} is {status.value}: only a PAUSED one can be resumed")
        signal = {
            "pause": ValidationWorkflow.pause,
            "resume": ValidationWorkflow.resume,
            "cancel": ValidationWorkflow.cancel,
        }[action]
        await self.temporal.get_workflow_handle(validation_id).signal(signal, RunControl(actor=actor, door=door))

    async def differences(
        self,
        tenant: str,
        migration_id: str,
        validation_id: str,
        *,
        page: int = 1,
        page_size: int = 100,
        check: str | None = None,
        kind: str | None = None,
    ) -> DifferencePage:
        """One page of the differences, item by item (ADO id order); every one is reachable, none is capped."""
        await self.get(tenant, migration_id, validation_id)
        if check is not None and check not in CHECKS:
            raise BadTolerance(f"unknown check {check!r}: one of {', '.join(CHECKS)}")
        if kind is not None and kind not in {k.value for k in DifferenceKind}:
            raise BadTolerance(f"unknown kind {kind!r}: one of {', '.join(k.value for k in DifferenceKind)}")
        page, page_size = max(1, page), min(max(1, page_size), PAGE_SIZE_MAX)
        where = [ValidationDifference.validation_id == validation_id]
        if check is not None:
            where.append(ValidationDifference.check == check)
        if kind is not None:
            where.append(ValidationDifference.kind == kind)
        async with self.sessions() as session:
            total = await session.scalar(select(func.count()).select_from(ValidationDifference).where(*where)) or 0
            rows = await session.scalars(
                select(ValidationDifference)
                .where(*where)
                .order_by(
                    ValidationDifference.ado_id.asc().nulls_last(),
                    ValidationDifference.check,
                    ValidationDifference.id,
                )
                .offset((page - 1) * page_size)
                .limit(page_size)
            )
            return DifferencePage(total=total, page=page, page_size=page_size, differences=list(rows))
