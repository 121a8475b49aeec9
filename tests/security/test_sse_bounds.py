"""Live progress streams are bounded: a poll at most once a second, a few open per tenant, a lifetime; the CLI
reconnects.

The run watched is a row whose workflow no worker is running (as when the worker is down): its stream stays
open, reporting the last kept state, until the row says the run is over.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import update

from migrayt.contracts.runs import RunStatus
from migrayt.store.models import Run
from tests.api.conftest import ADMIN_TOKEN, Api, served
from tests.api.helpers import read_events, tenant_secret_refs
from tests.integration.harness import REPO, structure_only_plan

TENANT, OTHER = "sse-a", "sse-b"


@pytest.fixture(scope="module")
async def api(stack) -> AsyncIterator[Api]:
    async with served(
        stack,
        auth="on",
        admin_token=SecretStr(ADMIN_TOKEN),
        secret_key=SecretStr(Fernet.generate_key().decode()),
        sse_max_lifetime_seconds=3.0,
    ) as running:
        yield running


async def running_run(api: Api, token: str, tenant: str) -> str:
    pat_ref, token_ref = tenant_secret_refs(tenant)
    async with api.client(token) as http:
        r = await http.post(
            "/api/migrations",
            json={
                "name": "watched",
                "source": {"organization_url": "https://dev.azure.com/acme", "project": "Phoenix", "pat_ref": pat_ref},
                "target": {
                    "base_url": "https://acme.atlassian.net",
                    "project_key": "PHX",
                    "email": "m@example.com",
                    "token_ref": token_ref,
                },
                "plan": structure_only_plan().model_dump(mode="json"),
                "approve_plan": True,
            },
        )
        assert r.status_code == 201, r.text
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    async with api.stack.service.sessions() as session:
        session.add(
            Run(
                id=run_id,
                migration_id=r.json()["id"],
                tenant_id=tenant,
                status=RunStatus.RUNNING,
                phase="create_items",
                counters={},
            )
        )
        await session.commit()
    return run_id


async def finish(api: Api, run_id: str) -> None:
    async with api.stack.service.sessions() as session:
        await session.execute(update(Run).where(Run.id == run_id).values(status=RunStatus.COMPLETED))
        await session.commit()


async def first_progress(http: httpx.AsyncClient, path: str) -> tuple[httpx.Response, AsyncIterator[str]]:
    """An open stream, read up to its first `progress` event; close the response to end it."""
    response = await http.send(http.build_request("GET", path), stream=True)
    assert response.status_code == 200, await response.aread()
    lines = response.aiter_lines()
    async for line in lines:
        if line == "event: progress":
            break
    return response, lines


async def test_a_poll_faster_than_once_a_second_is_refused(api):
    token = await api.issue_token(TENANT)
    run_id = await running_run(api, token, TENANT)
    async with api.client(token) as http:
        for interval in ("0.1", "0.5", "0.99"):
            request = http.build_request("GET", f"/api/migrations/{run_id}/events", params={"interval": interval})
            response = await http.send(request, stream=True)
            await response.aclose()
            assert response.status_code == 422, (interval, response.status_code)
    await finish(api, run_id)


async def test_open_streams_per_tenant_are_capped(stack):
    async with served(stack, auth="on", admin_token=SecretStr(ADMIN_TOKEN), sse_max_streams_per_tenant=2) as api:
        token, other_token = await api.issue_token(TENANT), await api.issue_token(OTHER)
        run_id, other_run = await running_run(api, token, TENANT), await running_run(api, other_token, OTHER)
        path = f"/api/migrations/{run_id}/events?interval=1"
        async with api.client(token) as http, api.client(other_token) as other:
            # (each reader kept: a dropped line iterator closes its stream)
            first, first_lines = await first_progress(http, path)
            second, second_lines = await first_progress(http, path)
            refused = await http.send(http.build_request("GET", path), stream=True)
            await refused.aread() if refused.status_code != 200 else None
            await refused.aclose()
            assert refused.status_code == 429 and "at most 2" in refused.json()["detail"], refused.status_code
            # The cap is the tenant's own: another tenant still watches its run.
            theirs, their_lines = await first_progress(other, f"/api/migrations/{other_run}/events?interval=1")
            await theirs.aclose()
            # A closed stream gives its slot back (once the server notices the client went away).
            await first.aclose()
            deadline = time.monotonic() + 30
            while True:
                third = await http.send(http.build_request("GET", path), stream=True)
                if third.status_code == 200:
                    break
                assert third.status_code == 429 and time.monotonic() < deadline, (
                    "the closed stream's slot never came back"
                )
                await third.aclose()
                await asyncio.sleep(0.5)
            await third.aclose()
            await second.aclose()
        await finish(api, run_id)
        await finish(api, other_run)


async def test_a_stream_ends_with_timeout_after_its_lifetime(api):
    token = await api.issue_token(TENANT)
    run_id = await running_run(api, token, TENANT)
    async with api.client(token) as http:
        events = await read_events(http, f"/api/migrations/{run_id}/events?interval=1", timeout=60)
    assert [e for e, _ in events][-1] == "timeout", events
    assert events[-1][1]["reconnect"] is True and events[0][0] == "progress" and events[0][1]["status"] == "RUNNING"
    await finish(api, run_id)


async def test_cli_watch_reconnects_after_a_timeout_until_the_run_ends(api):
    token = await api.issue_token(TENANT)
    run_id = await running_run(api, token, TENANT)
    env = dict(os.environ, MIGRAYT_API_URL=api.url, MIGRAYT_API_TOKEN=token)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "migrayt.api.cli",
        "status",
        run_id,
        "--watch",
        "--json",
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # A second RUNNING `progress` with nothing changed comes only from a new stream: the CLI reconnected.
        seen: list[dict] = []
        while len(seen) < 2:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, (seen, (await proc.stderr.read()).decode()[-2000:])
            seen.append(json.loads(line))
        assert [(e["event"], e["status"]) for e in seen] == [("progress", "RUNNING")] * 2
        await finish(api, run_id)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    last = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert last[-1]["event"] == "end" and last[-1]["status"] == "COMPLETED", (last, err.decode()[-2000:])
    assert proc.returncode == 0
    assert all(e["event"] != "timeout" for e in seen + last)
