"""The codec itself: round trip, key rotation, refusals that name the key id and never the key."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload

from migrayt.settings import Settings
from migrayt.temporal.codec import (
    ENCODING,
    KEY_ID,
    CodecKeyError,
    CodecSettings,
    EncryptionCodec,
    data_converter,
    keys_for,
    parse_keys,
)


def key() -> bytes:
    return os.urandom(32)


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_round_trip_hides_the_data_and_names_the_key():
    codec = EncryptionCodec({"k1": key()})
    [sealed] = await codec.encode([plain('{"run_id": "run-secret-1"}')])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k1"
    assert b"run-secret-1" not in sealed.SerializeToString()
    [back] = await codec.decode([sealed])
    assert back == plain('{"run_id": "run-secret-1"}')


async def test_rotation_new_key_encrypts_old_key_still_decrypts():
    old, new = key(), key()
    [from_old] = await EncryptionCodec({"old": old}).encode([plain("before rotation")])
    rotated = EncryptionCodec({"new": new, "old": old})
    [from_new] = await rotated.encode([plain("after rotation")])
    assert from_new.metadata[KEY_ID] == b"new"
    assert [p.data for p in await rotated.decode([from_old, from_new])] == [b"before rotation", b"after rotation"]
    with pytest.raises(ValueError, match="'old'"):
        await EncryptionCodec({"new": new}).decode([from_old])


async def test_tampering_and_relabelling_are_refused():
    a, b = key(), key()
    codec = EncryptionCodec({"a": a, "b": b})
    [sealed] = await codec.encode([plain("x" * 40)])
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"b"}, data=sealed.data)
    for bad in (flipped, relabelled):
        with pytest.raises(ValueError, match="failed authentication"):
            await codec.decode([bad])


async def test_plaintext_payloads_from_before_the_codec_pass_through():
    codec = EncryptionCodec({"k": key()})
    assert await codec.decode([plain("legacy")]) == [plain("legacy")]


def test_bad_key_lists_are_refused_without_echoing_the_key():
    secret = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    for spec in (
        f"no-colon{secret}",
        f"k1:{secret[:-3]}!!",
        "k1:" + base64.b64encode(b"short").decode(),
        f"k:{secret},k:{secret}",
        " , ",
    ):
        with pytest.raises(CodecKeyError) as err:
            parse_keys(spec)
        assert secret not in str(err.value)
    assert list(parse_keys(f"first:{secret}, second:{secret}")) == ["first", "second"]


async def test_embedded_default_generates_one_key_and_keeps_it(tmp_path):
    settings = Settings(state_dir=tmp_path)
    first = keys_for(settings, CodecSettings(codec_keys=None))
    assert keys_for(settings, CodecSettings(codec_keys=None)) == first
    assert (tmp_path / "codec-keys").stat().st_mode & 0o077 == 0
    # Two converters built from the same state dir (worker and API) read each other's payloads.
    one, two = (data_converter(settings, CodecSettings(codec_keys=None)) for _ in range(2))
    [sealed] = await one.payload_codec.encode([plain("shared")])
    assert (await two.payload_codec.decode([sealed]))[0].data == b"shared"


def test_configured_keys_win_over_the_state_dir(tmp_path):
    spec = "prod-2:" + base64.b64encode(key()).decode()
    keys = keys_for(Settings(state_dir=tmp_path), CodecSettings(codec_keys=spec))
    assert list(keys) == ["prod-2"]
    assert not (tmp_path / "codec-keys").exists()


def run_context(workflow_id: str, namespace: str = "default"):
    from temporalio.converter import WorkflowSerializationContext

    return WorkflowSerializationContext(namespace=namespace, workflow_id=workflow_id)


async def test_a_payload_is_bound_to_its_workflow_and_cannot_be_moved_to_another():
    from temporalio.converter import ActivitySerializationContext

    from migrayt.temporal.codec import BOUND_NAMESPACE, BOUND_WORKFLOW_ID, Binding, binding_of

    codec = EncryptionCodec({"k": key()})
    [bound] = await codec.with_context(run_context("run-aaa")).encode([plain("tenant A's summary")])
    assert bound.metadata[BOUND_WORKFLOW_ID] == b"run-aaa" and bound.metadata[BOUND_NAMESPACE] == b"default"
    assert binding_of(bound) == Binding("default", "run-aaa")
    # An activity's payloads are bound to the workflow that runs it.
    activity = ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="x",
        activity_task_queue="q",
        workflow_id="run-aaa",
        workflow_type="MigrationRunWorkflow",
        is_local=False,
    )
    [from_activity] = await codec.with_context(activity).encode([plain("result")])
    assert binding_of(from_activity) == Binding("default", "run-aaa")
    # Decoding trusts the payload's own binding, whatever the decode context says (schedules, continue-as-new).
    assert (await codec.with_context(run_context("other")).decode([bound]))[0].data == b"tenant A's summary"
    assert (await codec.decode([bound]))[0].data == b"tenant A's summary"

    moved = Payload(metadata={**bound.metadata, BOUND_WORKFLOW_ID: b"run-bbb"}, data=bound.data)
    other_namespace = Payload(metadata={**bound.metadata, BOUND_NAMESPACE: b"prod"}, data=bound.data)
    stripped = Payload(
        metadata={k: v for k, v in bound.metadata.items() if k not in (BOUND_WORKFLOW_ID, BOUND_NAMESPACE)},
        data=bound.data,
    )
    for bad in (moved, other_namespace, stripped):
        with pytest.raises(ValueError, match="failed authentication"):
            await codec.decode([bad])
    # Nor can an unbound payload be claimed for a workflow.
    [unbound] = await codec.encode([plain("no workflow")])
    assert binding_of(unbound) is None
    with pytest.raises(ValueError, match="failed authentication"):
        await codec.decode(
            [
                Payload(
                    metadata={**unbound.metadata, BOUND_WORKFLOW_ID: b"run-aaa", BOUND_NAMESPACE: b"default"},
                    data=unbound.data,
                )
            ]
        )


async def test_payloads_from_before_the_binding_still_decode_and_rotation_keeps_bindings():
    from migrayt.temporal.codec import BOUND_WORKFLOW_ID

    old, new = key(), key()
    # What the codec wrote before payloads were bound: the key id alone as associated data.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    legacy = Payload(
        metadata={"encoding": ENCODING, KEY_ID: b"old"},
        data=nonce + AESGCM(old).encrypt(nonce, plain("legacy").SerializeToString(), b"old"),
    )
    [bound_old] = (
        await EncryptionCodec({"old": old}).with_context(run_context("run-1")).encode([plain("bound, old key")])
    )
    rotated = EncryptionCodec({"new": new, "old": old})
    [bound_new] = await rotated.with_context(run_context("run-1")).encode([plain("bound, new key")])
    assert bound_new.metadata[KEY_ID] == b"new" and bound_new.metadata[BOUND_WORKFLOW_ID] == b"run-1"
    assert [p.data for p in await rotated.decode([legacy, bound_old, bound_new])] == [
        b"legacy",
        b"bound, old key",
        b"bound, new key",
    ]
    # A context without a workflow (a plain client call) encodes unbound again.
    from temporalio.converter import SerializationContext

    assert (
        BOUND_WORKFLOW_ID
        not in (
            await rotated.with_context(run_context("run-1")).with_context(SerializationContext()).encode([plain("x")])
        )[0].metadata
    )
