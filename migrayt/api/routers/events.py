"""Live progress as Server-Sent Events: `progress` on every change, then `end` once the run is final.

Each stream polls the run, so streams are bounded: a poll at most once a second, at most
`sse_max_streams_per_tenant` open per tenant (429 beyond), and each lasts at most
`sse_max_lifetime_seconds`, then ends with a `timeout` event; a client that still wants news reconnects.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from migrayt.api.auth import TenantId
from migrayt.api.routers.deps import RunId, Service
from migrayt.contracts.runs import FINAL_STATUSES
from migrayt.core.errors import NotFound
from migrayt.core.runs import MigrationService

router = APIRouter(prefix="/api/migrations", tags=["runs"])

KEEPALIVE_SECONDS = 15.0
# Fields that change every poll without news; a change elsewhere is an event.
VOLATILE = ("elapsed_seconds", "eta_seconds", "items_per_second")


def sse(event: str, data: str, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


async def progress_events(
    svc: MigrationService, tenant: str, run_id: str, interval: float, request: Request, lifetime: float
) -> AsyncIterator[bytes]:
    last: str | None = None
    seq = 0
    quiet_since = opened = time.monotonic()
    yield b"retry: 2000\n\n"
    while True:
        if time.monotonic() - opened >= lifetime:
            yield sse("timeout", json.dumps({"run_id": run_id, "reconnect": True, "after_seconds": lifetime}), seq + 1)
            return
        try:
            report = await svc.run_report(tenant, run_id, failures_limit=20)
        except NotFound:
            yield sse("error", json.dumps({"detail": f"run {run_id} not found"}))
            return
        key = report.model_dump_json(exclude=set(VOLATILE))
        if key != last:
            last, seq = key, seq + 1
            yield sse("progress", report.model_dump_json(), seq)
            quiet_since = time.monotonic()
        if report.status in FINAL_STATUSES:
            yield sse("end", json.dumps({"run_id": run_id, "status": report.status.value}), seq + 1)
            return
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"  # a comment keeps proxies from closing a quiet stream
            quiet_since = time.monotonic()
        if await request.is_disconnected():
            return
        await asyncio.sleep(interval)


class TenantStream(StreamingResponse):
    """A stream holding one of its tenant's slots until it is over, however it ends (a stream never started too)."""

    def __init__(self, content: AsyncIterator[bytes], open_streams: dict[str, int], tenant: str) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self.open_streams, self.tenant = open_streams, tenant
        open_streams[tenant] = open_streams.get(tenant, 0) + 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            left = self.open_streams.get(self.tenant, 1) - 1
            if left > 0:
                self.open_streams[self.tenant] = left
            else:
                self.open_streams.pop(self.tenant, None)


@router.get(
    "/{run_id}/events",
    summary="Live progress of a run (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`progress` events (a run status as JSON) on each change, then one `end` event; "
            "or, after the server's maximum stream lifetime, a `timeout` event (reconnect to go on)",
        },
        429: {"description": "this tenant already has the most live streams the server allows open"},
    },
)
async def run_events(
    run_id: RunId,
    svc: Service,
    tenant: TenantId,
    request: Request,
    interval: Annotated[
        float, Query(ge=1.0, le=10.0, description="seconds between polls of the run (at least 1)")
    ] = 1.0,
) -> StreamingResponse:
    await svc.get_run(tenant, run_id)  # a 404 before the stream starts, not inside it
    settings = request.app.state.settings
    open_streams: dict[str, int] = request.app.state.event_streams
    if open_streams.get(tenant, 0) >= settings.sse_max_streams_per_tenant:
        raise HTTPException(
            429,
            f"at most {settings.sse_max_streams_per_tenant} live progress streams per tenant are open at once; "
            "close one first",
        )
    events = progress_events(svc, tenant, run_id, interval, request, settings.sse_max_lifetime_seconds)
    return TenantStream(events, open_streams, tenant)
