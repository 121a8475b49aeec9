"""ScanWorkflow: read the source into a Catalog (lint + quote), then draft a mapping plan. Orchestration only."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from migrayt.activities.intake.scan import ScanActivities
    from migrayt.activities.mapping.draft import DraftActivities
    from migrayt.contracts.scan import (
        DraftPlanInput,
        DraftPlanResult,
        ScanFinishedInput,
        ScanInput,
        ScanResult,
        ScanSourceInput,
        ScanSourceResult,
    )

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=["BadConfiguration", "BadMapping", "OutboundRefused", "RedirectRefused"],
)
BOOKKEEPING_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))


@workflow.defn
class ScanWorkflow:
    @workflow.run
    async def run(self, input: ScanInput) -> ScanResult:
        try:
            scanned: ScanSourceResult = await workflow.execute_activity_method(
                ScanActivities.scan_source,
                ScanSourceInput(
                    scan_id=input.scan_id,
                    migration_id=input.migration_id,
                    tenant=input.tenant,
                    limit_overrides=input.limit_overrides,
                ),
                start_to_close_timeout=timedelta(hours=6),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )
            result = ScanResult(
                scan_id=input.scan_id,
                status="COMPLETED",
                items_total=scanned.items_total,
                breaches=scanned.breaches,
                quote_total=scanned.quote_total,
            )
            if input.draft_plan:
                drafted: DraftPlanResult = await workflow.execute_activity_method(
                    DraftActivities.draft_plan,
                    DraftPlanInput(
                        migration_id=input.migration_id,
                        tenant=input.tenant,
                        scan_id=input.scan_id,
                        actor=input.actor,
                        door=input.door,
                    ),
                    start_to_close_timeout=timedelta(minutes=10),
                    retry_policy=RETRY,
                )
                result.plan_version, result.ai_used = drafted.version, drafted.ai_used
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            await self._finished(input, "FAILED", message)
            return ScanResult(scan_id=input.scan_id, status="FAILED", error=message)
        await self._finished(input, "COMPLETED", None)
        return result

    async def _finished(self, input: ScanInput, status: str, error: str | None) -> None:
        await workflow.execute_activity_method(
            ScanActivities.scan_finished,
            ScanFinishedInput(
                scan_id=input.scan_id,
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
