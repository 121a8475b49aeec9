"""ValidationWorkflow: a read-only check of a migration's Jira issues against its ADO source. Orchestration only.

Batches of at most 100 source items, `concurrency` at a time, each stored (differences and counts) by its
activity; the workflow keeps only the cursor and the running counts. The run's controls, from the same mixin as
the run engine (migrayt/workflows/controls.py): pause, resume and cancel signals (Temporal's own cancellation
too), audit events, search attributes, continue-as-new; and a progress query. Read-only, so "exactly once"
means a batch's results are stored once, whatever retries it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from migrayt.activities.validation.check import ValidationActivities
    from migrayt.contracts.validation import (
        VALIDATION_PHASE,
        ValidationBatchInput,
        ValidationBatchResult,
        ValidationCheckpoint,
        ValidationEventInput,
        ValidationFinishInput,
        ValidationFinishResult,
        ValidationInput,
        ValidationPrepareInput,
        ValidationPrepareResult,
        ValidationProgress,
        ValidationResult,
        ValidationStatus,
        add_counts,
    )
    from migrayt.temporal.search_attributes import PHASE, STATUS
    from migrayt.workflows.controls import RunControls
    from migrayt.workflows.engine import BATCH_RETRY, BOOKKEEPING_RETRY, HEARTBEAT


@workflow.defn
class ValidationWorkflow(RunControls):
    paused_status = ValidationStatus.PAUSED
    running_status = ValidationStatus.RUNNING

    def __init__(self) -> None:
        super().__init__()
        self._input: ValidationInput | None = None
        self._cp = ValidationCheckpoint()
        self._status = ValidationStatus.RUNNING

    @workflow.query
    def progress(self) -> ValidationProgress:
        return ValidationProgress(
            validation_id=self._input.validation_id if self._input else workflow.info().workflow_id,
            status=self._status,
            items_total=self._cp.items_total,
            items_checked=self._cp.items_checked,
            counts=self._cp.counts,
            pause_requested=self._pause_requested,
            cancel_requested=self._cancel_requested,
            continued=self._cp.continued,
        )

    @workflow.run
    async def run(self, input: ValidationInput) -> ValidationResult:
        fresh = input.checkpoint is None
        self._input = input
        self._cp = input.checkpoint or ValidationCheckpoint()
        self._pause_requested = self._cp.paused
        try:
            if fresh:
                await self._record("validation_started", actor=input.requested_by, door=input.door)
            if not self._cp.prepared:
                prepared: ValidationPrepareResult = await workflow.execute_activity_method(
                    ValidationActivities.validation_prepare,
                    ValidationPrepareInput(validation_id=input.validation_id, migration_id=input.migration_id),
                    start_to_close_timeout=timedelta(hours=2),
                    heartbeat_timeout=HEARTBEAT,
                    retry_policy=BATCH_RETRY,
                )
                self._cp.items_total, self._cp.prepared = prepared.items_total, True
                add_counts(self._cp.counts, prepared.counts)
            await self._batches()
            if self._cancel_requested:
                return await self._finish(ValidationStatus.CANCELLED)
            verdict: ValidationFinishResult = await workflow.execute_activity_method(
                ValidationActivities.validation_finish,
                ValidationFinishInput(validation_id=input.validation_id, tolerances=input.tolerances),
                start_to_close_timeout=timedelta(minutes=5),
                # A dead worker's verdict is retried in seconds, not after the 5 minutes a large one may take.
                heartbeat_timeout=HEARTBEAT,
                retry_policy=BOOKKEEPING_RETRY,
            )
            self._cp.counts, self._cp.items_checked = verdict.counts, verdict.items_checked
            return await self._finish(verdict.status)
        except asyncio.CancelledError:
            self._cancel_requested = True
            await asyncio.shield(
                asyncio.ensure_future(
                    self._finish(ValidationStatus.CANCELLED, actor="temporal-operator", door="temporal")
                )
            )
            raise
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            await self._finish(ValidationStatus.ERROR, error=message)
            raise ApplicationError(f"validation failed: {message}", non_retryable=True) from err

    async def _batches(self) -> None:
        """A sliding window of batches; pause and cancel stop new ones (a batch under way finishes and is stored)."""
        assert self._input is not None
        size, step = self._cp.items_total, self._input.batch_size
        in_flight: dict[int, asyncio.Task[ValidationBatchResult]] = {}
        while True:
            await self._apply_controls()
            while (
                not (self._pause_requested or self._cancel_requested or self._should_continue_as_new())
                and len(in_flight) < self._input.concurrency
                and (self._cp.redo or self._cp.next_start < size)
            ):
                if self._cp.redo:
                    start = self._cp.redo.pop(0)
                else:
                    start, self._cp.next_start = self._cp.next_start, min(self._cp.next_start + step, size)
                in_flight[start] = asyncio.ensure_future(self._batch(start, min(start + step, size)))
            if not in_flight:
                if not self._cp.redo and self._cp.next_start >= size:
                    return
                if self._cancel_requested:
                    return
                if self._should_continue_as_new():
                    self._cp.continued += 1
                    self._cp.paused = self._pause_requested
                    workflow.continue_as_new(self._input.model_copy(update={"checkpoint": self._cp}))
                await self._wait_while_paused()
                continue
            # Wake for a finished batch, or for a control to record at once (the audit shows when it was asked).
            await workflow.wait_condition(
                lambda: any(t.done() for t in in_flight.values()) or bool(self._controls)  # noqa: B023
            )
            for start, task in list(in_flight.items()):
                if task.done():
                    del in_flight[start]
                    result: ValidationBatchResult = task.result()
                    self._cp.items_checked += result.items
                    add_counts(self._cp.counts, result.counts)

    async def _batch(self, start: int, end: int) -> ValidationBatchResult:
        assert self._input is not None
        return await workflow.execute_activity_method(
            ValidationActivities.validate_batch,
            ValidationBatchInput(
                validation_id=self._input.validation_id,
                migration_id=self._input.migration_id,
                start=start,
                end=end,
                deep=self._input.deep,
            ),
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=BATCH_RETRY,
        )

    def _history_event_limit(self) -> int | None:
        assert self._input is not None
        return self._input.history_event_limit

    def _upsert_search_attributes(self) -> None:
        workflow.upsert_search_attributes([STATUS.value_set(self._status.value), PHASE.value_set(VALIDATION_PHASE)])

    async def _finish(
        self, status: ValidationStatus, error: str | None = None, actor: str = "system", door: str = "system"
    ) -> ValidationResult:
        assert self._input is not None
        await self._apply_controls()
        # The query shows the final status only once its row is written: whoever sees PASSED can read the row.
        await self._record("validation_finished", actor=actor, door=door, error=error, status=status)
        self._status = status
        self._upsert_search_attributes()
        return ValidationResult(
            validation_id=self._input.validation_id,
            status=status,
            items_checked=self._cp.items_checked,
            counts=self._cp.counts,
            error=error,
        )

    async def _record(
        self,
        action: str,
        actor: str = "system",
        door: str = "system",
        reason: str | None = None,
        error: str | None = None,
        status: ValidationStatus | None = None,
    ) -> None:
        assert self._input is not None
        self._cp.event_seq += 1
        await workflow.execute_activity_method(
            ValidationActivities.record_validation_event,
            ValidationEventInput(
                validation_id=self._input.validation_id,
                migration_id=self._input.migration_id,
                tenant=self._input.tenant,
                event_key=f"{self._input.validation_id}:{self._cp.event_seq}",
                action=action,
                actor=actor,
                door=door,
                status=status or self._status,
                items_checked=self._cp.items_checked,
                error=error or reason,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=BOOKKEEPING_RETRY,
        )
