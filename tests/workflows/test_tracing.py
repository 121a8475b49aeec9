"""A run started under a span is one trace: the start, the workflow, each activity, all linked through Temporal's
headers by the TracingInterceptor the worker takes from its client (migrayt/temporal/client.py); each activity's span
says whose work it is (the tenant its migration belongs to, the run, the phase), set by ActivityContext."""

from __future__ import annotations

import uuid

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.worker import Worker

from migrayt.contracts.runs import MigrationRunInput, RunStatus
from migrayt.observability.tracing import new_provider
from migrayt.worker.activity_context import ActivityContext
from migrayt.workflows.migration_run import MigrationRunWorkflow
from tests.workflows.fakes import FakeRunActivities


async def test_a_run_started_under_a_span_is_one_trace_whose_activities_name_their_tenant(workflow_env):
    exporter = InMemorySpanExporter()
    provider = new_provider("migrayt-test")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = workflow_env.client.config()
    config["interceptors"] = [TracingInterceptor(provider.get_tracer("test"))]
    client = Client(**config)

    async def tenant_of(migration_id: str) -> str | None:
        return {"mig-1": "tenant-9c2e"}.get(migration_id)

    fakes = FakeRunActivities(tier_sizes=[2])
    queue = f"trace-test-{uuid.uuid4().hex[:8]}"
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[MigrationRunWorkflow],
        activities=fakes.activities,
        interceptors=[ActivityContext(tenant_of)],
    ):
        result = await client.execute_workflow(
            MigrationRunWorkflow.run,
            MigrationRunInput(run_id=run_id, migration_id="mig-1", tenant="tenant-9c2e", batch_size=2, concurrency=1),
            id=run_id,
            task_queue=queue,
        )
    assert result.status == RunStatus.COMPLETED

    spans = exporter.get_finished_spans()
    [start] = [s for s in spans if s.name == "StartWorkflow:MigrationRunWorkflow"]
    assert {s.context.trace_id for s in spans} == {start.context.trace_id}
    names = {s.name for s in spans}
    assert {"RunWorkflow:MigrationRunWorkflow", "StartActivity:create_items", "RunActivity:create_items"} <= names
    creates = [s for s in spans if s.name == "RunActivity:create_items"]
    phases = [s for s in spans if s.name == "RunActivity:run_phase_batch"]
    assert creates and phases
    for span in creates + phases:
        assert span.attributes["migrayt.tenant"] == "tenant-9c2e" and span.attributes["migrayt.run_id"] == run_id
    assert {s.attributes["migrayt.phase"] for s in creates} == {"create_items"}
    assert len({s.attributes["migrayt.phase"] for s in phases}) > 1, "each later phase's batches say which"
