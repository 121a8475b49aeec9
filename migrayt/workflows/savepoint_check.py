"""SavepointCheckWorkflow: look up a savepoint's sample of issues in the migration's Jira. Orchestration only.

A workflow (not a call from the API) because the Jira secret is resolved only in the worker."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from migrayt.activities.execution.savepoints import SavepointActivities
    from migrayt.contracts.savepoints import SavepointSampleInput, SavepointSampleResult

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
    non_retryable_error_types=["BadConfiguration", "SecretRefused", "OutboundRefused", "RedirectRefused"],
)


@workflow.defn
class SavepointCheckWorkflow:
    @workflow.run
    async def run(self, input: SavepointSampleInput) -> SavepointSampleResult:
        return await workflow.execute_activity_method(
            SavepointActivities.check_savepoint_sample,
            input,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RETRY,
        )
