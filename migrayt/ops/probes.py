"""`/healthz` (the process answers) and `/readyz` (PostgreSQL and Temporal answer; 503 otherwise).

They sit in front of every other layer of the app (see `install_probes`), Host check included:
a kubelet or load balancer probes a pod by its IP, which is never one of `MIGRAYT_ALLOWED_HOSTS`.
They reveal nothing but up/down per dependency (no error text, no versions) and change nothing,
so answering them for any Host name gives a rebinding page nothing. Both answer GET and HEAD only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

log = logging.getLogger("migrayt.probes")

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
CHECK_TIMEOUT_SECONDS = 3.0


async def database_ready(engine) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log, not the answer
        log.warning("readiness: database unreachable (%s)", type(exc).__name__)
        return False


async def temporal_ready(client) -> bool:
    try:
        await client.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=timedelta(seconds=CHECK_TIMEOUT_SECONDS)
        )
        return True
    except Exception as exc:
        log.warning("readiness: Temporal unreachable (%s)", type(exc).__name__)
        return False


async def readiness(state) -> dict[str, str]:
    """{"database": "ok"|"unreachable", "temporal": ...}; "starting" while the app's lifespan has not set them up."""
    engine = getattr(state, "engine", None)
    service = getattr(state, "service", None)
    client = getattr(service, "temporal", None)
    if engine is None or client is None:
        return {"database": "starting", "temporal": "starting"}
    db_ok, temporal_ok = await asyncio.gather(database_ready(engine), temporal_ready(client))
    return {"database": "ok" if db_ok else "unreachable", "temporal": "ok" if temporal_ok else "unreachable"}


class Probes:
    """Outermost ASGI layer answering the two probe paths; everything else passes through."""

    def __init__(self, app: ASGIApp, state) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path") if scope["type"] == "http" else None
        if path not in (HEALTH_PATH, READY_PATH) or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if path == HEALTH_PATH:
            status, body = 200, {"status": "ok"}
        else:
            checks = await readiness(self.state)
            ready = all(v == "ok" for v in checks.values())
            status, body = (200 if ready else 503), {"status": "ready" if ready else "unready", **checks}
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else payload})


def install_probes(app) -> None:
    """Call after every other middleware is added: the last added runs first."""
    app.add_middleware(Probes, state=app.state)
