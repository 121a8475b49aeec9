"""Validation of what Jira holds only in files, against the sandbox over HTTP: a cut description against its
attached original, the comments past Jira's per-issue cap against the overflow file, and deep mode's sha-256,
which alone sees an attachment swapped for a same-name, same-size file with other bytes."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from migrayt.contracts.runs import RunStatus
from migrayt.contracts.validation import FINAL_VALIDATION_STATUSES, ValidationStatus
from migrayt.core.validations import ValidationService
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from tests.integration.harness import create_sandbox_migration, wait_final

TENANT = "validate-files-co"
SPEC = ProjectSpec(seed=21, items=40)
BIG = 64 * 1024 * 1024  # every generated file fits, so a full run is clean
JIRA_AUTH = ("migrator@example.com", "sandbox-token")
# Small enough that the 350-comment item overflows; the sandbox Jira enforces the same cap.
COMMENT_CAP = 300


async def validate(stack, migration_id: str, **options) -> tuple[object, list]:
    svc = ValidationService(stack.settings, stack.service.sessions, stack.client)
    vid = await svc.start(TENANT, migration_id, "test@validate.example", "api", **options)
    deadline = time.monotonic() + 240
    while (await svc.progress(TENANT, migration_id, vid))[1].status not in FINAL_VALIDATION_STATUSES:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.3)
    row = await svc.get(TENANT, migration_id, vid)
    found = await svc.differences(TENANT, migration_id, vid, page=1, page_size=1000)
    assert found.total == len(found.differences)
    return row, found.differences


async def issue_files(http: httpx.AsyncClient, base: str, ado_id: int) -> tuple[str, list[dict]]:
    search = await http.post(
        f"{base}/rest/api/3/search/jql", json={"jql": f"labels = ado-id-{ado_id}", "fields": ["attachment"]}
    )
    issue = search.json()["issues"][0]
    return issue["key"], issue["fields"]["attachment"]


async def content(http: httpx.AsyncClient, base: str, attachment: dict) -> bytes:
    r = await http.get(f"{base}/rest/api/3/attachment/content/{attachment['id']}", params={"redirect": "false"})
    assert r.status_code == 200, r.text
    return r.content


async def swap(http: httpx.AsyncClient, base: str, attachment: dict, data: bytes) -> None:
    r = await http.put(f"{base}/_sandbox/attachments/{attachment['id']}/content", content=data)
    assert r.status_code == 204, r.text


def same_size_other_bytes(data: bytes) -> bytes:
    """Other bytes of the same length: the first byte that can change, changed."""
    at = next((i for i, b in enumerate(data) if b not in b"\n\r"), 0)
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def found_of(differences: list) -> set[tuple[int, str, str]]:
    return {(d.ado_id, d.check, d.kind) for d in differences}


async def test_a_cut_description_and_the_comments_past_the_cap_are_checked_against_their_files(
    stack, worker, upload_limit_setting, monkeypatch
):
    monkeypatch.setenv("MIGRAYT_JIRA_COMMENTS_PER_ISSUE", str(COMMENT_CAP))
    upload_limit_setting(BIG)
    ugly = GeneratedProject(SPEC).ugly_cases()
    cut, many = ugly["long_description"], ugly["many_comments"]
    options = {"max_attachment_bytes": BIG, "max_comments_per_issue": COMMENT_CAP}
    with running_sandbox(SPEC, jira_options=options) as sandbox:
        base = sandbox.jira_url
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        assert (await wait_final(stack, TENANT, run_id, timeout=240)).status == RunStatus.COMPLETED

        # A cut description whose original is attached as written, and an overflow file holding the rest: clean.
        row, differences = await validate(stack, migration_id)
        assert [(d.ado_id, d.check, d.kind, d.expected, d.note) for d in differences] == []
        assert row.status == ValidationStatus.PASSED

        async with httpx.AsyncClient(auth=JIRA_AUTH, timeout=60) as http:
            cut_key, cut_files = await issue_files(http, base, cut)
            original = next(a for a in cut_files if a["filename"] == f"ado-{cut}-description.html")
            many_key, many_files = await issue_files(http, base, many)
            overflow = next(a for a in many_files if a["filename"] == f"ado-{many}-comments-overflow.html")
            # Both files altered in place: the same names, the same sizes.
            await swap(http, base, original, same_size_other_bytes(await content(http, base, original)))
            page = (await content(http, base, overflow)).decode()
            last = page.rindex("</div><hr>")
            await swap(http, base, overflow, (page[: last - 1] + "?" + page[last:]).encode())

            row, differences = await validate(stack, migration_id)
            assert row.status == ValidationStatus.FAILED
            assert found_of(differences) == {(cut, "description", "different"), (many, "comments", "different")}
            altered = [d for d in differences if d.check == "comments"]
            assert len(altered) == 1 and altered[0].jira_key == many_key, altered  # only the last comment's text

            # Both files gone.
            for attachment in (original, overflow):
                assert (await http.delete(f"{base}/rest/api/3/attachment/{attachment['id']}")).status_code == 204
            row, differences = await validate(stack, migration_id)
            assert found_of(differences) == {(cut, "description", "missing"), (many, "comments", "missing")}
            by_check = {d.check: d for d in differences}
            assert by_check["description"].jira_key == cut_key
            assert by_check["description"].expected == f"ado-{cut}-description.html"
            assert by_check["comments"].expected == f"{350 - COMMENT_CAP} comments in ado-{many}-comments-overflow.html"


@pytest.fixture
def small_sandbox(upload_limit_setting):
    upload_limit_setting(BIG)
    with running_sandbox(ProjectSpec(seed=8, items=24), jira_options={"max_attachment_bytes": BIG}) as server:
        yield server


async def test_deep_mode_finds_a_file_swapped_for_one_of_the_same_name_and_size(stack, worker, small_sandbox):
    sandbox, base = small_sandbox, small_sandbox.jira_url
    migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
    run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
    assert (await wait_final(stack, TENANT, run_id, timeout=240)).status == RunStatus.COMPLETED

    async with httpx.AsyncClient(auth=JIRA_AUTH, timeout=60) as http:
        issues = (await http.get(f"{base}/_sandbox/state/issues", params={"limit": 1000})).json()["issues"]
        carrier = next(
            i
            for i in issues
            if any(0 < a["size"] < 1_000_000 and not a["filename"].startswith("ado-") for a in i["attachments"])
        )
        ado_id = next(int(label[7:]) for label in carrier["labels"] if label.startswith("ado-id-"))
        _, files = await issue_files(http, base, ado_id)
        target = next(a for a in files if 0 < a["size"] < 1_000_000 and not a["filename"].startswith("ado-"))
        before = await content(http, base, target)
        await swap(http, base, target, same_size_other_bytes(before))
        after = {a["id"]: a for a in (await issue_files(http, base, ado_id))[1]}[target["id"]]
        assert (after["filename"], after["size"]) == (target["filename"], target["size"])

    row, differences = await validate(stack, migration_id)
    assert row.status == ValidationStatus.PASSED, [(d.ado_id, d.check, d.kind) for d in differences]

    row, differences = await validate(stack, migration_id, deep=True)
    assert row.status == ValidationStatus.FAILED
    assert [(d.ado_id, d.jira_key, d.check, d.kind, d.note) for d in differences] == [
        (ado_id, carrier["key"], "attachments", "different", "sha-256 differs")
    ]
    assert target["filename"] in differences[0].expected
