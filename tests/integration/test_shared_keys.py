"""Every API and worker must share the codec keys: a worker given another key refuses to start, with a message
naming the setting, instead of taking tasks whose payloads it cannot read."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid

import pytest

from migrayt.ops.shared_keys import SharedKeyMismatch, compare, fingerprint
from tests.integration.harness import WorkerProcess


def codec_keys(kid: str) -> tuple[str, bytes]:
    key = os.urandom(32)
    return f"{kid}:{base64.b64encode(key).decode()}", key


async def polling_or_exited(worker: WorkerProcess) -> int | None:
    """None once the worker polls its task queue; its exit code if it ends first."""
    while True:
        if worker.log_path.exists() and "worker polling task queue" in worker.log_path.read_text():
            return None
        if worker.proc.poll() is not None:
            return worker.proc.returncode
        await asyncio.sleep(0.2)


async def test_a_worker_with_another_codec_key_refuses_to_start_and_one_with_the_same_key_starts(stack, tmp_path):
    queue = f"keys-{uuid.uuid4().hex[:8]}"  # a cluster of its own: the first worker records its keys
    ours, our_key = codec_keys("k1")
    other_key_same_id, _ = codec_keys("k1")
    unknown_id, _ = codec_keys("k9")

    def worker(name: str, spec: str) -> WorkerProcess:
        env = {"MIGRAYT_TASK_QUEUE": queue, "MIGRAYT_CODEC_KEYS": spec, "MIGRAYT_LOG_FORMAT": "text"}
        return WorkerProcess(stack, tmp_path / f"{name}.log", env=env)

    first, same = worker("first", ours), worker("same", ours)
    refused = [worker("other-key", other_key_same_id), worker("unknown-id", unknown_id)]
    try:
        first.start()
        assert await polling_or_exited(first) is None
        for w in refused:
            w.start()
            assert await polling_or_exited(w) == 2
        # Rotation: the new key first and the old one after it is the same cluster.
        same = worker("rotated", f"{codec_keys('k2')[0]},{ours}")
        same.start()
        assert await polling_or_exited(same) is None
    finally:
        for w in (first, same, *refused):
            w.stop()

    said = (tmp_path / "other-key.log").read_text()
    assert "the worker refuses to start" in said and "MIGRAYT_CODEC_KEYS (key id 'k1') differs" in said
    assert f"task queue {queue!r}" in said
    assert "none of this process's codec keys" in (tmp_path / "unknown-id.log").read_text()
    for w in (first, same, *refused):
        assert base64.b64encode(our_key).decode() not in w.log_path.read_text()


def test_a_secret_key_that_differs_is_named_and_never_shown():
    recorded = {"codec:k1": fingerprint(b"a" * 32), "secret_key": fingerprint(b"fernet-1")}
    compare(recorded, {"codec:k1": fingerprint(b"a" * 32), "secret_key": fingerprint(b"fernet-1")}, "here")
    with pytest.raises(SharedKeyMismatch, match="MIGRAYT_SECRET_KEY differs") as refused:
        compare(recorded, {"codec:k1": fingerprint(b"a" * 32), "secret_key": fingerprint(b"fernet-2")}, "here")
    assert "fernet-2" not in str(refused.value)
