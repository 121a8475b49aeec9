"""Schedules through the HTTP API and the CLI: create, list, trigger, pause, resume, delete; tenants apart."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select
from temporalio.service import RPCError

from migrayt.contracts.runs import FINAL_STATUSES, RunStatus
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import AuditEvent, Run
from tests.api.conftest import ADMIN_TOKEN, served
from tests.integration.harness import REPO, create_sandbox_migration, structure_only_plan

TENANT, OTHER = "sched-a", "sched-b"


async def final_run(stack, run_id: str, timeout: float = 60) -> Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with stack.service.sessions() as session:
            run = await session.get(Run, run_id)
        if run is not None and RunStatus(run.status) in FINAL_STATUSES:
            return run
        await asyncio.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish")


async def until(fetch, predicate, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last: {value}")
        await asyncio.sleep(0.3)


async def cli(api, token: str, *args: str) -> subprocess.CompletedProcess:
    """The real command, without blocking the loop the API is served from."""
    env = dict(os.environ, MIGRAYT_API_URL=api.url, MIGRAYT_API_TOKEN=token)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "migrayt.api.cli",
        "schedule",
        *args,
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


async def test_schedules_from_api_and_cli(stack, worker):
    async with served(
        stack, auth="on", admin_token=SecretStr(ADMIN_TOKEN), secret_key=SecretStr(Fernet.generate_key().decode())
    ) as api:
        mine, theirs = await api.issue_token(TENANT), await api.issue_token(OTHER)
        with running_sandbox(items=12, seed=81) as sandbox:
            migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
            async with api.client(mine) as http, api.client(theirs) as other:
                # Bad input is a 422 with a reason, never a schedule.
                past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
                for body in (
                    {"migration_id": migration_id, "kind": "cutover", "at": past},
                    {"migration_id": migration_id, "kind": "delta", "every_minutes": 5, "cron": "0 * * * *"},
                    {"migration_id": migration_id, "kind": "delta", "every_minutes": 0},
                    {"migration_id": migration_id, "kind": "delta", "cron": "every tuesday maybe"},
                ):
                    r = await http.post("/api/schedules", json=body)
                    assert r.status_code == 422, (body, r.text)
                assert (
                    await other.post(
                        "/api/schedules", json={"migration_id": migration_id, "kind": "delta", "every_minutes": 60}
                    )
                ).status_code == 404

                r = await http.post(
                    "/api/schedules",
                    json={"migration_id": migration_id, "kind": "delta", "every_minutes": 60, "paused": True},
                )
                assert r.status_code == 201, r.text
                delta = r.json()
                sid = delta["schedule_id"]
                assert delta["paused"] and delta["every_minutes"] == 60 and delta["kind"] == "delta"
                assert [s["schedule_id"] for s in (await http.get("/api/schedules")).json()] == [sid]

                # Another tenant sees nothing and can touch nothing (404, so ids do not leak).
                assert (await other.get("/api/schedules")).json() == []
                for method, path in (
                    ("GET", f"/api/schedules/{sid}"),
                    ("POST", f"/api/schedules/{sid}/pause"),
                    ("POST", f"/api/schedules/{sid}/trigger"),
                    ("DELETE", f"/api/schedules/{sid}"),
                ):
                    assert (await other.request(method, path)).status_code == 404, path

                # Triggered by hand (while paused): a delta sync runs; with no earlier run it moves everything.
                assert (await http.post(f"/api/schedules/{sid}/trigger")).status_code == 200
                view = await until(lambda: _get(http, sid), lambda v: v["recent_runs"])
                run = await final_run(stack, view["recent_runs"][-1])
                assert run.status == RunStatus.COMPLETED and run.tenant_id == TENANT
                assert run.counters["create_items"]["created"] > 0
                assert (await http.get(f"/api/migrations/{run.id}")).json()["status"] == "COMPLETED"

                assert (await http.post(f"/api/schedules/{sid}/resume")).json()["paused"] is False
                assert (await http.post(f"/api/schedules/{sid}/pause")).json()["paused"] is True

                # The cutover: one run at a set time, started through the service (door "schedule").
                at = datetime.now(UTC) + timedelta(seconds=3)
                r = await http.post(
                    "/api/schedules", json={"migration_id": migration_id, "kind": "cutover", "at": at.isoformat()}
                )
                assert r.status_code == 201, r.text
                cutover = r.json()
                assert [datetime.fromisoformat(t) for t in cutover["next_action_times"]] == [at.replace(microsecond=0)]
                run_ids = await until(
                    lambda: _runs(stack, migration_id), lambda ids: any(i.startswith("run-") for i in ids), timeout=30
                )
                scheduled = await final_run(stack, next(i for i in run_ids if i.startswith("run-")))
                assert scheduled.status == RunStatus.COMPLETED
                async with stack.service.sessions() as session:
                    doors = set(
                        (
                            await session.scalars(
                                select(AuditEvent.door).where(
                                    AuditEvent.run_id == scheduled.id, AuditEvent.action == "run_requested"
                                )
                            )
                        ).all()
                    )
                assert doors == {"schedule"}
                assert (await _get(http, cutover["schedule_id"]))["next_action_times"] == []

                # The CLI: the same API, exit codes scripts rely on.
                listed = await cli(api, mine, "list", "--json")
                assert listed.returncode == 0, listed.stderr
                assert {s["schedule_id"] for s in json.loads(listed.stdout)} == {sid, cutover["schedule_id"]}
                assert (await cli(api, theirs, "show", sid, "--json")).returncode == 3  # not found
                assert (await http.delete(f"/api/schedules/{cutover['schedule_id']}")).status_code == 204

                assert (await http.delete(f"/api/schedules/{sid}")).status_code == 204
                assert (await http.get(f"/api/schedules/{sid}")).status_code == 404
                assert (await http.get("/api/schedules")).json() == []
                try:
                    await stack.client.get_schedule_handle(sid).describe()
                    raise AssertionError("the Temporal Schedule should be gone")
                except RPCError:
                    pass


async def _get(http, sid: str) -> dict:
    r = await http.get(f"/api/schedules/{sid}")
    assert r.status_code == 200, r.text
    return r.json()


async def _runs(stack, migration_id: str) -> list[str]:
    async with stack.service.sessions() as session:
        return list((await session.scalars(select(Run.id).where(Run.migration_id == migration_id))).all())
