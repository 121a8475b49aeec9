"""OpenTelemetry traces, off unless an OTLP endpoint is configured the standard way.

`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full URL, `…/v1/traces`) or `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's
base URL) turns them on for `migrayt worker` and `migrayt api`; the exporter speaks OTLP over HTTP/protobuf and
reads the other standard variables itself (`OTEL_EXPORTER_OTLP_HEADERS`, `…_CERTIFICATE`, `…_TIMEOUT`), as the
SDK reads `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and `OTEL_BSP_*`.
`OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` keep them off.

What a trace holds: the API's requests (FastAPI's own spans), Temporal's (TracingInterceptor on the client and so on
the worker: a run's workflow and activity spans are in the trace of the request that started it), and one span
per call to Jira, Azure DevOps or Xray (`http_call`). Attributes name endpoints by template, statuses, the tenant's
opaque id, the run and the phase: never a customer's host, a URL's query string, a key, a name or a token
(`RedactingSampler` drops URL attributes libraries add; the collector may be shared, like the metrics scraper).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Sampler, SamplingResult, _get_from_env_or_default
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from migrayt.observability.metrics import endpoint_template, service_of

log = logging.getLogger(__name__)

_provider: TracerProvider | None = None
_http_tracer: trace.Tracer | None = None

# Attribute keys a library may fill with a whole URL or its query string (a customer's host, a search, a token).
_URL_KEYS = frozenset({"url.full", "url.query", "http.url", "http.target", "http.host", "net.peer.name"})

TENANT = "migrayt.tenant"
RUN_ID = "migrayt.run_id"
PHASE = "migrayt.phase"


def tracing_configured(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """True where the standard OpenTelemetry variables name an OTLP endpoint and do not turn traces off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


class RedactingSampler(Sampler):
    """The configured sampler, with URL attributes dropped from every span at its start.

    A sampler is the SDK's one place that may change the attributes a span starts with (FastAPI puts the request's
    query string there: a user search would name people)."""

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        result = self.inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        kept = {k: v for k, v in (result.attributes or {}).items() if k not in _URL_KEYS}
        return SamplingResult(result.decision, kept, result.trace_state)

    def get_description(self) -> str:
        return f"Redacting{{{self.inner.get_description()}}}"


def new_provider(service_name: str) -> TracerProvider:
    """A provider with the environment's sampler behind the redaction; its service name from OTEL_SERVICE_NAME or
    `service_name`."""
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service_name})
    return TracerProvider(resource=resource, sampler=RedactingSampler(_get_from_env_or_default()))


def install_tracing(service_name: str) -> TracerProvider | None:
    """The process's tracer provider, exporting over OTLP/HTTP, when the environment asks for traces; else None
    and every span below is the API's no-op. Call once, before `connect_temporal` (its interceptor)."""
    global _provider
    if _provider is not None or not tracing_configured():
        return _provider
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = new_provider(service_name)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)  # FastAPI's request spans go to the global provider
    use_provider(provider)
    log.info("OpenTelemetry traces on (service %s)", provider.resource.attributes.get(SERVICE_NAME))
    return provider


def use_provider(provider: TracerProvider | None) -> None:
    """Migrayt's spans go to `provider` (None: nowhere); install_tracing's, or a test's in-memory one."""
    global _provider, _http_tracer
    _provider = provider
    _http_tracer = provider.get_tracer("migrayt.connectors") if provider is not None else None


def flush_traces() -> None:
    """Sends the spans still queued (the SDK's exit hook would too, but not after os._exit)."""
    if _provider is not None:
        _provider.force_flush()


def temporal_interceptors() -> list[Any]:
    """Temporal's TracingInterceptor where this process traces (the worker takes it from the client)."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer("temporalio"))]


def run_attributes() -> dict[str, str]:
    """The tenant, run and phase the running code is about (migrayt/ops/logs.py's context), as span attributes."""
    from migrayt.ops.logs import current_phase, current_run_id, current_tenant

    values = {TENANT: current_tenant.get(), RUN_ID: current_run_id.get(), PHASE: current_phase.get()}
    return {k: v for k, v in values.items() if v is not None}


class HttpCallSpan:
    """What `http_call` lets the caller add once the answer is in."""

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def answered(self, response: httpx.Response, retry_after_seconds: float | None = None) -> None:
        if not self.span.is_recording():
            return
        status = response.status_code
        self.span.set_attribute("http.response.status_code", status)
        if status == 429:
            self.span.set_attribute("migrayt.throttled", True)
            if retry_after_seconds is not None:
                self.span.set_attribute("migrayt.retry_after_seconds", retry_after_seconds)
            reason = response.headers.get("RateLimit-Reason")
            if reason:
                self.span.set_attribute("migrayt.rate_limit_reason", reason[:100])
        if status >= 400:
            self.span.set_status(Status(StatusCode.ERROR))
            self.span.set_attribute("error.type", str(status))


@contextmanager
def http_call(method: str, path: str) -> Iterator[HttpCallSpan]:
    """One attempt of a call to Jira, ADO or Xray, to its answer's headers: named and scoped by endpoint template
    (`GET /rest/api/3/issue/{id}`), never by URL; a transport failure is recorded by its type only (its message
    may name the host)."""
    tracer = _http_tracer
    if tracer is None:
        yield HttpCallSpan(trace.INVALID_SPAN)
        return
    scope = endpoint_template(method, path)
    attributes: dict[str, Any] = {
        "http.request.method": method.upper(),
        "http.route": scope.split(" ", 1)[1],
        "migrayt.service": service_of(path),
        "migrayt.endpoint": scope,
        **run_attributes(),
    }
    with tracer.start_as_current_span(
        scope, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield HttpCallSpan(span)
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR))
            raise
