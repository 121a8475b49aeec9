"""Savepoint files: sign and verify, write into the savepoint folder keeping the last K, and the ledger's
side (a migration's records out to a file, a file's records into a new migration's ledger).

Canonical bytes: the body as JSON with sorted keys and no spaces; the checksum is their SHA-256 and
the signature their HMAC-SHA256 under a key derived (HKDF) from the installation's secret key
(`MIGRAYT_SECRET_KEY`, or the generated one in the state folder on the embedded default). The derived
key is never written; the file names it by a fingerprint, so a savepoint from another installation is
refused as such. A fresh installation reads the savepoints of the old one when it is given the same
secret key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.connections_store import secret_key_for
from migrayt.contracts.savepoints import (
    FORMAT,
    SCHEMA_VERSION,
    SavepointBody,
    SavepointFile,
    SavepointIdentity,
    SavepointInfo,
    SavepointRecord,
)
from migrayt.settings import Settings
from migrayt.store import item_records
from migrayt.store.models import ItemRecord

_KEY_INFO = b"migrayt savepoint signature v1"
_NAME = re.compile(r"^savepoint-\d{8}T\d{12}Z-[a-z_]+(-[a-z0-9_]+)?\.json$")
# Run ids as the doors make them, scheduled ones with their ISO start time ("delta-…-2026-12-06T05:42:05Z"):
# a folder name of one path segment, never "." or "..".
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_:.-]{0,99}$")


class SavepointInvalid(ValueError):
    """A savepoint that is not to be trusted; the message says why in the user's words (never key material)."""


# --- the format ----------------------------------------------------------------------------------


def signing_key(settings: Settings) -> bytes:
    secret = secret_key_for(settings).get_secret_value().encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(secret)


def key_fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"fingerprint:" + key).hexdigest()[:16]


def canonical(body: SavepointBody) -> bytes:
    return json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()


def checksum_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def signature_of(data: bytes, key: bytes) -> str:
    return "hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()


def seal(body: SavepointBody, key: bytes) -> SavepointFile:
    data = canonical(body)
    return SavepointFile(
        body=body, checksum=checksum_of(data), signature=signature_of(data, key), key_fingerprint=key_fingerprint(key)
    )


def dumps(savepoint: SavepointFile) -> bytes:
    # Compact: an upload is capped by MIGRAYT_MAX_BODY_BYTES (1 MB holds about 8,000 records).
    return json.dumps(savepoint.model_dump(mode="json"), separators=(",", ":")).encode() + b"\n"


def verify(raw: bytes, key: bytes) -> SavepointFile:
    """The savepoint in `raw`, or SavepointInvalid: not a savepoint, a schema this Migrayt does not read,
    a checksum that does not match (changed after it was written), or another installation's signature."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SavepointInvalid("not a savepoint: the file is not JSON") from None
    body = data.get("body") if isinstance(data, dict) else None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise SavepointInvalid("not a savepoint: the file is not a Migrayt savepoint")
    if body.get("schema_version") != SCHEMA_VERSION:
        raise SavepointInvalid(
            f"savepoint schema version {body.get('schema_version')!r} is not supported "
            f"(this Migrayt reads version {SCHEMA_VERSION})"
        )
    try:
        savepoint = SavepointFile.model_validate(data)
    except ValidationError as err:
        raise SavepointInvalid(f"savepoint refused: {err.error_count()} field(s) do not fit its schema") from None
    # The checksum is of the bytes as written: a parsed-and-dumped body must give the same bytes.
    raw_body = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    if raw_body != canonical(savepoint.body) or not hmac.compare_digest(savepoint.checksum, checksum_of(raw_body)):
        raise SavepointInvalid(
            "savepoint refused: its checksum does not match — the file was changed after it was written"
        )
    if not hmac.compare_digest(savepoint.key_fingerprint, key_fingerprint(key)):
        raise SavepointInvalid(
            "savepoint refused: it was signed by another installation's key; start this installation with the "
            "same MIGRAYT_SECRET_KEY as the one that wrote it"
        )
    if not hmac.compare_digest(savepoint.signature, signature_of(raw_body, key)):
        raise SavepointInvalid("savepoint refused: its signature does not match — the file was not written as it is")
    return savepoint


def identity_of(source: SourceConnection, target: TargetConnection) -> SavepointIdentity:
    return SavepointIdentity(
        ado_organization=str(source.organization_url).rstrip("/").lower(),
        ado_project=source.project,
        jira_site=str(target.base_url).rstrip("/").lower(),
        jira_project=target.project_key,
    )


def identity_differences(found: SavepointIdentity, expected: SavepointIdentity) -> list[str]:
    """What differs, in the user's words ("Jira project PHX, not OTHER"); empty when the savepoint fits."""
    names = {
        "ado_organization": "ADO organisation",
        "ado_project": "ADO project",
        "jira_site": "Jira site",
        "jira_project": "Jira project",
    }
    return [
        f"{label} {getattr(found, field)}, not {getattr(expected, field)}"
        for field, label in names.items()
        if str(getattr(found, field)).lower() != str(getattr(expected, field)).lower()
    ]


# --- the folder ----------------------------------------------------------------------------------


def folder(settings: Settings) -> Path:
    return (settings.savepoint_dir or settings.state_dir / "savepoints").expanduser().resolve()


def _run_folder(settings: Settings, run_id: str) -> Path:
    if not _RUN_ID.match(run_id):
        raise SavepointInvalid(f"no savepoints for run {run_id!r}")
    return folder(settings) / run_id


def file_name(body: SavepointBody) -> str:
    stamp = body.written_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    phase = f"-{body.phase}" if body.phase else ""
    return f"savepoint-{stamp}-{body.reason}{phase}.json"


def write(settings: Settings, savepoint: SavepointFile, keep: int) -> str:
    """Writes the file under the run's folder (atomically, 0600) and deletes all but the newest `keep`."""
    return _write_file(settings, savepoint.body, dumps(savepoint), keep)


def write_rows(settings: Settings, head: SavepointBody, rows: Sequence[LedgerRow], key: bytes, keep: int) -> str:
    """`write(seal(body))` for the body `head` holding `rows` as its records, the canonical JSON made a slice of
    records at a time: one `model_dump` or `json.dumps` of 90,000 records holds the GIL for the whole ledger, and the
    worker's event loop, in another thread, waits as long. Its checksum and signature are those `seal` gives."""
    mark = f"records-{secrets.token_hex(16)}"
    before, after = json.dumps(
        {**head.model_dump(mode="json"), "records": mark}, sort_keys=True, separators=(",", ":")
    ).split(f'"{mark}"', 1)
    parts = [before.encode(), b"["]
    for start in range(0, len(rows), SEAL_ROWS_AT_ONCE):
        records = [
            {"kind": kind, "source_key": source, "target_key": target, "state": state, "detail": detail or {}}
            for kind, source, target, state, detail in rows[start : start + SEAL_ROWS_AT_ONCE]
        ]
        text = json.dumps(records, sort_keys=True, separators=(",", ":"))
        parts.append((b"," if start else b"") + text[1:-1].encode())
    parts += [b"]", after.encode()]
    data = b"".join(parts)
    trailer = json.dumps(
        {
            "checksum": checksum_of(data),
            "signature": signature_of(data, key),
            "key_fingerprint": key_fingerprint(key),
        },
        separators=(",", ":"),
    )
    return _write_file(settings, head, b'{"body":' + data + b"," + trailer[1:].encode() + b"\n", keep)


def _write_file(settings: Settings, body: SavepointBody, data: bytes, keep: int) -> str:
    run_id = body.run_id or body.migration_id
    target = _run_folder(settings, run_id)
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = file_name(body)
    tmp = target / f".{name}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, target / name)
    rotate(target, keep)
    return name


def rotate(run_folder: Path, keep: int) -> list[str]:
    """Deletes all but the newest `keep` savepoints of a run (names sort by the time they were written)."""
    names = sorted(p.name for p in run_folder.iterdir() if _NAME.match(p.name))
    gone = names[: max(len(names) - max(keep, 1), 0)]
    for name in gone:
        (run_folder / name).unlink(missing_ok=True)
    return gone


def forget_run(settings: Settings, run_id: str) -> int:
    """Deletes a run's savepoints (its migration is deleted: they hold its item records); how many went."""
    run_folder = _run_folder(settings, run_id)
    if not run_folder.is_dir():
        return 0
    names = [p for p in run_folder.iterdir() if _NAME.match(p.name)]
    for path in names:
        path.unlink(missing_ok=True)
    try:
        run_folder.rmdir()
    except OSError:
        pass  # something else lives there (a write under way keeps its temporary file): leave the folder
    return len(names)


def listing(settings: Settings, run_id: str) -> list[SavepointInfo]:
    """The run's savepoints, newest first."""
    run_folder = _run_folder(settings, run_id)
    if not run_folder.is_dir():
        return []
    out: list[SavepointInfo] = []
    for path in sorted((p for p in run_folder.iterdir() if _NAME.match(p.name)), reverse=True):
        try:
            body = SavepointFile.model_validate_json(path.read_bytes()).body
        except (OSError, ValidationError):
            continue
        out.append(
            SavepointInfo(
                name=path.name,
                run_id=run_id,
                reason=body.reason,
                phase=body.phase,
                written_at=body.written_at,
                records=len(body.records),
                size_bytes=path.stat().st_size,
            )
        )
    return out


def read(settings: Settings, run_id: str, name: str) -> bytes:
    if not _NAME.match(name):
        raise SavepointInvalid(f"no savepoint {name!r} for run {run_id}")
    path = _run_folder(settings, run_id) / name
    if not path.is_file():
        raise SavepointInvalid(f"no savepoint {name!r} for run {run_id}")
    return path.read_bytes()


# --- the ledger ----------------------------------------------------------------------------------


# Rows a savepoint reads from the ledger at a time: each slice is a short turn of the event loop, so a ledger of
# 100,000 records does not hold the worker's heartbeats and workflow tasks while it is read.
LEDGER_ROWS_AT_ONCE = 2000
# Records turned into JSON at a time when a savepoint is written: a few milliseconds each.
SEAL_ROWS_AT_ONCE = 1000

LedgerRow = tuple[str, str, str | None, str, dict[str, Any] | None]


async def ledger_rows(session: AsyncSession, migration_id: str) -> list[LedgerRow]:
    """The migration's item records as plain rows, read a slice at a time (`write_rows` makes the file of them)."""
    result = await session.stream(
        select(ItemRecord.kind, ItemRecord.source_key, ItemRecord.target_key, ItemRecord.state, ItemRecord.detail)
        .where(ItemRecord.migration_id == migration_id)
        .order_by(ItemRecord.kind, ItemRecord.source_key)
        .execution_options(yield_per=LEDGER_ROWS_AT_ONCE)
    )
    rows: list[LedgerRow] = []
    async for part in result.partitions():
        rows.extend(tuple(r) for r in part)
    return rows


async def import_records(
    session: AsyncSession, migration_id: str, records: Sequence[SavepointRecord], run_id: str
) -> dict[str, int]:
    """Writes a savepoint's records into a migration's ledger: done ones as done with their Jira key (the run
    skips them), pending ones as pending (the run reconciles them with Jira before writing); failed ones
    are left out, so the run tries them again. Never downgrades a record the ledger already has done."""
    done: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    pending: dict[str, list[str]] = {}
    for r in records:
        if r.state == item_records.DONE and r.target_key:
            done.setdefault(r.kind, []).append((r.source_key, r.target_key, r.detail))
        elif r.state == item_records.PENDING:
            pending.setdefault(r.kind, []).append(r.source_key)
    counts = {"done": 0, "pending": 0}
    for kind, rows in done.items():
        for i in range(0, len(rows), 1000):
            await item_records.mark_done_many(session, migration_id, kind, rows[i : i + 1000], run_id)
        counts["done"] += len(rows)
    for kind, keys in pending.items():
        for i in range(0, len(keys), 1000):
            await item_records.mark_pending(session, migration_id, kind, keys[i : i + 1000], run_id)
        counts["pending"] += len(keys)
    return counts


def now() -> datetime:
    return datetime.now(UTC)
