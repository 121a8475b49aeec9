"""Live progress as Server-Sent Events: `progress` on every change, then `end` once the run is final."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from migrayt.api.auth import TenantId
from migrayt.api.routers.deps import RunId, Service
from migrayt.api.service import MigrationService, NotFound
from migrayt.workflows.run_models import FINAL_STATUSES

router = APIRouter(prefix="/api/migrations", tags=["runs"])

KEEPALIVE_SECONDS = 15.0
# Fields that change every poll without news; a change elsewhere is an event.
VOLATILE = ("elapsed_seconds", "eta_seconds", "items_per_second")


def sse(event: str, data: str, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


async def progress_events(svc: MigrationService, tenant: str, run_id: str, interval: float, request: Request) -> AsyncIterator[bytes]:
    last: str | None = None
    seq = 0
    quiet_since = time.monotonic()
    yield b"retry: 2000\n\n"
    while True:
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


@router.get(
    "/{run_id}/events", summary="Live progress of a run (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`progress` events (a run status as JSON) on each change, then one `end` event"}},
)
async def run_events(
    run_id: RunId, svc: Service, tenant: TenantId, request: Request,
    interval: Annotated[float, Query(ge=0.1, le=10.0, description="seconds between polls of the run")] = 0.5,
) -> StreamingResponse:
    await svc.get_run(tenant, run_id)  # a 404 before the stream starts, not inside it
    return StreamingResponse(
        progress_events(svc, tenant, run_id, interval, request), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
