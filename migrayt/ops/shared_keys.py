"""The keys every API and worker must share, checked when one starts instead of failing payloads later.

A worker with another codec key would take a run's tasks and fail every one of them (it cannot read their
payloads), and the API could not read what the workers wrote; with another MIGRAYT_SECRET_KEY a worker cannot open
saved connections. So each process compares its keys' fingerprints with those the first process of the same
namespace and task queue recorded in PostgreSQL, and refuses to start on a difference, naming the key.

A fingerprint is an HMAC-SHA256 of a fixed text under the key: it tells keys apart and reveals nothing of them.
Codec keys are compared by key id, so rotation works as deploy/README.md says: a node with the new key first and
the old one after it shares the old id with the nodes not yet rolled, and records the new one. A node refuses if a
key id it has carries another key than the recorded one, or if none of its key ids is one the cluster knows.
The admin token is not checked: rotating it is a rolling update during which old and new pods differ by design.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from migrayt.settings import Settings
from migrayt.store.db import create_engine, session_factory
from migrayt.store.models import SharedKeyFingerprint

FINGERPRINT_TEXT = b"migrayt shared key fingerprint v1"
CODEC = "codec:"
SECRET_KEY = "secret_key"
SHOWN = 12  # hex digits of a fingerprint shown in a message: enough to compare two by eye


class SharedKeyMismatch(Exception):
    """This process's keys differ from the cluster's; the message names the key and never contains it."""


def fingerprint(key: bytes) -> str:
    return hmac.new(key, FINGERPRINT_TEXT, hashlib.sha256).hexdigest()


def fingerprints_of(settings: Settings) -> dict[str, str]:
    """{key name: fingerprint} of the keys this process holds that every node must share."""
    from migrayt.temporal.codec import keys_for

    found = {f"{CODEC}{kid}": fingerprint(key) for kid, key in keys_for(settings).items()}
    if settings.secret_key is not None:
        found[SECRET_KEY] = fingerprint(settings.secret_key.get_secret_value().encode())
    return found


def _setting(name: str) -> str:
    return "MIGRAYT_SECRET_KEY" if name == SECRET_KEY else f"MIGRAYT_CODEC_KEYS (key id {name.removeprefix(CODEC)!r})"


def compare(recorded: dict[str, str], mine: dict[str, str], where: str) -> None:
    """SharedKeyMismatch when a key differs from the recorded one, or when none of the codec keys is known."""
    for name, mine_fp in sorted(mine.items()):
        theirs = recorded.get(name)
        if theirs is not None and theirs != mine_fp:
            raise SharedKeyMismatch(
                f"{_setting(name)} differs from the one the other Migrayt processes of {where} use "
                f"(fingerprint {mine_fp[:SHOWN]}…, theirs {theirs[:SHOWN]}…). Every API and worker must be given "
                "the same keys: see deploy/README.md, 'Keys'."
            )
    known = {n for n in recorded if n.startswith(CODEC)}
    codec = {n for n in mine if n.startswith(CODEC)}
    if known and not known & codec:
        ids = ", ".join(sorted(n.removeprefix(CODEC) for n in known))
        raise SharedKeyMismatch(
            f"none of this process's codec keys (MIGRAYT_CODEC_KEYS) is one the other Migrayt processes of {where} "
            f"use (their key ids: {ids}): it could not read their payloads. Give every API and worker the same "
            "MIGRAYT_CODEC_KEYS (when rotating, the new key first and the old one after it): see deploy/README.md."
        )


async def check_shared_keys(engine: AsyncEngine, settings: Settings, role: str) -> None:
    """Compare this process's key fingerprints with the recorded ones and record those not there yet.

    One transaction under an advisory lock per namespace and task queue, so two processes starting at once
    cannot both record a different first key."""
    mine = fingerprints_of(settings)
    ns, queue = settings.temporal_namespace, settings.task_queue
    where = f"namespace {ns!r}, task queue {queue!r}"
    who = f"{role} {os.getpid()}@{socket.gethostname()}"[:200]
    async with session_factory(engine)() as session, session.begin():
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"migrayt-keys/{ns}/{queue}"}
        )
        rows = await session.execute(
            select(SharedKeyFingerprint.key_name, SharedKeyFingerprint.fingerprint).where(
                SharedKeyFingerprint.namespace == ns, SharedKeyFingerprint.task_queue == queue
            )
        )
        recorded = dict(rows.all())
        compare(recorded, mine, where)
        new = [n for n in mine if n not in recorded]
        if new:
            await session.execute(
                insert(SharedKeyFingerprint)
                .values(
                    [
                        dict(namespace=ns, task_queue=queue, key_name=n, fingerprint=mine[n], recorded_by=who)
                        for n in new
                    ]
                )
                .on_conflict_do_nothing()
            )


async def check_shared_keys_at(database_url: str, settings: Settings, role: str) -> None:
    """`check_shared_keys` on an engine of its own (for `migrayt api`, before its app has one)."""
    engine = create_engine(database_url)
    try:
        await check_shared_keys(engine, settings, role)
    finally:
        await engine.dispose()
