"""Keeps the run row and the audit trail in step with the workflow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity

from migrayt.contracts.execution import RunEventInput, RunEventResult
from migrayt.contracts.runs import RunStatus
from migrayt.core.acceptances import settle_run
from migrayt.store.models import AuditEvent, Run

# Runs that end with something in Jira worth checking.
VALIDATED_AFTER = ("COMPLETED", "INCOMPLETE")


class RunEventActivities:
    def __init__(
        self, sessions: async_sessionmaker, after_run: Callable[[RunEventInput], Awaitable[None]] | None = None
    ) -> None:
        self._sessions = sessions
        # MIGRAYT_VALIDATE_AFTER_RUN: the worker passes what starts a validation once a run has ended.
        self._after_run = after_run

    @activity.defn(name="record_run_event")
    async def record_run_event(self, event: RunEventInput) -> RunEventResult:
        counters = {k: v.model_dump() for k, v in event.counters.items()}
        async with self._sessions() as session:
            run = insert(Run).values(
                id=event.run_id,
                migration_id=event.migration_id,
                tenant_id=event.tenant,
                original_run_id=event.original_run_id,
                status=event.status,
                phase=event.phase,
                counters=counters,
                error=event.error if event.finished else None,
            )
            updates = dict(status=event.status, phase=event.phase, counters=counters, updated_at=func.now())
            if event.finished:
                updates.update(finished_at=func.now(), error=event.error)
            await session.execute(run.on_conflict_do_update(index_elements=[Run.id], set_=updates))
            settled: str | None = event.status if event.finished else None
            if event.finished and event.status == RunStatus.INCOMPLETE.value:
                # Items failed again that the user had accepted count as accepted: all of them, and the run is
                # closed COMPLETED_WITH_ACCEPTED_EXCEPTIONS (the workflow shows it too: its search attribute).
                row = await session.get(Run, event.run_id, populate_existing=True)
                if row is not None:
                    await settle_run(session, row)
                    settled = row.status
            audit = (
                insert(AuditEvent)
                .values(
                    event_key=event.event_key,
                    tenant_id=event.tenant,
                    migration_id=event.migration_id,
                    run_id=event.run_id,
                    action=event.action,
                    actor=event.actor,
                    door=event.door,
                    detail={
                        "status": event.status,
                        "phase": event.phase,
                        **({"message": event.error} if event.error else {}),
                    },
                )
                .on_conflict_do_nothing(index_elements=[AuditEvent.event_key])
            )
            result = await session.execute(audit)
            await session.commit()
        recorded = bool(result.rowcount)
        if self._after_run is not None and event.finished and event.status in VALIDATED_AFTER:
            # Also on a retry of this event: the hook itself refuses a second validation of the same run.
            await self._after_run(event)
        return RunEventResult(recorded=recorded, status=settled)
