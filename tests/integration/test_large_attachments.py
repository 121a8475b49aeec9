"""Attachments at real sizes (issue 21): a 300 MB and a 1 GB file, generated block by block as ADO serves them
and kept by the sandbox Jira as their sha-256, migrate through a worker in its own process whose resident memory
grows by less than 64 MB; a 300 MB file whose download drops midway and whose upload is answered 429 midway
still lands once with the right sha-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psutil
from sqlalchemy import select

from migrayt.contracts.runs import RunStatus
from migrayt.mapping.plan import default_plan
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.jira.config import CLOUD_ATTACHMENT_BYTES
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from tests.integration.harness import (
    create_sandbox_migration,
    release_jira,
    wait_final,
    wait_until_held,
    worker_process,
)

TENANT = "large-files-co"
MB = 1000 * 1000
RSS_GROWTH_LIMIT = 64 * 1024 * 1024
UPLOADS = "POST /rest/api/3/issue/.*/attachments"
# Cloud's limit, set explicitly: the test helper otherwise takes Data Center's 10 MB.
CLOUD = {"max_attachment_bytes": CLOUD_ATTACHMENT_BYTES}


def files_plan():
    plan = default_plan()
    plan.skip_phases = ["comments"]  # files are what this is about
    return plan


def peak_rss_since_reset(pid: int) -> int:
    """The process's peak resident set (VmHWM) since `reset_peak_rss`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def reset_peak_rss(pid: int) -> int:
    """Start the peak over from now (Linux clear_refs 5); the resident set at that moment."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return psutil.Process(pid).memory_info().rss


def planted(sandbox) -> dict[str, tuple[int, str]]:
    """File name -> (size, sha-256) of the spec's large files, hashed as the generator streams them."""
    project = sandbox.sandbox.project
    out = {}
    for item in project.large_attachment_items():
        for att in project.attachments(item):
            if att.file_name.startswith("large-"):
                out[att.file_name] = (att.size, project.attachment_sha256(att.guid))
    return out


def landed(sandbox) -> dict[str, list[tuple[int, str]]]:
    """File name -> (size, sha-256) of every copy the sandbox Jira holds."""
    state = sandbox.sandbox.jira_app.app.state.jira
    out: dict[str, list[tuple[int, str]]] = {}
    for att in state.attachments.values():
        out.setdefault(att.filename, []).append((att.size, att.sha256))
    return out


async def attachment_records(stack, migration_id: str) -> list[ItemRecord]:
    async with stack.service.sessions() as session:
        return list(
            await session.scalars(
                select(ItemRecord).where(ItemRecord.migration_id == migration_id, ItemRecord.kind == "attachment")
            )
        )


async def test_300_mb_and_1_gb_files_migrate_in_flat_worker_memory(stack, tmp_path):
    spec = ProjectSpec(seed=31, items=3, ugly=False, large_attachments=[300 * MB, 1000 * MB])
    # Held at the first upload: the worker is warm (every phase before ran) when its peak is started over.
    with running_sandbox(spec, jira_options=CLOUD, jira_faults=FaultConfig(hold=[UPLOADS])) as sandbox:
        expected = planted(sandbox)
        migration_id = await create_sandbox_migration(stack, sandbox, plan=files_plan(), tenant=TENANT)
        async with worker_process(stack, tmp_path / "worker.log") as worker:
            assert worker.proc is not None
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            await wait_until_held(sandbox)
            before = reset_peak_rss(worker.proc.pid)
            await release_jira(sandbox)
            final = await wait_final(stack, TENANT, run_id)
            growth = peak_rss_since_reset(worker.proc.pid) - before
            print(f"worker RSS {before / 2**20:.1f} MiB before the files, peak growth {growth / 2**20:.1f} MiB")

        assert final.status == RunStatus.COMPLETED, final
        assert final.counters["attachments"].failed == 0
        copies = landed(sandbox)
        assert {name: copies.get(name) for name in expected} == {name: [v] for name, v in expected.items()}
        done = {r.detail["filename"]: r.detail["sha256"] for r in await attachment_records(stack, migration_id)}
        assert {name: done[name] for name in expected} == {name: sha for name, (_, sha) in expected.items()}
        assert growth < RSS_GROWTH_LIMIT, f"worker RSS grew by {growth / 2**20:.1f} MiB moving 1.3 GB"


async def test_dropped_download_and_throttled_upload_of_300_mb_land_once(stack, tmp_path, monkeypatch):
    # Files from 8 MB on go through the spool (off by default): the re-send after the 429 reads it from disk.
    monkeypatch.setenv("MIGRAYT_ATTACHMENT_SPOOL_MIN_BYTES", str(8 * 1024 * 1024))
    spec = ProjectSpec(seed=32, items=2, ugly=False, large_attachments=[300 * MB])
    ado_faults = FaultConfig(drop_downloads=1, drop_download_at_bytes=120 * MB)
    jira_faults = FaultConfig(hold=[UPLOADS], throttle_uploads=1, throttle_upload_at_bytes=200 * MB)
    with running_sandbox(spec, jira_options=CLOUD, ado_faults=ado_faults, jira_faults=jira_faults) as sandbox:
        ((name, (size, sha)),) = planted(sandbox).items()
        migration_id = await create_sandbox_migration(stack, sandbox, plan=files_plan(), tenant=TENANT)
        async with worker_process(stack, tmp_path / "worker.log") as worker:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            await wait_until_held(sandbox)
            await release_jira(sandbox)
            final = await wait_final(stack, TENANT, run_id)
            assert worker.proc is not None

        assert final.status == RunStatus.COMPLETED, final
        assert sandbox.sandbox.ado_faults.counters.downloads_dropped == 1
        # Neither the drop nor the 429 made Migrayt download the file again from the start: the download resumed
        # where it stopped and the upload was re-sent from the local spool (the item's other files are small).
        assert sandbox.sandbox.ado_faults.counters.attachment_bytes_served < 1.2 * size
        assert sandbox.sandbox.jira_faults.counters.uploads_throttled == 1
        assert landed(sandbox)[name] == [(size, sha)]
        (record,) = [r for r in await attachment_records(stack, migration_id) if r.detail.get("filename") == name]
        assert record.state == "done" and record.detail["sha256"] == sha and record.detail["size"] == size


def test_planted_sha_is_the_streamed_bytes():
    """The expected digests above come from the generator's own stream: check that stream is what ADO serves."""
    from migrayt.sandbox.generator import GeneratedProject

    project = GeneratedProject(ProjectSpec(seed=31, items=3, ugly=False, large_attachments=[3 * MB]))
    (item,) = project.large_attachment_items()
    att = next(a for a in project.attachments(item) if a.file_name.startswith("large-"))
    whole = b"".join(project.attachment_chunks(att.guid))
    assert len(whole) == att.size and hashlib.sha256(whole).hexdigest() == project.attachment_sha256(att.guid)


async def test_a_lost_upload_answer_is_settled_by_name_size_and_the_sha_256_of_what_was_sent(
    stack, tmp_path, monkeypatch
):
    """Both uploads land but their answers are lost, and each issue already holds a file of the same name and size
    with other bytes (a user's older copy): Migrayt claims its own copy by the sha-256 of what it sent (from the spool
    for the 12 MB file, from the bytes as they streamed for the 6 MB one), without downloading either from ADO again.
    The sizes only need to sit either side of the spool threshold; the reconcile is the same at 300 MB."""
    monkeypatch.setenv("MIGRAYT_ATTACHMENT_SPOOL_MIN_BYTES", str(8 * 1024 * 1024))
    spec = ProjectSpec(seed=33, items=2, ugly=False, large_attachments=[12 * MB, 6 * MB])
    # Only the two large uploads lose their answer: the items' ordinary files and history files are under 5 MB.
    jira_faults = FaultConfig(hold=[UPLOADS], drop_upload_answers=2, drop_upload_answer_from_bytes=5 * MB)
    with running_sandbox(spec, jira_options=CLOUD, jira_faults=jira_faults) as sandbox:
        project = sandbox.sandbox.project
        large = {
            att.file_name: (item, att.guid, att.size, project.attachment_sha256(att.guid))
            for item in project.large_attachment_items()
            for att in project.attachments(item)
            if att.file_name.startswith("large-")
        }
        migration_id = await create_sandbox_migration(stack, sandbox, plan=files_plan(), tenant=TENANT)
        async with worker_process(stack, tmp_path / "worker.log"):
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            await wait_until_held(sandbox)  # the issues exist; no file is on them yet
            decoys = await put_older_copies(stack, sandbox, migration_id, large)
            await release_jira(sandbox)
            final = await wait_final(stack, TENANT, run_id)

        assert final.status == RunStatus.COMPLETED, final
        assert sandbox.sandbox.jira_faults.counters.upload_answers_dropped == 2
        downloads = sandbox.sandbox.ado_faults.counters.attachment_downloads
        assert {name: downloads.get(guid) for name, (_, guid, _, _) in large.items()} == {name: 1 for name in large}
        copies = landed(sandbox)
        for name, (_, _, size, sha) in large.items():
            assert sorted(copies[name]) == sorted([(size, sha), (size, decoys[name][1])])
        records = {r.detail.get("filename"): r for r in await attachment_records(stack, migration_id)}
        settled = {
            name: (records[name].state, records[name].detail["sha256"], records[name].detail.get("reconciled"))
            for name in large
        }
        assert settled == {name: ("done", sha, True) for name, (_, _, _, sha) in large.items()}
        assert all(records[name].target_key != decoys[name][0] for name in large)


async def put_older_copies(stack, sandbox, migration_id: str, large: dict) -> dict[str, tuple[str, str]]:
    """On each large file's issue, a file of the same name and size whose bytes differ; name -> (its id, sha-256)."""
    async with stack.service.sessions() as session:
        issues = {
            r.source_key: r.target_key
            for r in await session.scalars(
                select(ItemRecord).where(ItemRecord.migration_id == migration_id, ItemRecord.kind == "issue")
            )
        }
    state = sandbox.sandbox.jira_app.app.state.jira
    out = {}
    for name, (item, _, size, _) in large.items():
        data = b"older copy " * (size // 11) + b"!" * (size % 11)
        part = state.new_attachment_path()
        part.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        att = state.add_attachment(state.issue(issues[str(item)]), name, "application/octet-stream", part, size, sha)
        out[name] = (str(att.id), sha)
    return out
