"""Who decodes what through /codec: the admin everything, a tenant only its own workflows' payloads.

One key encrypts every tenant's payloads, so the codec endpoint decides by the workflow a payload is
bound to (authenticated metadata) and that workflow's `MigrayTenant` search attribute. Two tenants'
real scans (and a scheduled delta sync) run through the worker; their histories come from Temporal.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import WorkflowSerializationContext

from migrayt.api.app import create_app
from migrayt.api.tokens import issue_token
from migrayt.core.intake import IntakeService
from migrayt.sandbox.testing import running_sandbox
from migrayt.scheduling.service import ScheduleService
from migrayt.temporal.codec import BOUND_WORKFLOW_ID, ENCODING, binding_of
from migrayt.temporal.search_attributes import TENANT as TENANT_ATTRIBUTE
from tests.codec.test_history_encrypted import payloads_in
from tests.integration.harness import create_sandbox_migration

ADMIN = "admin-" + os.urandom(32).hex()
A, B = "codec-a", "codec-b"


def codec_client(stack, **settings) -> httpx.AsyncClient:
    app = create_app(stack.settings.model_copy(update=settings))
    app.state.service = stack.service  # the stack's client carries the worker's codec; no lifespan needed
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost", timeout=10)


def as_json(p: Payload) -> dict:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
        "data": base64.b64encode(p.data).decode(),
    }


def body(payloads: list[Payload]) -> dict:
    return {"payloads": [as_json(p) for p in payloads]}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def is_plain(p: dict) -> bool:
    return base64.b64decode(p["metadata"]["encoding"]) != ENCODING


async def history_payloads(stack, workflow_id: str) -> list[Payload]:
    """The payloads as Temporal stores them: fetched without the key."""
    raw = await Client.connect(stack.temporal_address, data_converter=pydantic_data_converter)
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    return [p for event in history.events for p in payloads_in(event)]


@pytest.fixture(scope="module")
def sandbox():
    with running_sandbox(items=8, seed=71) as server:
        yield server


@pytest.fixture
async def scans(stack, worker, sandbox) -> dict[str, tuple[str, list[Payload]]]:
    """Each tenant's scan id and its history's payloads."""
    intake = IntakeService(stack.settings, stack.service.sessions, stack.client)

    async def scan(tenant: str) -> tuple[str, list[Payload]]:
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=tenant)
        scan_id = await intake.start_scan(tenant, migration_id, actor=f"ana@{tenant}.example", door="api")
        result = await intake.scan_result(scan_id)
        assert result.status == "COMPLETED", result.error
        return scan_id, await history_payloads(stack, scan_id)

    a, b = await asyncio.gather(scan(A), scan(B))
    return {A: a, B: b}


async def test_each_tenant_decodes_its_own_payloads_only_and_the_admin_decodes_all(stack, scans):
    (a_id, a_payloads), (b_id, b_payloads) = scans[A], scans[B]
    # Every payload the worker and the client wrote is encrypted and bound to its own scan.
    for scan_id, payloads in scans.values():
        assert len(payloads) >= 4
        assert {(p.metadata["encoding"], binding_of(p).workflow_id) for p in payloads} == {(ENCODING, scan_id)}
    # The scan carries its tenant as a search attribute: what the codec looks up.
    described = await stack.client.get_workflow_handle(a_id).describe()
    assert described.typed_search_attributes.get(TENANT_ATTRIBUTE) == A

    tokens = {t: (await issue_token(stack.service.sessions, t, "ui", actor="tests", door="api")).token for t in (A, B)}
    mixed = a_payloads + b_payloads
    async with codec_client(stack, auth="on", admin_token=SecretStr(ADMIN)) as http:
        for tenant, own_id, other_id in ((A, a_id, b_id), (B, b_id, a_id)):
            r = await http.post("/codec/decode", json=body(mixed), headers=bearer(tokens[tenant]))
            assert r.status_code == 200, r.text
            out = r.json()["payloads"]
            own, other = (
                (out[: len(a_payloads)], out[len(a_payloads) :])
                if tenant == A
                else (out[len(a_payloads) :], out[: len(a_payloads)])
            )
            assert all(is_plain(p) for p in own)
            assert own_id in "".join(base64.b64decode(p["data"]).decode(errors="replace") for p in own)
            # The other tenant's come back exactly as sent: still encrypted, their id nowhere in plaintext.
            sent_other = body(b_payloads if tenant == A else a_payloads)["payloads"]
            assert other == sent_other
            assert other_id not in "".join(base64.b64decode(p["data"]).decode(errors="replace") for p in other)

        r = await http.post("/codec/decode", json=body(mixed), headers=bearer(ADMIN))
        assert r.status_code == 200, r.text
        assert all(is_plain(p) for p in r.json()["payloads"])
        texts = "".join(base64.b64decode(p["data"]).decode(errors="replace") for p in r.json()["payloads"])
        assert a_id in texts and b_id in texts

        # B's payload relabelled to A's scan: refused as tampered, before anything is looked up or shown.
        forged = Payload()
        forged.CopyFrom(b_payloads[0])
        forged.metadata[BOUND_WORKFLOW_ID] = a_id.encode()
        r = await http.post("/codec/decode", json=body([forged]), headers=bearer(tokens[A]))
        assert r.status_code == 400 and "failed authentication" in r.json()["detail"]
        assert b_id not in r.text and B not in r.text

        # Unbound payloads (what /codec/encode makes: any caller may encrypt its own data) and payloads bound
        # to a workflow that does not exist come back unchanged for a tenant, like another tenant's: no oracle.
        plain_json = {
            "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
            "data": base64.b64encode(b'"mine"').decode(),
        }
        enc = await http.post("/codec/encode", json={"payloads": [plain_json]}, headers=bearer(tokens[A]))
        assert enc.status_code == 200
        [unbound] = enc.json()["payloads"]
        assert (
            base64.b64decode(unbound["metadata"]["encoding"]) == ENCODING
            and BOUND_WORKFLOW_ID not in unbound["metadata"]
        )
        codec = stack.client.data_converter.payload_codec
        [ghost] = await codec.with_context(
            WorkflowSerializationContext(stack.client.namespace, "scan-doesnotexist0")
        ).encode([Payload(data=b"x")])
        r = await http.post(
            "/codec/decode",
            json={"payloads": [unbound, as_json(ghost), as_json(b_payloads[0])]},
            headers=bearer(tokens[A]),
        )
        assert r.status_code == 200 and r.json()["payloads"] == [unbound, as_json(ghost), as_json(b_payloads[0])]
        r = await http.post("/codec/decode", json={"payloads": [unbound]}, headers=bearer(ADMIN))
        assert r.json()["payloads"] == [plain_json]

    # The embedded default: no database URL, loopback API → auth off. The local user (what `migrayt up`'s
    # UI sends: no token) decodes everything; a tenant's token still only its own.
    async with codec_client(stack, auth="embedded", database_url=None, api_host="127.0.0.1", admin_token=None) as http:
        r = await http.post("/codec/decode", json=body(mixed))
        assert r.status_code == 200 and all(is_plain(p) for p in r.json()["payloads"])
        r = await http.post("/codec/decode", json=body(mixed), headers=bearer(tokens[A]))
        out = r.json()["payloads"]
        assert all(is_plain(p) for p in out[: len(a_payloads)])
        assert out[len(a_payloads) :] == body(b_payloads)["payloads"]


async def test_a_scheduled_workflows_input_decodes_for_its_tenant(stack, worker, sandbox):
    """A schedule encodes its action's input under the workflow-id prefix; the schedule says whose it is."""
    schedules = ScheduleService(stack.settings, stack.service.sessions, stack.client)
    migration_id = await create_sandbox_migration(stack, sandbox, tenant=A)
    view = await schedules.create_delta(
        A, migration_id, "ana@codec-a.example", "api", every=timedelta(hours=1), paused=True
    )
    workflow_id = None
    try:
        await schedules.trigger(A, view.schedule_id, "ana@codec-a.example", "api")
        deadline = time.monotonic() + 30
        while not (view := await schedules.get(A, view.schedule_id)).recent_runs:
            assert time.monotonic() < deadline, "the triggered delta sync never started"
            await asyncio.sleep(0.2)
        workflow_id = view.recent_runs[-1]
        described = await stack.client.get_workflow_handle(workflow_id).describe()
        assert described.typed_search_attributes.get(TENANT_ATTRIBUTE) == A
        payloads = await history_payloads(stack, workflow_id)
        started = payloads[0]
        assert binding_of(started).workflow_id == view.schedule_id  # the prefix, not the final id

        tokens = {
            t: (await issue_token(stack.service.sessions, t, "ui", actor="tests", door="api")).token for t in (A, B)
        }
        async with codec_client(stack, auth="on", admin_token=SecretStr(ADMIN)) as http:
            mine = await http.post("/codec/decode", json=body([started]), headers=bearer(tokens[A]))
            assert mine.status_code == 200 and is_plain(mine.json()["payloads"][0])
            assert migration_id in base64.b64decode(mine.json()["payloads"][0]["data"]).decode()
            theirs = await http.post("/codec/decode", json=body([started]), headers=bearer(tokens[B]))
            assert theirs.json() == body([started]) and migration_id not in theirs.text
    finally:
        await schedules.delete(A, view.schedule_id, "tests", "api")
        if workflow_id:  # the sync itself is not what this test is about; do not leave it retrying
            await stack.client.get_workflow_handle(workflow_id).terminate("codec test done")


async def test_without_a_token_the_codec_is_a_401_the_ui_can_read(stack):
    [sealed] = await stack.client.data_converter.encode(["anything"])
    ui = {"Origin": f"http://127.0.0.1:{stack.settings.temporal_ui_port}"}
    async with codec_client(stack, auth="on", admin_token=SecretStr(ADMIN)) as http:
        for op in ("decode", "encode"):
            for headers in ({}, bearer("not-a-token")):
                r = await http.post(f"/codec/{op}", json=body([sealed]), headers={**ui, **headers})
                assert r.status_code == 401, (op, headers, r.text)
                assert "anything" not in r.text
                assert r.headers["access-control-allow-origin"] == ui["Origin"]
        r = await http.post("/codec/decode", json=body([sealed]), headers={**ui, **bearer(ADMIN)})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ui["Origin"]
        assert (
            await http.options("/codec/decode", headers={**ui, "Access-Control-Request-Method": "POST"})
        ).status_code == 204
