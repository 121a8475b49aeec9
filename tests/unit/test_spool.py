"""The spool a large file goes through: a re-send reads what was had from disk and fetches only the rest."""

from __future__ import annotations

import hashlib

from migrayt.activities.execution.content_io import SPOOLED, Spool

DATA = bytes(range(256)) * 4096 * 4  # 4 MiB
PIECE = 64 * 1024


def source(calls: list[int]):
    def fetch(start: int):
        calls.append(start)

        async def gen():
            for i in range(start, len(DATA), PIECE):
                yield DATA[i : i + PIECE]

        return gen()

    return fetch


async def test_a_resend_after_a_cut_attempt_reads_the_spool_then_fetches_from_where_it_stopped(tmp_path):
    calls: list[int] = []
    spool = Spool(source(calls), tmp_path)
    first = spool()
    got = b""
    async for chunk in first:  # an upload answered 429 part-way: its body is dropped
        got += chunk
        if len(got) >= 2 * 1024 * 1024:
            break
    await first.aclose()
    cut = spool.spooled
    assert cut >= len(got)  # all it handed out is on disk
    assert spool.sha256 is None and list(tmp_path.iterdir()) == []  # unlinked from the start
    second = b"".join([c async for c in spool()])
    third = b"".join([c async for c in spool()])
    assert second == third == DATA and calls == [0, cut]
    assert spool.sha256 == hashlib.sha256(DATA).hexdigest()
    before = SPOOLED.now
    spool.close()
    assert SPOOLED.now == before - len(DATA)
