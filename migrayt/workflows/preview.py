"""PreviewWorkflow: a dry run of a migration's current plan; writes nothing to Jira. Orchestration only."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from migrayt.activities.preview.dry_run import PreviewActivities
    from migrayt.contracts.preview import (
        PreviewFinishedInput,
        PreviewInput,
        PreviewResult,
        PreviewWorkflowInput,
        PreviewWorkflowResult,
    )

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=["BadConfiguration", "BadMapping", "OutboundRefused", "RedirectRefused"],
)
BOOKKEEPING_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))


@workflow.defn
class PreviewWorkflow:
    @workflow.run
    async def run(self, input: PreviewWorkflowInput) -> PreviewWorkflowResult:
        try:
            result: PreviewResult = await workflow.execute_activity_method(
                PreviewActivities.preview_migration,
                PreviewInput(
                    preview_id=input.preview_id,
                    migration_id=input.migration_id,
                    tenant=input.tenant,
                    samples=input.samples,
                ),
                start_to_close_timeout=timedelta(hours=6),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            await self._finished(input, "FAILED", message)
            return PreviewWorkflowResult(preview_id=input.preview_id, status="FAILED", error=message)
        await self._finished(input, "COMPLETED", None)
        return PreviewWorkflowResult(
            preview_id=input.preview_id,
            status="COMPLETED",
            items_total=result.items_total,
            failures=result.failures,
            would_start=result.would_start,
        )

    async def _finished(self, input: PreviewWorkflowInput, status: str, error: str | None) -> None:
        await workflow.execute_activity_method(
            PreviewActivities.preview_finished,
            PreviewFinishedInput(
                preview_id=input.preview_id,
                migration_id=input.migration_id,
                tenant=input.tenant,
                actor=input.actor,
                door=input.door,
                status=status,
                error=error,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=BOOKKEEPING_RETRY,
        )
