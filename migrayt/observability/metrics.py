"""One Prometheus `/metrics` endpoint per process (MIGRAYT_METRICS_PORT): the Temporal SDK's metrics (workflow and
activity task latencies, poll counts, schedule-to-start, sticky cache…) and Migrayt's own, which go through the
same Temporal runtime's meter so that one scrape target has both:

- `migrayt_http_calls{service,endpoint,status}`: every answer from Jira, Azure DevOps or Xray, by endpoint
  *template* (`GET /rest/api/3/issue/{id}`: ids and keys replaced, as Jira's per-endpoint rate limits scope them)
  and status class (`2xx`, `429`, `4xx`, `5xx`); `migrayt_http_throttled{service,endpoint}` counts the 429s alone;
- `migrayt_http_latency{service,endpoint}`: a histogram of the time to an answer's headers, in seconds;
- `migrayt_items{phase,outcome}`: items each phase's batches created, skipped, adopted or failed.

Labels never carry a site's host, a project key, an issue key or any other customer data: the scraper may be
shared, and the per-tenant view is Migrayt's own reports. Without a port the meter is Temporal's no-op meter, so
recording costs next to nothing.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import httpx
from temporalio.common import MetricMeter
from temporalio.runtime import LogForwardingConfig, LoggingConfig, PrometheusConfig, Runtime, TelemetryConfig

from migrayt.connectors.limits import endpoint_template as path_template
from migrayt.settings import Settings

_runtime: Runtime | None = None

# ADO's `_apis` paths start with the organization and often the project: left out of the template.
_ADO_APIS = re.compile(r"^.*?(/_apis/.*)$")


def install_runtime(settings: Settings) -> Runtime:
    """The process's Temporal runtime, made the default before any client connects: with MIGRAYT_METRICS_PORT
    it serves /metrics there; either way the Temporal core's own log lines join the process's logging (so a JSON
    log stays all JSON). Call once, before `connect_temporal`."""
    global _runtime
    if _runtime is not None:
        return _runtime
    metrics = None
    if settings.metrics_port is not None:
        metrics = PrometheusConfig(
            bind_address=f"{settings.metrics_host}:{settings.metrics_port}",
            counters_total_suffix=True,
            durations_as_seconds=True,
        )
    logging_config = LoggingConfig(
        filter=LoggingConfig.default.filter, forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    )
    _runtime = Runtime(telemetry=TelemetryConfig(logging=logging_config, metrics=metrics))
    Runtime.set_default(_runtime, error_if_already_set=False)
    return _runtime


def meter() -> MetricMeter:
    return _runtime.metric_meter if _runtime is not None else MetricMeter.noop


class _Instruments:
    def __init__(self, m: MetricMeter) -> None:
        self.meter = m
        self.calls = m.create_counter("migrayt_http_calls", "Answers from Jira, Azure DevOps and Xray")
        self.throttled = m.create_counter("migrayt_http_throttled", "429 answers (the service asked us to slow)")
        self.latency = m.create_histogram_float("migrayt_http_latency", "Time to an answer's headers", "s")
        self.items = m.create_counter("migrayt_items", "Items a phase's batches handled, by outcome")


_instruments: _Instruments | None = None


def _get() -> _Instruments:
    global _instruments
    current = meter()
    if _instruments is None or _instruments.meter is not current:
        _instruments = _Instruments(current)
    return _instruments


def service_of(path: str) -> str:
    if "/_apis/" in path:
        return "ado"
    if path.startswith("/rest/") or path.startswith("/ex/jira/"):
        return "jira"
    if path.startswith("/api/v"):
        return "xray"
    return "other"


def endpoint_template(method: str, path: str) -> str:
    """`GET /rest/api/3/issue/PHX-12/comment` → `GET /rest/api/3/issue/{id}/comment`; ADO paths from `/_apis` on
    (the organization and project before it are customer names)."""
    match = _ADO_APIS.match(path)
    if match:
        path = match.group(1)
    return f"{method.upper()} {path_template(path)}"


def status_class(status: int) -> str:
    return "429" if status == 429 else f"{status // 100}xx"


def record_http_call(method: str, path: str, status: int, seconds: float) -> None:
    instruments = _get()
    attrs = {"service": service_of(path), "endpoint": endpoint_template(method, path)}
    instruments.calls.add(1, {**attrs, "status": status_class(status)})
    if status == 429:
        instruments.throttled.add(1, attrs)
    instruments.latency.record(seconds, attrs)


_STARTED = "migrayt_started"


async def _on_request(request: httpx.Request) -> None:
    request.extensions[_STARTED] = time.perf_counter()


async def _on_response(response: httpx.Response) -> None:
    request = response.request
    started = request.extensions.get(_STARTED)
    seconds = time.perf_counter() - started if started is not None else 0.0
    record_http_call(request.method, request.url.path, response.status_code, seconds)


def http_event_hooks() -> dict[str, list[Any]]:
    """httpx event hooks that count every answer (retries included: each is a call the service counted)."""
    return {"request": [_on_request], "response": [_on_response]}


def record_items(phase: str, result: Any) -> None:
    """A batch's counters (BatchResult.counters), added to `migrayt_items` by outcome."""
    counters = getattr(result, "counters", None)
    if counters is None:
        return
    items = _get().items
    for outcome in ("created", "skipped", "adopted", "failed"):
        n = getattr(counters, outcome, 0)
        if n:
            items.add(n, {"phase": phase, "outcome": outcome})
