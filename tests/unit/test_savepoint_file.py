"""The savepoint file: a versioned schema, a checksum, a signature under the installation's key, the last K kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from migrayt.contracts.savepoints import SavepointBody, SavepointIdentity, SavepointRecord
from migrayt.core.savepoints import sample
from migrayt.settings import Settings
from migrayt.store import savepoints
from migrayt.store.savepoints import SavepointInvalid

KEY_A = "q1oY4mB1dV9zZ6w1o3Bv0cTq3yM6cP5zX8lJr2nK7aE="
KEY_B = "Zx0c9v8b7n6m5l4k3j2h1g0f9e8d7c6b5a4Z3Y2X1W0="
IDENTITY = SavepointIdentity(
    ado_organization="https://dev.azure.com/acme",
    ado_project="Phoenix",
    jira_site="https://acme.atlassian.net",
    jira_project="PHX",
)


def settings(tmp_path: Path, key: str = KEY_A, **more) -> Settings:
    return Settings(state_dir=tmp_path / "state", secret_key=SecretStr(key), **more)


def body(records: int = 3, at: datetime | None = None, reason: str = "phase_end", phase: str | None = "links"):
    return SavepointBody(
        migration_id="mig-1",
        run_id="run-abc",
        written_at=at or datetime(2026, 12, 6, 4, 30, tzinfo=UTC),
        reason=reason,
        phase=phase,
        plan_version=2,
        identity=IDENTITY,
        records=[
            SavepointRecord(kind="issue", source_key=str(i), target_key=f"PHX-{i}", state="done")
            for i in range(1, records + 1)
        ],
    )


def test_a_sealed_savepoint_reads_back_with_the_same_key(tmp_path):
    key = savepoints.signing_key(settings(tmp_path))
    raw = savepoints.dumps(savepoints.seal(body(), key))
    read = savepoints.verify(raw, key)
    assert read.body == body()
    data = json.loads(raw)
    assert data["body"]["schema_version"] == 1 and data["body"]["format"] == "migrayt-savepoint"
    assert data["checksum"].startswith("sha256:") and data["signature"].startswith("hmac-sha256:")


def test_the_key_is_derived_and_never_written(tmp_path):
    key = savepoints.signing_key(settings(tmp_path))
    assert key != KEY_A.encode() and len(key) == 32
    raw = savepoints.dumps(savepoints.seal(body(), key)).decode()
    assert KEY_A not in raw and key.hex() not in raw


def test_a_changed_record_fails_the_checksum(tmp_path):
    key = savepoints.signing_key(settings(tmp_path))
    data = json.loads(savepoints.dumps(savepoints.seal(body(), key)))
    data["body"]["records"][0]["target_key"] = "PHX-999"
    with pytest.raises(SavepointInvalid, match="checksum does not match"):
        savepoints.verify(json.dumps(data).encode(), key)


def test_a_changed_file_with_its_checksum_recomputed_fails_the_signature(tmp_path):
    key = savepoints.signing_key(settings(tmp_path))
    data = json.loads(savepoints.dumps(savepoints.seal(body(), key)))
    data["body"]["records"][0]["target_key"] = "PHX-999"
    forged = savepoints.seal(savepoints.SavepointBody.model_validate(data["body"]), b"x" * 32)
    data["checksum"] = forged.checksum
    data["signature"] = forged.signature
    with pytest.raises(SavepointInvalid, match="signature does not match"):
        savepoints.verify(json.dumps(data).encode(), key)


def test_an_added_field_fails_the_checksum(tmp_path):
    key = savepoints.signing_key(settings(tmp_path))
    data = json.loads(savepoints.dumps(savepoints.seal(body(), key)))
    data["body"]["extra"] = "x"
    with pytest.raises(SavepointInvalid, match="checksum"):
        savepoints.verify(json.dumps(data).encode(), key)


def test_another_installations_savepoint_is_named_as_such(tmp_path):
    raw = savepoints.dumps(savepoints.seal(body(), savepoints.signing_key(settings(tmp_path, KEY_B))))
    with pytest.raises(SavepointInvalid, match="another installation's key.*MIGRAYT_SECRET_KEY"):
        savepoints.verify(raw, savepoints.signing_key(settings(tmp_path)))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not JSON"),
        (b'{"body": {"format": "other"}}', "not a Migrayt savepoint"),
        (b'{"body": {"format": "migrayt-savepoint", "schema_version": 2}}', "schema version 2 is not supported"),
        (b'{"body": {"format": "migrayt-savepoint", "schema_version": 1}}', "do not fit its schema"),
    ],
)
def test_what_is_not_a_savepoint_this_migrayt_reads_is_refused(tmp_path, raw, message):
    with pytest.raises(SavepointInvalid, match=message):
        savepoints.verify(raw, savepoints.signing_key(settings(tmp_path)))


def test_the_folder_keeps_the_newest_k_of_a_run(tmp_path):
    s = settings(tmp_path, savepoints_kept=3)
    key = savepoints.signing_key(s)
    start = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
    names = [
        savepoints.write(s, savepoints.seal(body(records=n, at=start + timedelta(minutes=n)), key), s.savepoints_kept)
        for n in range(1, 6)
    ]
    listed = savepoints.listing(s, "run-abc")
    assert [i.name for i in listed] == list(reversed(names[-3:]))  # newest first
    assert [i.records for i in listed] == [5, 4, 3]
    assert (tmp_path / "state" / "savepoints" / "run-abc").is_dir()
    assert oct((tmp_path / "state" / "savepoints" / "run-abc" / names[-1]).stat().st_mode & 0o777) == "0o600"
    assert savepoints.verify(savepoints.read(s, "run-abc", names[-1]), key).body.records[-1].target_key == "PHX-5"


def test_the_folder_is_configurable_and_names_cannot_leave_it(tmp_path):
    s = settings(tmp_path, savepoint_dir=tmp_path / "elsewhere")
    name = savepoints.write(s, savepoints.seal(body(), savepoints.signing_key(s)), 5)
    assert (tmp_path / "elsewhere" / "run-abc" / name).is_file()
    for bad in ("../../state/secret-key", "savepoint-x.json", name.replace(".json", "/../x.json")):
        with pytest.raises(SavepointInvalid):
            savepoints.read(s, "run-abc", bad)
    for bad_run in ("../run-abc", "..", ".hidden", "run/abc"):
        with pytest.raises(SavepointInvalid):
            savepoints.listing(s, bad_run)


def test_a_scheduled_runs_id_lists_no_savepoints_rather_than_failing(tmp_path):
    # A delta sync started by a schedule carries its start time in its id; its run page lists savepoints.
    assert savepoints.listing(settings(tmp_path), "delta-80c6b9be53ff-2026-12-06T05:42:05Z") == []


def test_identity_differences_name_what_differs():
    other = IDENTITY.model_copy(update={"jira_project": "OPS"})
    assert savepoints.identity_differences(other, IDENTITY) == ["Jira project OPS, not PHX"]
    assert savepoints.identity_differences(IDENTITY, IDENTITY) == []


def test_the_jira_sample_spreads_over_the_file(tmp_path):
    key = savepoints.signing_key(settings(tmp_path))
    file = savepoints.seal(body(records=100), key)
    picked = sample(file, size=10)
    assert len(picked) == 10 and picked[0] == ("1", "PHX-1") and picked[-1] == ("100", "PHX-100")
    assert len(sample(savepoints.seal(body(records=4), key), size=10)) == 4


def test_a_savepoint_written_from_ledger_rows_a_slice_at_a_time_is_the_one_seal_signs(tmp_path, monkeypatch):
    """The worker writes savepoints from plain ledger rows, 1,000 records at a time (its event loop must not wait
    for a whole ledger to be sealed): the file reads back, with the checksum and signature `seal` gives."""
    monkeypatch.setattr(savepoints, "SEAL_ROWS_AT_ONCE", 2)  # several slices, and a last one half full
    s = settings(tmp_path)
    key = savepoints.signing_key(s)
    whole = body(records=5)
    whole.records[1].detail = {"issue": "PHX-2", "size": 1024, "names": ["a", "ü"], "nested": {"b": 1, "a": None}}
    whole.records[3].state = "pending"
    whole.records[3].target_key = None
    rows = [(r.kind, r.source_key, r.target_key, r.state, r.detail or None) for r in whole.records]
    name = savepoints.write_rows(s, whole.model_copy(update={"records": []}), rows, key, 5)
    raw = savepoints.read(s, "run-abc", name)
    read = savepoints.verify(raw, key)
    assert read.body == whole
    sealed = savepoints.seal(whole, key)
    assert (read.checksum, read.signature, read.key_fingerprint) == (
        sealed.checksum,
        sealed.signature,
        sealed.key_fingerprint,
    )
    assert [i.records for i in savepoints.listing(s, "run-abc")] == [5]


def test_a_savepoint_of_an_empty_ledger_reads_back(tmp_path):
    s = settings(tmp_path)
    key = savepoints.signing_key(s)
    empty = body(records=0)
    name = savepoints.write_rows(s, empty, [], key, 5)
    assert savepoints.verify(savepoints.read(s, "run-abc", name), key).body == empty
