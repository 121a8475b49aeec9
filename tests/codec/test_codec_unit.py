"""The codec itself: round trip, key rotation, refusals that name the key id and never the key."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload

from migrayt.settings import Settings
from migrayt.worker.codec import ENCODING, KEY_ID, CodecKeyError, CodecSettings, EncryptionCodec, data_converter, keys_for, parse_keys


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
    for spec in (f"no-colon{secret}", f"k1:{secret[:-3]}!!", "k1:" + base64.b64encode(b"short").decode(), f"k:{secret},k:{secret}", " , "):
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
