"""Files at real sizes through the connectors and the sandbox: Cloud's upload limit, ranges and dropped
downloads on the ADO side, a 429 part-way through an upload re-sent from the spool, large uploads kept as
their digest. Sizes here are a few MB; tests/integration/test_large_attachments.py moves 300 MB and 1 GB."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from migrayt.connectors.ado import AdoClient
from migrayt.connectors.http import HttpSettings
from migrayt.connectors.jira import JiraClient
from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.jira.config import CLOUD_ATTACHMENT_BYTES
from migrayt.sandbox.server import SandboxServer, build_sandbox
from migrayt.sandbox.testing import SandboxAdmin

MB = 1024 * 1024
SIZES = [3 * MB + 12_345, 200_000]
KEEP = 1 * MB  # uploads over this are kept as their digest only


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    # build_sandbox directly: the sandbox as `migrayt sandbox` serves it, Jira Cloud's limits by default.
    spec = ProjectSpec(seed=5, items=4, ugly=False, large_attachments=SIZES)
    built = build_sandbox(spec, jira_options={"keep_attachment_bytes": KEEP})
    with SandboxServer(built) as server:
        yield server


def http(base_url: str) -> HttpSettings:
    return HttpSettings(base_url=base_url, timeout_seconds=20, backoff_base_seconds=0.01, backoff_max_seconds=0.05)


@pytest.fixture
async def ado(sandbox):
    s = sandbox.sandbox
    async with AdoClient(sandbox.ado_url, s.project_name, SecretStr(s.ado_pat), settings=http(sandbox.ado_url)) as c:
        yield c


@pytest.fixture
async def jira(sandbox):
    s = sandbox.sandbox
    async with JiraClient(
        sandbox.jira_url, s.jira_email, SecretStr(s.jira_token), settings=http(sandbox.jira_url)
    ) as client:
        yield client


def large_file(sandbox, size: int):
    project = sandbox.sandbox.project
    item = next(i for i, sizes in project.large_attachment_items().items() if size in sizes)
    att = next(a for a in project.attachments(item) if a.size == size and a.file_name.startswith("large-"))
    return att, project.attachment_sha256(att.guid), f"{sandbox.ado_url}/_apis/wit/attachments/{att.guid}"


async def new_issue(jira: JiraClient, key: str) -> str:
    types = await jira.get_issue_types(key)
    task = next(t for t in types if not t.subtask)
    issue = await jira.create_issue({"project": {"key": key}, "issuetype": {"id": task.id}, "summary": "a large file"})
    return issue.key


async def digest(stream) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    async for chunk in stream:
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


async def test_jira_reports_clouds_upload_limit(jira):
    assert (await jira.http.get_json("/rest/api/3/attachment/meta")) == {
        "enabled": True,
        "uploadLimit": CLOUD_ATTACHMENT_BYTES,
    }


async def test_ado_serves_byte_ranges(sandbox):
    att, _sha, url = large_file(sandbox, SIZES[0])
    whole = b"".join(sandbox.sandbox.project.attachment_chunks(att.guid))
    auth = ("", sandbox.sandbox.ado_pat)
    async with httpx.AsyncClient(auth=auth) as client:
        part = await client.get(url, headers={"Range": "bytes=1000000-"})
        assert part.status_code == 206 and part.content == whole[1_000_000:]
        assert part.headers["content-range"] == f"bytes 1000000-{att.size - 1}/{att.size}"
        assert (await client.get(url, headers={"Range": f"bytes={att.size}-"})).status_code == 416


async def test_download_dropped_midway_resumes_with_a_range(sandbox, ado):
    att, sha, url = large_file(sandbox, SIZES[0])
    async with SandboxAdmin.for_ado(sandbox) as admin:
        await admin.set_faults(drop_downloads=2, drop_download_at_bytes=MB + 7)
        try:
            assert await digest(ado.stream_attachment(url)) == (sha, att.size)
            faults = await admin.faults()
        finally:
            await admin.replace_faults()
    assert faults["counters"]["downloads_dropped"] == 2


async def test_throttled_upload_is_resent_from_the_spool_not_fetched_again(sandbox, ado, jira):
    from migrayt.activities.execution.content_io import Spool

    att, sha, url = large_file(sandbox, SIZES[0])
    key = await new_issue(jira, sandbox.sandbox.project_key)
    spool = Spool(lambda start: ado.stream_attachment(url, start=start))
    async with SandboxAdmin.for_jira(sandbox) as admin:
        await admin.set_faults(throttle_uploads=1, throttle_upload_at_bytes=2 * MB, retry_after_seconds=0)
        try:
            uploaded = await jira.upload_attachment(key, att.file_name, spool, att.size)
            faults = await admin.faults()
        finally:
            await admin.replace_faults()
            spool.close()
    assert faults["counters"]["uploads_throttled"] == 1
    assert spool.fetches == 1 and spool.sha256 == sha  # ADO was read once; the re-send came from disk
    listing = (await jira.get_issue(key, fields=["attachment"])).fields["attachment"]
    assert [(a["filename"], a["size"]) for a in listing] == [(att.file_name, att.size)]
    assert await digest(jira.stream_attachment_content(str(uploaded[0].id))) == (sha, att.size)


async def test_large_upload_is_kept_as_its_digest(sandbox, jira):
    key = await new_issue(jira, sandbox.sandbox.project_key)
    payload = bytes(range(256)) * (KEEP // 256 + 10)

    def chunks():
        async def gen():
            for i in range(0, len(payload), 65_536):
                yield payload[i : i + 65_536]

        return gen()

    (uploaded,) = await jira.upload_attachment(key, "not-planted.bin", chunks, len(payload))
    state = sandbox.sandbox.jira_app.app.state.jira
    kept = state.attachments[int(uploaded.id)]
    assert (kept.kept, kept.size, kept.sha256) == (False, len(payload), hashlib.sha256(payload).hexdigest())
    assert not state.attachment_path(kept).exists()
    async with httpx.AsyncClient(auth=(sandbox.sandbox.jira_email, sandbox.sandbox.jira_token)) as client:
        answer = await client.get(f"{sandbox.jira_url}/rest/api/3/attachment/content/{uploaded.id}?redirect=false")
    assert answer.status_code == 404 and "sha-256" in answer.text


async def test_an_upload_whose_answer_is_lost_is_stored_and_its_download_counted(sandbox, ado, jira):
    from migrayt.connectors.http import AmbiguousWriteError

    att, sha, url = large_file(sandbox, SIZES[0])
    key = await new_issue(jira, sandbox.sandbox.project_key)
    body = b"".join([c async for c in ado.stream_attachment(url)])

    def chunks():
        async def gen():
            yield body

        return gen()

    async with SandboxAdmin.for_jira(sandbox) as admin:
        # Uploads under the threshold keep their answer: only the large one is cut.
        await admin.set_faults(drop_upload_answers=1, drop_upload_answer_from_bytes=2 * MB)
        try:
            await jira.upload_attachment(key, "small.txt", b"small", 5)
            with pytest.raises(AmbiguousWriteError):
                await jira.upload_attachment(key, att.file_name, chunks, att.size)
            await jira.upload_attachment(key, "again.bin", chunks, att.size)  # one drop only
            faults = await admin.faults()
        finally:
            await admin.replace_faults()
    assert faults["counters"]["upload_answers_dropped"] == 1
    listing = (await jira.get_issue(key, fields=["attachment"])).fields["attachment"]
    assert [(a["filename"], a["size"]) for a in listing] == [
        ("small.txt", 5),
        (att.file_name, att.size),
        ("again.bin", att.size),
    ]
    async with SandboxAdmin.for_ado(sandbox) as admin:
        assert (await admin.faults())["counters"]["attachment_downloads"][att.guid] >= 1
    assert hashlib.sha256(body).hexdigest() == sha


async def test_a_scan_takes_the_plans_storage_from_a_free_site_and_from_the_setting_otherwise(sandbox, jira):
    from migrayt.activities.intake.scan import FREE_PLAN_STORAGE_BYTES, target_limits
    from migrayt.settings import Settings

    settings = Settings(jira_attachment_storage_bytes=250 * 1024**3)  # the operator's word: Standard's 250 GB
    key = sandbox.sandbox.project_key
    config = sandbox.sandbox.jira_app.app.state.jira.config
    assert config.license_plan == "PAID"  # Standard and Premium alike: the site does not say which
    assert (await target_limits(jira, key, settings, {})).attachment_storage_bytes == 250 * 1024**3
    config.license_plan = "FREE"
    try:
        limits = await target_limits(jira, key, settings, {})
    finally:
        config.license_plan = "PAID"
    assert limits.attachment_storage_bytes == FREE_PLAN_STORAGE_BYTES == 2 * 1024**3
    assert limits.attachment_bytes == CLOUD_ATTACHMENT_BYTES
