"""A run's progress while no worker polls its task queue (all stopped, or the only one restarting).

Found in CI: right after a killed worker was started again, the first progress query failed with Temporal's
"no poller seen for task queue recently, worker may be down" — a user's `runs show`, run page or `--watch`
would fail the same way whenever the workers are down, although the run is safe and goes on later."""

from __future__ import annotations

import uuid

from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from migrayt.contracts.runs import MigrationRunInput, RunProgress, RunStatus
from migrayt.core.runs import MigrationService
from migrayt.sandbox.testing import running_sandbox
from tests.integration.harness import create_sandbox_migration

TENANT = "no-worker-co"


async def test_progress_says_no_worker_answers_instead_of_failing(stack):
    # A task queue nobody polls: the situation of a fleet whose workers are all down.
    settings = stack.settings.model_copy(update={"task_queue": f"nobody-polls-{uuid.uuid4().hex[:8]}"})
    service = MigrationService(settings, stack.service.sessions, stack.client)
    with running_sandbox(items=5, seed=3) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
        run_id = await service.start_run(TENANT, migration_id, actor="test", door="api")
        try:
            progress = await service.progress(TENANT, run_id)
            assert not progress.worker_answered
            assert progress.status == RunStatus.RUNNING
            assert progress.run_id == run_id
        finally:
            await stack.client.get_workflow_handle(run_id).terminate(reason="the test checked what it needed")


@workflow.defn(name="MigrationRunWorkflow")
class OverloadedRun:
    """Stands in for a run whose worker fails to answer queries: on a CPU-starved worker, Temporal's deadlock
    detector fails a workflow activation that does not yield within 2 s, and a query in that moment fails with
    `_DeadlockError` (seen in CI at load 13). The run itself goes on: its task is retried."""

    @workflow.run
    async def run(self, _input: MigrationRunInput) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def progress(self) -> RunProgress:
        raise RuntimeError("[TMPRL1101] Potential deadlock detected: workflow didn't yield within 2 second(s).")


async def test_progress_says_the_worker_did_not_answer_when_its_query_fails(stack):
    settings = stack.settings.model_copy(update={"task_queue": f"overloaded-{uuid.uuid4().hex[:8]}"})
    service = MigrationService(settings, stack.service.sessions, stack.client)
    with running_sandbox(items=5, seed=3) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
        async with Worker(
            stack.client,
            task_queue=settings.task_queue,
            workflows=[OverloadedRun],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            run_id = await service.start_run(TENANT, migration_id, actor="test", door="api")
            try:
                progress = await service.progress(TENANT, run_id)
                assert not progress.worker_answered
                assert progress.status == RunStatus.RUNNING
                assert progress.run_id == run_id
            finally:
                await stack.client.get_workflow_handle(run_id).terminate(reason="the test checked what it needed")
