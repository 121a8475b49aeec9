"""What a trace says about a call to Jira or ADO and about an API request: the endpoint by template, the status, the
429 and its Retry-After, whose work it was (tenant, run, phase); never the customer's host, a key, a query string
or a token. And what an activity's log lines say about whose work they are."""

from __future__ import annotations

import io
import json
import logging
import random

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

from migrayt.connectors.http import HttpSettings, ResilientHttp, SecretBasicAuth, TransportFailure
from migrayt.contracts.execution import CreateItemsInput, PhaseBatchInput
from migrayt.contracts.scan import ScanInput
from migrayt.observability import tracing
from migrayt.ops.logs import RunContext, TextFormatter, current_phase, current_run_id, current_tenant, json_formatter
from migrayt.worker.activity_context import context_of

HOST = "acme-secret-co.atlassian.net"
TOKEN = "jira-T0KEN-never-in-a-span"
TENANT = "tenant-7f3a"
RUN = "run-5e1d9c0a7b2f"


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = tracing.new_provider("migrayt-test")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_provider(None)


@pytest.fixture
def whose_work():
    tokens = [(v, v.set(x)) for v, x in ((current_tenant, TENANT), (current_run_id, RUN), (current_phase, "comments"))]
    yield
    for var, token in reversed(tokens):
        var.reset(token)


class NoSleep:
    async def __call__(self, seconds: float) -> None:
        pass


def jira_client(handler) -> ResilientHttp:
    settings = HttpSettings(base_url=f"https://{HOST}", max_attempts=3, backoff_base_seconds=0.01)
    return ResilientHttp(
        settings,
        auth=SecretBasicAuth("someone@acme-secret-co.com", SecretStr(TOKEN)),
        transport=httpx.MockTransport(handler),
        sleep=NoSleep(),
        rng=random.Random(1),
    )


def every_value(span) -> str:
    return " ".join([span.name, *(f"{k}={v}" for k, v in span.attributes.items())])


async def test_a_throttled_jira_call_has_its_scope_status_retry_after_and_whose_it_was_and_no_customer_data(
    spans, whose_work
):
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "2", "RateLimit-Reason": "jira-quota-tenant-based"}),
            httpx.Response(200, json={"comments": []}),
        ]
    )
    async with jira_client(lambda request: next(answers)) as http:
        await http.request(
            "GET", "/rest/api/3/issue/PHX-12/comment", idempotent=True, params={"jql": "project = PHX", "x": "1"}
        )

    throttled, answered = spans.get_finished_spans()
    for span in (throttled, answered):
        assert span.name == "GET /rest/api/3/issue/{id}/comment"
        attrs = span.attributes
        assert attrs["migrayt.endpoint"] == "GET /rest/api/3/issue/{id}/comment"
        assert attrs["http.route"] == "/rest/api/3/issue/{id}/comment"
        assert attrs["http.request.method"] == "GET" and attrs["migrayt.service"] == "jira"
        assert (attrs["migrayt.tenant"], attrs["migrayt.run_id"], attrs["migrayt.phase"]) == (TENANT, RUN, "comments")
        text = every_value(span)
        for customer_data in (HOST, "acme", "PHX", "jql", "project", TOKEN, "someone", "?"):
            assert customer_data not in text
    assert throttled.attributes["http.response.status_code"] == 429
    assert throttled.attributes["migrayt.throttled"] is True
    assert throttled.attributes["migrayt.retry_after_seconds"] == 2.0
    assert throttled.attributes["migrayt.rate_limit_reason"] == "jira-quota-tenant-based"
    assert answered.attributes["http.response.status_code"] == 200
    assert "migrayt.throttled" not in answered.attributes


async def test_a_call_that_fails_to_connect_is_recorded_by_its_type_not_its_message(spans):
    def refuse(request):
        raise httpx.ConnectError(f"cannot reach {HOST}")

    async with jira_client(refuse) as http:
        with pytest.raises(TransportFailure):
            await http.request("GET", "/rest/api/3/myself", idempotent=True)
    attempts = spans.get_finished_spans()
    assert len(attempts) == 3
    assert {s.attributes["error.type"] for s in attempts} == {"ConnectError"}
    assert all(HOST not in every_value(s) and not s.events for s in attempts)


async def test_without_an_endpoint_no_span_is_made():
    tracing.use_provider(None)
    async with jira_client(lambda request: httpx.Response(200, json={})) as http:
        await http.request("GET", "/rest/api/3/myself", idempotent=True)  # nothing to assert but that it works


def test_an_api_request_span_keeps_its_route_and_drops_the_query_string():
    exporter = InMemorySpanExporter()
    provider = tracing.new_provider("migrayt-test")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI(telemetry={"tracer_provider": provider, "operation_spans": False})

    @app.get("/api/users/search")
    def search(query: str) -> dict:
        return {}

    with TestClient(app) as client:
        assert client.get("/api/users/search", params={"query": "Alice Customer"}).status_code == 200
    [span] = [s for s in exporter.get_finished_spans() if s.attributes.get("http.route")]
    assert span.attributes["http.route"] == "/api/users/search"
    assert "Alice" not in every_value(span) and "url.query" not in span.attributes


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_traces_are_on_only_with_an_otlp_endpoint(env, on):
    assert tracing.tracing_configured(env) is on


async def test_an_activity_knows_its_tenant_run_and_phase_from_its_input():
    asked: list[str] = []

    async def tenant_of(migration_id: str) -> str | None:
        asked.append(migration_id)
        return TENANT

    batch = PhaseBatchInput(run_id=RUN, migration_id="mig-1", tier=0, start=0, end=50, phase="links")
    assert await context_of("run_phase_batch", RUN, [batch], tenant_of) == {
        "tenant": TENANT,
        "run_id": RUN,
        "phase": "links",
    }
    create = CreateItemsInput(run_id=RUN, migration_id="mig-1", tier=0, start=0, end=50)
    assert (await context_of("create_items", RUN, [create], tenant_of))["phase"] == "create_items"
    scan = ScanInput(scan_id="scan-1", migration_id="mig-2", tenant="tenant-other")
    assert await context_of("scan_source", "scan-1", [scan], tenant_of) == {
        "tenant": "tenant-other",
        "run_id": "scan-1",
        "phase": None,
    }
    assert asked == ["mig-1", "mig-1"]  # a scan names its tenant itself


def log_line(formatter: logging.Formatter) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(RunContext())
    logger = logging.getLogger("migrayt.test-context")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("batch %d done", 3)
    finally:
        logger.removeHandler(handler)
    return out.getvalue().strip()


def test_a_log_line_of_an_activity_names_its_tenant_run_and_phase(whose_work):
    record = json.loads(log_line(json_formatter()))
    assert (record["tenant"], record["run_id"], record["phase"]) == (TENANT, RUN, "comments")
    assert log_line(TextFormatter()).endswith(f"INFO [tenant={TENANT} run={RUN} phase=comments] batch 3 done")


def test_a_log_line_outside_an_activity_has_no_bracket():
    assert log_line(TextFormatter()).endswith("INFO batch 3 done")
