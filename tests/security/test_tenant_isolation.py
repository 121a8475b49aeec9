"""Tenant isolation, driven by the published OpenAPI: tenant B's token on every route that names one of
tenant A's objects answers 404 — exactly what it answers for an id that does not exist, so B cannot
even learn that A's object exists — and changes nothing of A's.

A route added later with a path parameter is swept too; one with a parameter this test has no object
for fails it, saying which, until an object of that kind is added here. Query parameters and bodies
that carry A's ids (schedule/delta-sync creation, audit and schedule filters) and B's own progress
stream, read while A's run is live, are checked as well. /api/admin routes are not a tenant's
(admin token only): B is only shown to be refused there. The codec endpoint has its own tests.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import uuid
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import Validation
from tests.api.conftest import ADMIN_TOKEN, served
from tests.api.helpers import MANAGE_BODIES, migration_body, poll, read_events
from tests.billing.stripe_server import stripe_stand_in
from tests.billing.test_checkout import PRICE, PRICES, WORKLOG_PRICE

A, B = "iso-alpha", "iso-beta"
ITEMS = 40
FINAL = {"COMPLETED", "INCOMPLETE", "FAILED", "CANCELLED"}


def missing_like(value: str) -> str:
    """An id of the same shape as `value` that names nothing."""
    if value.startswith("savepoint-") and value.endswith(".json"):
        return f"savepoint-{secrets.token_hex(6)}.json"
    head, sep, _ = value.rpartition("-")
    return f"{head}{sep}{secrets.token_hex(6)}" if sep else f"x{secrets.token_hex(6)}"


def enum_of(operation: dict, name: str) -> list[str] | None:
    for p in operation.get("parameters", []):
        if p["name"] == name and p["in"] == "path":
            schema = p.get("schema", {})
            return schema.get("enum") or [v.get("const") for v in schema.get("anyOf", []) if "const" in v] or None
    return None


async def answer(http: httpx.AsyncClient, method: str, url: str, body: Any = None) -> tuple[int, str]:
    """Status and body; a progress stream is not read (it would last as long as the run)."""
    kwargs = {"json": body} if body is not None else {}
    async with http.stream(method, url, **kwargs) as r:
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            return r.status_code, "<event stream>"
        return r.status_code, (await r.aread()).decode(errors="replace")


def same_answer(mine: tuple[int, str], missing: tuple[int, str], a_ids: dict[str, str], fakes: dict[str, str]) -> bool:
    mine_text, missing_text = mine[1], missing[1]
    for p, a_id in a_ids.items():
        mine_text, missing_text = mine_text.replace(a_id, "ID"), missing_text.replace(fakes[p], "ID")
    return mine[0] == missing[0] and mine_text == missing_text


@pytest.fixture
async def api(stack):
    async with served(
        stack, auth="on", admin_token=SecretStr(ADMIN_TOKEN), secret_key=SecretStr(Fernet.generate_key().decode())
    ) as running:
        yield running


async def test_another_tenant_gets_404_on_every_route_naming_a_tenants_object(api, worker, monkeypatch):
    token_a, token_b = await api.issue_token(A, name="alpha"), await api.issue_token(B, name="beta")
    with running_sandbox(items=ITEMS, seed=71) as sandbox_a, running_sandbox(items=ITEMS, seed=72) as sandbox_b:
        async with api.client(token_a) as a, api.client(token_b) as b:
            # Tenant A: one object of every kind.
            r = await a.post("/api/migrations", json=migration_body(sandbox_a, A))
            assert r.status_code == 201, r.text
            mid = r.json()["id"]
            scan_id = (await a.post(f"/api/migrations/{mid}/scans", json={"draft_plan": False})).json()["scan_id"]
            assert (await poll(a, f"/api/scans/{scan_id}", lambda s: s["status"] != "RUNNING"))["status"] == "COMPLETED"
            r = await a.post(f"/api/migrations/{mid}/previews", json={"samples": 1})
            preview_id = r.json()["preview_id"]
            assert (await poll(a, f"/api/previews/{preview_id}", lambda p: p["status"] != "RUNNING"))[
                "status"
            ] == "COMPLETED"
            plan = (await a.get(f"/api/migrations/{mid}/plan")).json()
            # A checkout too: billing on just for this request (the API reads it per request; the worker never sees it).
            async with stripe_stand_in(PRICES) as stripe_api:
                with monkeypatch.context() as billing_on:
                    for name, value in {
                        "MIGRAYT_BILLING": "stripe",
                        "MIGRAYT_STRIPE_API_KEY": "sk_test_iso",
                        "MIGRAYT_STRIPE_API_BASE": stripe_api.url,
                        "MIGRAYT_STRIPE_PRICES": json.dumps({"item": PRICE, "worklog": WORKLOG_PRICE}),
                    }.items():
                        billing_on.setenv(name, value)
                    r = await a.post(f"/api/migrations/{mid}/checkout")
                    assert r.status_code == 201, r.text
            assert (await a.get(f"/api/migrations/{mid}/checkout")).status_code == 200
            assert (await a.post(f"/api/migrations/{mid}/plan/approve", json={})).status_code == 200
            r = await a.post(
                "/api/connections",
                json={
                    "kind": "ado",
                    "name": "alpha ado",
                    "organization_url": sandbox_a.ado_url,
                    "project": "Phoenix",
                    "pat": "sandbox-pat",
                },
            )
            assert r.status_code == 201, r.text
            connection_id = r.json()["id"]
            delta = await a.post(
                "/api/schedules", json={"migration_id": mid, "kind": "delta", "every_minutes": 600, "paused": True}
            )
            cutover = await a.post(
                "/api/schedules", json={"migration_id": mid, "kind": "cutover", "at": "2099-01-01T00:00:00Z"}
            )
            assert delta.status_code == cutover.status_code == 201, (delta.text, cutover.text)
            schedule_ids = [delta.json()["schedule_id"], cutover.json()["schedule_id"]]

            # Tenant B: its own migration, run at the same time as A's, watched over its own stream.
            r = await b.post("/api/migrations", json=migration_body(sandbox_b, B, approve=True))
            assert r.status_code == 201, r.text
            mid_b = r.json()["id"]
            run_id = (await a.post(f"/api/migrations/{mid}/runs")).json()["run_id"]
            run_b = (await b.post(f"/api/migrations/{mid_b}/runs")).json()["run_id"]
            b_stream = asyncio.create_task(read_events(b, f"/api/migrations/{run_b}/events?interval=1", timeout=90))
            await poll(a, f"/api/migrations/{run_id}", lambda p: p["counters"] or p["status"] in FINAL, every=0.05)
            assert (await a.post(f"/api/migrations/{run_id}/pause")).status_code == 202
            assert (await poll(a, f"/api/migrations/{run_id}", lambda p: p["status"] == "PAUSED"))["status"] == "PAUSED"
            events = await b_stream
            assert events[-1][0] == "end" and len(events) >= 2
            for _, data in events:
                assert data["run_id"] == run_b and data.get("migration_id", mid_b) == mid_b, data
            raw = repr(events)
            assert run_id not in raw and mid not in raw, "A's run showed up on B's progress stream"

            # What A's objects look like before B tries anything.
            def snapshot_paths() -> list[str]:
                return [
                    f"/api/migrations/{mid}",
                    f"/api/migrations/{run_id}",
                    f"/api/migrations/{mid}/plan/versions",
                    f"/api/migrations/{mid}/checkout",
                    f"/api/connections/{connection_id}",
                    *(f"/api/schedules/{s}" for s in schedule_ids),
                ]

            async def snapshot() -> list[tuple[int, str]]:
                return [
                    (r.status_code, re.sub(r'"(elapsed_seconds|next_action_times|updated_at)":[^,}\]]*', "", r.text))
                    for r in [await a.get(p) for p in snapshot_paths()]
                ]

            before = await snapshot()
            assert all(status == 200 for status, _ in before), before
            # A validation of A's (its row only: A's run is paused, and a validation waits for runs to end).
            validation_id = f"val-{uuid.uuid4().hex[:12]}"
            async with api.stack.service.sessions() as session:
                session.add(
                    Validation(
                        id=validation_id,
                        migration_id=mid,
                        tenant_id=A,
                        status="PASSED",
                        deep=False,
                        tolerances={},
                        counts={},
                        scope={},
                        requested_by="a",
                    )
                )
                await session.commit()
            # A's paused run wrote a savepoint on pause; B must not learn even that it exists.
            listed = (await a.get(f"/api/runs/{run_id}/savepoints")).json()
            savepoint_name = listed[0]["name"] if listed else "savepoint-20260101T000000000000Z-pause-links.json"
            try:
                checked = await sweep(
                    b,
                    {
                        "migration_id": [mid],
                        "run_id": [run_id],
                        "id": [run_id, mid],
                        "scan_id": [scan_id],
                        "preview_id": [preview_id],
                        "connection_id": [connection_id],
                        "schedule_id": schedule_ids,
                        "validation_id": [validation_id],
                        "item": ["1", "PHX-1"],  # an ADO id and a Jira key: the trace takes either
                        "name": [savepoint_name],
                    },
                    plan,
                )
                assert {
                    "GET /api/migrations/{id}",
                    "POST /api/migrations/{run_id}/pause",
                    "POST /api/migrations/{run_id}/resume",
                    "POST /api/migrations/{run_id}/cancel",
                    "POST /api/migrations/{run_id}/rerun",
                    "GET /api/migrations/{run_id}/events",
                    "PUT /api/migrations/{migration_id}/plan",
                    "POST /api/migrations/{migration_id}/plan/approve",
                    "GET /api/scans/{scan_id}/quote",
                    "GET /api/migrations/{migration_id}/quote",
                    "GET /api/previews/{preview_id}",
                    "GET /api/connections/{connection_id}",
                    "GET /api/schedules/{schedule_id}",
                    "DELETE /api/schedules/{schedule_id}",
                    "POST /api/schedules/{schedule_id}/{action}",
                    "GET /api/schedules",
                    "GET /api/audit",
                    "GET /api/migrations/{migration_id}/checkout",
                    "POST /api/migrations/{migration_id}/checkout",
                    "GET /api/migrations/{migration_id}/validations/{validation_id}",
                    "GET /api/migrations/{migration_id}/validations/{validation_id}/differences",
                    "POST /api/migrations/{migration_id}/validations/{validation_id}/cancel",
                    "GET /api/migrations/{id}/items/{item}",
                    "GET /api/runs/{run_id}/savepoints/{name}",
                    "POST /api/migrations/{migration_id}/runs/from-savepoint",
                    "POST /api/migrations/{migration_id}/undo",
                    "GET /api/migrations/{migration_id}/jira-users",
                    "GET /api/migrations/{migration_id}/users",
                    "GET /api/migrations/{migration_id}/plan/jira-options",
                    "PATCH /api/migrations/{migration_id}",
                    "DELETE /api/migrations/{migration_id}",
                    "DELETE /api/connections/{connection_id}",
                    "PUT /api/connections/{connection_id}/secret",
                    "POST /api/migrations/{id}/accept-failures",
                    "GET /api/migrations/{id}/accepted",
                } <= checked, checked
                # Nothing B tried changed anything of A's: the run is still paused, the schedules are there.
                assert await snapshot() == before
                assert (await a.get(f"/api/migrations/{run_id}")).json()["status"] == "PAUSED"
                assert {s["schedule_id"] for s in (await a.get("/api/schedules")).json()} == set(schedule_ids)
            finally:
                # Leave nothing running for later tests.
                await a.post(f"/api/migrations/{run_id}/cancel")
                for s in schedule_ids:
                    await a.delete(f"/api/schedules/{s}")
                await poll(a, f"/api/migrations/{run_id}", lambda p: p["status"] in FINAL)


async def sweep(b: httpx.AsyncClient, ids: dict[str, list[str]], plan: dict) -> set[str]:
    """B's token on every route that can name one of A's objects (`ids`: path parameter → A's ids).

    Returns the routes checked.
    """
    mid, run_id = ids["migration_id"][0], ids["run_id"][0]
    bodies: dict[str, Any] = {
        "PUT /api/migrations/{migration_id}/plan": {"base_version": plan["version"], "plan": plan["plan"]},
        "POST /api/migrations/{migration_id}/previews": {"samples": 1},
        # The destructive form: were the door open, A's Jira project would lose what the run made.
        "POST /api/migrations/{migration_id}/undo": {"dry_run": False, "confirm": 0},
        # Manage what you made: were these open, B could rename, delete or re-key A's work, or close A's run.
        **MANAGE_BODIES,
    }
    queries = {"GET /api/migrations/{migration_id}/jira-users": "?query=ines"}
    schema = (await b.get("/openapi.json")).json()
    checked: set[str] = set()
    for template, operations in schema["paths"].items():
        params = re.findall(r"{(\w+)}", template)
        if not params:
            continue
        for method, operation in operations.items():
            key = f"{method.upper()} {template}"
            if template.startswith("/api/admin/") or not template.startswith("/api/"):
                # Not a tenant's object: the admin token only.
                status, text = await answer(b, method.upper(), re.sub(r"{\w+}", "x1", template))
                assert status in (401, 403, 404), f"{key} with a tenant token: {status} {text[:200]}"
                continue
            choices: list[dict[str, str]] = [{}]
            for p in params:
                values = enum_of(operation, p) or ids.get(p)
                assert values, f"{key}: no object of tenant A for path parameter {p!r}: add one to this test"
                choices = [dict(c, **{p: v}) for c in choices for v in values]
            for values in choices:
                url = template.format(**values)
                # An item or a savepoint name is looked up inside the migration or run named beside it: only
                # that parent is swapped for a missing one.
                id_params = {p: v for p, v in values.items() if p in ids and p not in ("item", "name")}
                fakes = {p: missing_like(v) for p, v in id_params.items()}
                query = queries.get(key, "")
                mine = await answer(b, method.upper(), url + query, bodies.get(key))
                missing = await answer(
                    b, method.upper(), template.format(**{**values, **fakes}) + query, bodies.get(key)
                )
                assert mine[0] != 422, (
                    f"{key}: the body was refused ({mine[1][:200]}): give this test a valid body for it"
                )
                assert mine[0] == 404, f"{key} {values} as another tenant: {mine[0]} {mine[1][:200]}"
                # Every id swapped at once (a route may name two: a migration and its validation).
                assert same_answer(mine, missing, id_params, fakes), (
                    f"{key}: A's {', '.join(id_params)} answer unlike missing ones: {mine} vs {missing}"
                )
                checked.add(key)

    # Ids carried in bodies and query strings.
    for path, body in (
        ("/api/schedules", {"migration_id": mid, "kind": "delta", "every_minutes": 600, "paused": True}),
        ("/api/schedules", {"migration_id": mid, "kind": "cutover", "at": "2099-01-01T00:00:00Z"}),
        ("/api/delta-syncs", {"migration_id": mid}),
    ):
        r = await b.post(path, json=body)
        assert r.status_code == 404, f"POST {path} naming A's migration: {r.status_code} {r.text[:200]}"
    a_ids = {mid, run_id, ids["scan_id"][0], ids["preview_id"][0], ids["connection_id"][0], *ids["schedule_id"]}
    for template, operations in schema["paths"].items():
        get = operations.get("get")
        if "{" in template or get is None or not template.startswith("/api/") or template.startswith("/api/admin/"):
            continue
        query = {p["name"] for p in get.get("parameters", []) if p["in"] == "query"}
        for params in [{}] + [{q: v} for q in query if q in ids for v in ids[q]]:
            r = await b.get(template, params=params)
            assert r.status_code in (200, 404), f"GET {template} {params}: {r.status_code} {r.text[:200]}"
            assert not [i for i in a_ids if i in r.text], (
                f"GET {template} {params} shows A's objects to B: {r.text[:300]}"
            )
            checked.add(f"GET {template}")

    return checked
