"""Shared helpers for the sandbox Jira tests: an in-process client and small ADF builders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.jira.app import JiraSandboxConfig, create_jira_app

AUTH = ("migrator@example.com", "sandbox-token")


def doc(*paragraphs: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs],
    }


def issue_body(summary: str, type_name: str = "Task", **fields: Any) -> dict[str, Any]:
    return {"fields": {"project": {"key": "PHX"}, "issuetype": {"name": type_name}, "summary": summary, **fields}}


@asynccontextmanager
async def jira(
    config: JiraSandboxConfig | None = None,
    faults: FaultConfig | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """A sandbox Jira app and a client authenticated as the migrator; yields (client, app)."""
    current = faults or FaultConfig()
    app = create_jira_app(config or JiraSandboxConfig(), lambda: current)
    app.state.faults = current
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://jira.test", auth=AUTH, timeout=httpx.Timeout(10.0)
    ) as client:
        try:
            yield client, app
        finally:
            app.state.jira.close()


async def create(client: httpx.AsyncClient, summary: str, type_name: str = "Task", **fields: Any) -> str:
    r = await client.post("/rest/api/3/issue", json=issue_body(summary, type_name, **fields))
    assert r.status_code == 201, r.text
    return r.json()["key"]
