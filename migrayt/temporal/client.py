"""The one Temporal client of a process: pydantic data converter with the encrypting payload codec."""

from __future__ import annotations

from temporalio.client import Client

from migrayt.observability.tracing import temporal_interceptors
from migrayt.settings import Settings
from migrayt.temporal.codec import data_converter


async def connect_temporal(settings: Settings, address: str | None = None) -> Client:
    """Worker, API, CLI and tests all connect here, so every payload they write is encrypted.

    A Replayer must be given the same converter: `Replayer(..., data_converter=client.data_converter)`
    or `migrayt.temporal.codec.data_converter(settings)`.
    """
    target = address or settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        target,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        tls=settings.temporal_tls or bool(api_key),
        api_key=api_key,
        # Where this process traces (OTEL_EXPORTER_OTLP_*), Temporal's spans join it; the worker takes them from here.
        interceptors=temporal_interceptors(),
    )
