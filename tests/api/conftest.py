"""The API under test: the real app served by uvicorn on a free port, over the integration stack."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from pydantic import SecretStr

from migrayt.api.app import create_app
from migrayt.stack.ports import free_port
from tests.integration.harness import Stack

ADMIN_TOKEN = "admin-" + os.urandom(32).hex()  # 32 random bytes: a weaker admin token is refused


@dataclass
class Api:
    url: str
    admin_token: str
    stack: Stack

    def client(self, token: str | None = None, timeout: float = 30.0) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout)

    async def issue_token(self, tenant: str, name: str = "tests") -> str:
        async with self.client(self.admin_token) as http:
            r = await http.post("/api/admin/tokens", json={"tenant": tenant, "name": name})
            assert r.status_code == 201, r.text
            return r.json()["token"]


@asynccontextmanager
async def served(stack: Stack, **overrides) -> AsyncIterator[Api]:
    """The real app on a free port, in this event loop, with the stack's settings plus `overrides`."""
    settings = stack.settings.model_copy(update=overrides)
    app = create_app(settings, database_url=stack.database_url, temporal_address=stack.temporal_address)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield Api(f"http://127.0.0.1:{port}", ADMIN_TOKEN, stack)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture(scope="session")
async def api(stack: Stack) -> AsyncIterator[Api]:
    """Authentication on, as on a shared server: every request needs a tenant's token."""
    async with served(
        stack, auth="on", admin_token=SecretStr(ADMIN_TOKEN), secret_key=SecretStr(Fernet.generate_key().decode())
    ) as running:
        yield running
