"""A run's history as Temporal stores it holds no plaintext; the API's codec endpoint reads it back."""

from __future__ import annotations

import base64
import json

import httpx
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.api.history.v1 import MarkerRecordedEventAttributes
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from migrayt.api.app import create_app
from migrayt.contracts.runs import RunStatus
from migrayt.sandbox.testing import running_sandbox
from migrayt.temporal.codec import (
    BOUND_WORKFLOW_ID,
    ENCODING,
    binding_of,
    decoded_history,
)
from migrayt.workflows.delta_sync import DELTA_MUTES_NOTIFICATIONS, DELTA_ON_RUN_ENGINE
from migrayt.workflows.engine import PLUGIN_ISOLATED, SETTLED_STATUS
from migrayt.workflows.migration_run import (
    CONTENT_ORDER,
    CUT_BATCHES,
    MUTES_NOTIFICATIONS,
    PHASES_BY_NAME,
    PHASES_SIDE_BY_SIDE,
    RAMPED_BATCHES,
    SAVEPOINTS,
    MigrationRunWorkflow,
)
from tests.integration.harness import (
    create_sandbox_migration,
    structure_only_plan,
    wait_final,
)

TENANT = "codec-tenant-zeta"


# Our patches: a marker's data holds only one of these names.
PATCHES = (
    CUT_BATCHES,
    PHASES_BY_NAME,
    DELTA_ON_RUN_ENGINE,
    SAVEPOINTS,
    PLUGIN_ISOLATED,
    SETTLED_STATUS,
    MUTES_NOTIFICATIONS,
    PHASES_SIDE_BY_SIDE,
    CONTENT_ORDER,
    DELTA_MUTES_NOTIFICATIONS,
    RAMPED_BATCHES,
)


def payloads_in(message) -> list[Payload]:
    """Every Payload inside a proto message, except search attributes (plaintext by design: the UI
    filters on them) and patch markers (the SDK writes only the patch's name there, past any codec)."""
    if isinstance(message, Payload):
        return [message]
    if isinstance(message, SearchAttributes):
        return []
    if isinstance(message, MarkerRecordedEventAttributes) and message.marker_name == "core_patch":
        for p in message.details["patch-data"].payloads:
            assert json.loads(p.data) in ({"id": name, "deprecated": False} for name in PATCHES), p.data
        return []
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = value.values()
        elif getattr(field, "is_repeated", False):
            values = value
        else:
            values = [value]
        for v in values:
            if hasattr(v, "ListFields"):
                found += payloads_in(v)
    return found


def codec_app(stack):
    app = create_app(stack.settings)
    app.state.service = stack.service  # the stack's client carries the codec; no lifespan needed
    return app


def as_json(p: Payload) -> dict:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
        "data": base64.b64encode(p.data).decode(),
    }


async def test_history_has_no_plaintext_and_decodes_through_the_endpoint(stack, worker):
    with running_sandbox(items=12, seed=61) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="codec-tester@acme.example", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)

    # What an operator without the key sees: Temporal's own view of the history.
    raw = await Client.connect(stack.temporal_address, data_converter=pydantic_data_converter)
    history = await raw.get_workflow_handle(run_id).fetch_history()
    payloads = [p for event in history.events for p in payloads_in(event)]
    assert len(payloads) > 20  # input, every activity's input and result, the result
    secrets = [run_id, migration_id, TENANT, "codec-tester", "sandbox-pat", "PHX"]
    for p in payloads:
        assert p.metadata["encoding"] == ENCODING
        # The workflow id is Temporal's own label of the history; the payload names it only as its binding.
        assert binding_of(p).workflow_id == run_id
        blob = p.data + b"".join(v for k, v in p.metadata.items() if k != BOUND_WORKFLOW_ID)
        assert not [s for s in secrets if s.encode() in blob]
    # The run stays filterable by tenant in the Temporal UI: search attributes are not payload data.
    listed = [w.id async for w in raw.list_workflows(f"MigrayTenant = '{TENANT}'")]
    assert run_id in listed

    started = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    ui_origin = f"http://127.0.0.1:{stack.settings.temporal_ui_port}"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=codec_app(stack)), base_url="http://localhost", timeout=10
    ) as http:
        preflight = await http.options(
            "/codec/decode", headers={"Origin": ui_origin, "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == ui_origin
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        foreign = await http.options(
            "/codec/decode", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in foreign.headers

        decoded = await http.post(
            "/codec/decode",
            json={"payloads": [as_json(started)]},
            headers={"Origin": ui_origin, "X-Namespace": "default"},
        )
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-origin"] == ui_origin
        [back] = decoded.json()["payloads"]
        text = base64.b64decode(back["data"]).decode()
        assert run_id in text and migration_id in text and TENANT in text
        assert base64.b64decode(back["metadata"]["encoding"]) == b"json/plain"

        # encode → decode through the endpoint is the identity; garbage is a 400, not a 500.
        enc = await http.post("/codec/encode", json={"payloads": [back]})
        assert base64.b64decode(enc.json()["payloads"][0]["metadata"]["encoding"]) == ENCODING
        again = await http.post("/codec/decode", json=enc.json())
        assert again.json()["payloads"][0]["data"] == back["data"]
        bad = await http.post(
            "/codec/decode",
            json={"payloads": [{"metadata": {"encoding": base64.b64encode(ENCODING).decode()}, "data": "AAAA"}]},
        )
        assert bad.status_code == 400
        assert (await http.post("/codec/decode", json={"payloads": [{"data": "%%%"}]})).status_code == 400

    # Replay needs the same converter as the worker had; a decrypted copy replays with no keys at all
    # (what tests/replay commits).
    encrypted = await stack.service.handle(run_id).fetch_history()
    replayed = await Replayer(
        workflows=[MigrationRunWorkflow], data_converter=stack.client.data_converter
    ).replay_workflow(encrypted)
    assert replayed.replay_failure is None
    plain = await decoded_history(encrypted, stack.client.data_converter.payload_codec)
    plain_payloads = [p for event in plain.events for p in payloads_in(event)]
    assert len(plain_payloads) == len([p for event in encrypted.events for p in payloads_in(event)]) and not [
        p for p in plain_payloads if p.metadata["encoding"] == ENCODING
    ]
    assert run_id.encode() in plain.events[0].workflow_execution_started_event_attributes.input.payloads[0].data
    keyless = await Replayer(workflows=[MigrationRunWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        plain
    )
    assert keyless.replay_failure is None
