"""What an operator's tools see of a worker: JSON log lines that parse, carry no secret and say whose work they
are (tenant, run, phase); a Prometheus /metrics with the Temporal SDK's metrics and Migrayt's own (calls, 429s and
latency per endpoint, items per phase); and OpenTelemetry traces sent over OTLP/HTTP, in which the run's workflow,
its activities and their Jira calls are one trace with the request that started it.

One worker process and one small run serve all three (it is the slowest part of the test)."""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from migrayt.contracts.runs import RunStatus
from migrayt.core.runs import MigrationService
from migrayt.observability.tracing import new_provider
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.testing import running_sandbox
from migrayt.stack.ports import free_port
from migrayt.temporal.codec import keys_for
from tests.integration.harness import (
    WorkerProcess,
    create_sandbox_migration,
    structure_only_plan,
    wait_final,
)

TENANT = "observed-co"
ITEMS = 20


class OtlpReceiver:
    """A trace collector's OTLP/HTTP endpoint: keeps every span posted to /v1/traces (protobuf)."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.keep(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def keep(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}.get("service.name")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attrs = {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in span.attributes}
                    self.spans.append(
                        {"trace": span.trace_id.hex(), "name": span.name, "attrs": attrs, "service": service}
                    )

    def __enter__(self) -> OtlpReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def traced(stack) -> tuple[MigrationService, InMemorySpanExporter]:
    """The stack's service with a client that traces, as `migrayt api` has with OTLP on: its start of a run is the
    root of the run's trace."""
    exporter = InMemorySpanExporter()
    provider = new_provider("migrayt-api-test")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = stack.client.config()
    config["interceptors"] = [TracingInterceptor(provider.get_tracer("test"))]
    return MigrationService(stack.settings, stack.service.sessions, Client(**config)), exporter


def sample(metrics: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include these."""
    total = 0.0
    for line in metrics.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


async def test_json_logs_metrics_and_traces_of_a_worker_after_a_small_run(stack, tmp_path):
    # The worker is given the stack's codec keys in its environment, as a deployment does, so the test can look
    # for them in what it logs.
    keys = keys_for(stack.settings)
    codec_spec = ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in keys.items())
    port = free_port()
    env = {"MIGRAYT_LOG_FORMAT": "json", "MIGRAYT_METRICS_PORT": str(port), "MIGRAYT_CODEC_KEYS": codec_spec}
    throttling = FaultConfig(share_429=0.05, retry_after_seconds=0.05, seed=5)
    service, started = traced(stack)
    with running_sandbox(items=ITEMS, seed=41, jira_faults=throttling) as sandbox, OtlpReceiver() as collector:
        env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "migrayt-worker-test"}
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        worker = WorkerProcess(stack, tmp_path / "worker.log", env=env)
        worker.start()
        try:
            run_id = await service.start_run(TENANT, migration_id, actor="test", door="api")
            final = await wait_final(stack, TENANT, run_id)
            async with httpx.AsyncClient(timeout=30) as http:
                metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        finally:
            worker.stop()  # SIGTERM: the worker sends the spans it still holds before it exits
        spans = collector.spans
        customer = [sandbox.jira_url, sandbox.ado_url, "sandbox-token", "sandbox-pat"]
    assert final.status == RunStatus.COMPLETED

    lines = (tmp_path / "worker.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r.get("run_id") == run_id for r in records), "a batch's lines name their run"
    batch_lines = [r for r in records if r.get("run_id") == run_id and r.get("phase") == "create_items"]
    assert batch_lines and all(r.get("tenant") == TENANT for r in batch_lines), "and their tenant and phase"
    text = "\n".join(lines)
    secrets = ["sandbox-pat", "sandbox-token", *(base64.b64encode(k).decode() for k in keys.values())]
    secrets += [k.hex() for k in keys.values()]
    assert [s for s in secrets if s in text] == []

    # The Temporal SDK's own metrics.
    assert sample(metrics, "temporal_activity_execution_latency_count", activity_type="create_items") > 0
    assert sample(metrics, "temporal_workflow_task_execution_latency_count") > 0
    # Migrayt's: every answer per endpoint template (no host, no key), the 429s apart, latency, items per phase.
    bulk = {"service": "jira", "endpoint": "POST /rest/api/3/issue/bulk"}
    assert sample(metrics, "migrayt_http_calls_total", status="2xx", **bulk) > 0
    assert sample(metrics, "migrayt_http_throttled_total", service="jira") > 0
    assert sample(metrics, "migrayt_http_latency_count", **bulk) >= sample(metrics, "migrayt_http_calls_total", **bulk)
    assert sample(metrics, "migrayt_http_calls_total", service="ado") > 0
    created = sample(metrics, "migrayt_items_total", phase="create_items", outcome="created")
    assert created == final.counters["create_items"].created == ITEMS
    assert "127.0.0.1" not in "\n".join(m for m in metrics.splitlines() if m.startswith("migrayt_"))
    assert not re.search(r'endpoint="[^"]*PHX-\d', metrics)

    # Traces: the test's start of the run (the API's part) is the root; the worker's workflow, activity and Jira
    # spans are in its trace, the Jira ones scoped by endpoint with the tenant, run and phase, and no customer data.
    [start] = [s for s in started.get_finished_spans() if s.name == "StartWorkflow:MigrationRunWorkflow"]
    trace_id = format(start.context.trace_id, "032x")
    run_spans = [s for s in spans if s["trace"] == trace_id]
    assert {s["service"] for s in run_spans} == {"migrayt-worker-test"}
    names = {s["name"] for s in run_spans}
    assert {"RunWorkflow:MigrationRunWorkflow", "RunActivity:create_items", "POST /rest/api/3/issue/bulk"} <= names
    [create] = [s for s in run_spans if s["name"] == "RunActivity:create_items"][:1]
    assert create["attrs"]["migrayt.tenant"] == TENANT and create["attrs"]["migrayt.run_id"] == run_id
    jira = [s for s in run_spans if s["attrs"].get("migrayt.service") == "jira"]
    bulk = [s for s in jira if s["name"] == "POST /rest/api/3/issue/bulk"]
    assert all(s["attrs"]["migrayt.tenant"] == TENANT and s["attrs"]["migrayt.run_id"] == run_id for s in jira)
    assert {s["attrs"]["migrayt.phase"] for s in bulk} == {"create_items"}
    assert any(s["attrs"]["http.response.status_code"] == 201 for s in bulk)
    assert any(s["attrs"].get("migrayt.throttled") for s in jira), "the 429s are spans of their own"
    values = " ".join(f"{s['name']} {v}" for s in spans for v in s["attrs"].values())
    assert [c for c in customer if c in values] == [] and not re.search(r"PHX-\d", values)
