"""Small helpers of the API tests: bodies, polling, and reading a Server-Sent Events stream."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from typing import Any

import httpx

from migrayt.api.secret_refs import tenant_env_prefix
from migrayt.sandbox.server import SandboxServer
from tests.integration.harness import structure_only_plan


def tenant_secret_refs(tenant: str) -> tuple[str, str]:
    """The sandbox's PAT and token in variables named for the tenant, as a shared server requires."""
    prefix = tenant_env_prefix(tenant)
    os.environ[prefix + "ADO_PAT"] = "sandbox-pat"
    os.environ[prefix + "JIRA_TOKEN"] = "sandbox-token"
    return f"env:{prefix}ADO_PAT", f"env:{prefix}JIRA_TOKEN"


def migration_body(
    sandbox: SandboxServer, tenant: str, name: str = "Phoenix to PHX", approve: bool = False
) -> dict[str, Any]:
    pat_ref, token_ref = tenant_secret_refs(tenant)
    return {
        "name": name,
        "source": {
            "organization_url": sandbox.ado_url,
            "project": "Phoenix",
            "team": "Phoenix Team",
            "pat_ref": pat_ref,
        },
        "target": {
            "base_url": sandbox.jira_url,
            "project_key": "PHX",
            "email": "migrator@example.com",
            "token_ref": token_ref,
        },
        "plan": structure_only_plan().model_dump(mode="json"),
        "approve_plan": approve,
    }


async def poll(http: httpx.AsyncClient, path: str, done, timeout: float = 480.0, every: float = 0.2) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = await http.get(path)
        assert r.status_code == 200, r.text
        body = r.json()
        if done(body):
            return body
        assert time.monotonic() < deadline, f"timed out waiting on {path}: {body}"
        await asyncio.sleep(every)


async def read_events(http: httpx.AsyncClient, path: str, timeout: float = 120.0) -> list[tuple[str, dict]]:
    """Every (event, data) of an SSE stream until the server closes it."""
    events: list[tuple[str, dict]] = []

    async def read() -> None:
        async with http.stream("GET", path, timeout=httpx.Timeout(30.0)) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            name, data = None, []
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and name:
                    events.append((name, json.loads("\n".join(data))))
                    name, data = None, []

    await asyncio.wait_for(read(), timeout)
    return events


MY_TAGS = {"migrations", "runs", "scans", "mapping plans", "previews", "connections", "audit", "tenant", "manage"}
# Valid bodies of the routes that manage what a tenant made: the answer must be about the id, not the body.
MANAGE_BODIES: dict[str, Any] = {
    "PATCH /api/migrations/{migration_id}": {"name": "taken over"},
    "PUT /api/connections/{connection_id}/secret": {"secret": "a-new-token"},
    "POST /api/migrations/{id}/accept-failures": {"reason": "mine now", "failure_reason": "Other error"},
}


async def assert_other_tenant_sees_nothing(api, ids: dict[str, str], bodies: dict[str, Any]) -> set[str]:
    """Tenant B's token on every /api route that names an object of tenant A: 404, never 403 or 200.

    `ids`: path parameter name → A's id (`id` is tried with both the run and the migration id).
    `bodies`: "METHOD path-template" → a valid body, so the answer is about the id, not the body.
    Returns the routes checked (routes naming other kinds of object are left to their own tests).
    """
    other = await api.issue_token("isolation-other", name="intruder")
    bodies = {**MANAGE_BODIES, **bodies}
    checked: set[str] = set()
    async with api.client(other) as http:
        schema = (await http.get("/openapi.json")).json()
        for template, operations in schema["paths"].items():
            params = re.findall(r"{(\w+)}", template)
            if not params or not template.startswith("/api/") or template.startswith("/api/admin/"):
                continue
            for method, operation in operations.items():
                tags = set(operation.get("tags", []))
                if not tags or not tags <= MY_TAGS:
                    continue  # another door's routes (schedules, checkout, codec): their own tests cover them
                choices = [ids["run_id"], ids["migration_id"]] if "id" in params else [None]
                for choice in choices:
                    values = {p: choice if p == "id" else ids[p] for p in params}
                    url = template.format(**values)
                    key = f"{method.upper()} {template}"
                    kwargs: dict[str, Any] = {"json": bodies[key]} if key in bodies else {}
                    # A required query parameter gets a value, so the answer is about the id.
                    required = [
                        q["name"] for q in operation.get("parameters", []) if q["in"] == "query" and q.get("required")
                    ]
                    if required:
                        kwargs["params"] = {q: "a" for q in required}
                    r = await http.request(method.upper(), url, **kwargs)
                    assert r.status_code == 404, f"{key} as another tenant: {r.status_code} {r.text[:200]}"
                    assert "not found" in r.json()["detail"] or "no longer exists" in r.json()["detail"]
                    checked.add(key)
        assert (await http.get("/api/migrations")).json() == []
        assert (await http.get("/api/connections")).json() == []
        mine = {e["migration_id"] for e in (await http.get("/api/audit", params={"limit": 1000})).json()}
        assert ids["migration_id"] not in mine
    return checked
