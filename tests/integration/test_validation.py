"""Validation end to end: a clean full run validates PASSED; after planting changes in the sandbox Jira, each is
found on the right item and in the right class; the HTTP doors page every difference."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import select

from migrayt.activities.validation.check import store_batch
from migrayt.contracts.runs import RunStatus
from migrayt.contracts.validation import FINAL_VALIDATION_STATUSES, Difference, ValidationStatus
from migrayt.core.validations import ValidationService
from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ValidationBatch, ValidationDifference
from tests.integration.harness import (
    create_sandbox_migration,
    hold_jira,
    jira_issues,
    release_jira,
    structure_only_plan,
    wait_final,
    wait_until_held,
    worker_process,
)

TENANT = "validate-co"
SPEC = ProjectSpec(seed=21, items=40)
BIG = 64 * 1024 * 1024  # every generated file fits, so a full run is clean
JIRA_AUTH = ("migrator@example.com", "sandbox-token")
OTHER_USER = "557058:someone-else"


def service(stack) -> ValidationService:
    return ValidationService(stack.settings, stack.service.sessions, stack.client)


async def validate(stack, migration_id: str, **options) -> tuple[object, list]:
    svc = service(stack)
    vid = await svc.start(TENANT, migration_id, "test@validate.example", "api", **options)
    deadline = time.monotonic() + 180
    while True:
        row, progress = await svc.progress(TENANT, migration_id, vid)
        if progress.status in FINAL_VALIDATION_STATUSES:
            break
        assert time.monotonic() < deadline, progress
        await asyncio.sleep(0.3)
    row = await svc.get(TENANT, migration_id, vid)
    differences, page = [], 1
    while True:
        found = await svc.differences(TENANT, migration_id, vid, page=page, page_size=7)
        differences += found.differences
        if page * found.page_size >= found.total:
            break
        page += 1
    assert len(differences) == sum(sum(k.values()) for k in row.counts.values())
    return row, differences


def ado_id_of(issue: dict) -> int:
    return next(int(label[7:]) for label in issue["labels"] if label.startswith("ado-id-"))


@pytest.fixture
def sandbox(upload_limit_setting):
    upload_limit_setting(BIG)
    with running_sandbox(SPEC, jira_options={"max_attachment_bytes": BIG}) as server:
        yield server


async def test_a_clean_run_passes_and_each_planted_change_is_found_on_its_item(stack, worker, sandbox):
    migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
    run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
    assert (await wait_final(stack, TENANT, run_id, timeout=180)).status == RunStatus.COMPLETED

    row, differences = await validate(stack, migration_id)
    assert [(d.ado_id, d.check, d.kind, d.expected, d.actual) for d in differences] == []
    assert row.status == ValidationStatus.PASSED
    assert row.items_checked == row.items_total == 40

    issues = await jira_issues(sandbox)
    linked_to = {i["key"]: {lk["other"] for lk in i["links"]} for i in issues}
    children = {i["parent"] for i in issues if i["parent"]}
    # Six different issues, each with what its change needs; the deleted one is a leaf nobody links to.
    leaf = next(i for i in issues if not i["links"] and i["key"] not in children)
    rest = [i for i in issues if i is not leaf and leaf["key"] not in linked_to[i["key"]]]
    with_file = next(i for i in rest if any(not a["filename"].startswith("ado-") for a in i["attachments"]))
    rest = [i for i in rest if i is not with_file]
    # A link made from an ADO link, not one standing in for a parent Jira cannot nest.
    project = sandbox.sandbox.project
    ado_of = {i["key"]: ado_id_of(i) for i in issues}

    def family(key: str, other: str) -> bool:
        a, b = ado_of.get(key), ado_of.get(other)
        return project.parent_of(a) == b or project.parent_of(b) == a

    with_link = next(i for i in rest if any(not family(i["key"], lk["other"]) for lk in i["links"]))
    gone_other = next(lk["other"] for lk in with_link["links"] if not family(with_link["key"], lk["other"]))
    rest = [i for i in rest if i is not with_link and i["key"] not in linked_to[with_link["key"]]]
    with_comment = next(i for i in rest if i["comments"])
    rest = [i for i in rest if i is not with_comment]
    edited, transitioned = rest[0], rest[1]

    base, api = sandbox.jira_url, f"{sandbox.jira_url}/rest/api/3"
    async with httpx.AsyncClient(auth=JIRA_AUTH, timeout=30) as http:
        # Someone else rewords a summary after the migration: not a migration error.
        r = await http.post(
            f"{base}/_sandbox/issues/{edited['key']}/edit-as",
            json={"accountId": OTHER_USER, "fields": {"summary": "Reworded by the team"}},
        )
        assert r.status_code == 204, r.text
        # The migration's own account deletes a file, a link, changes a comment and a status, deletes an issue.
        files = (await http.get(f"{api}/issue/{with_file['key']}", params={"fields": "attachment"})).json()
        gone_file = next(a for a in files["fields"]["attachment"] if not a["filename"].startswith("ado-"))
        assert (await http.delete(f"{api}/attachment/{gone_file['id']}")).status_code == 204
        links = (await http.get(f"{api}/issue/{with_link['key']}", params={"fields": "issuelinks"})).json()
        gone_link = next(
            lk
            for lk in links["fields"]["issuelinks"]
            if gone_other in ((lk.get("outwardIssue") or {}).get("key"), (lk.get("inwardIssue") or {}).get("key"))
        )
        assert (await http.delete(f"{api}/issueLink/{gone_link['id']}")).status_code == 204
        comments = (await http.get(f"{api}/issue/{with_comment['key']}/comment")).json()["comments"]
        body = {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "x"}]}],
        }
        r = await http.put(f"{api}/issue/{with_comment['key']}/comment/{comments[0]['id']}", json={"body": body})
        assert r.status_code == 200, r.text
        offered = (await http.get(f"{api}/issue/{transitioned['key']}/transitions")).json()["transitions"]
        status_now = transitioned["status"]
        step = next(t for t in offered if t["to"]["name"] != status_now)
        r = await http.post(f"{api}/issue/{transitioned['key']}/transitions", json={"transition": {"id": step["id"]}})
        assert r.status_code == 204, r.text
        assert (await http.delete(f"{api}/issue/{leaf['key']}")).status_code == 204

    row, differences = await validate(stack, migration_id)
    assert row.status == ValidationStatus.FAILED
    found = {(d.ado_id, d.check, d.kind) for d in differences}
    other_end = {ado_of[gone_other]}
    planted = {
        (ado_id_of(edited), "summary", "changed_after"),
        (ado_id_of(with_file), "attachments", "missing"),
        (ado_id_of(with_link), "links", "missing"),
        (ado_id_of(with_comment), "comments", "different"),
        (ado_id_of(leaf), "items", "missing"),
        (ado_id_of(transitioned), "status", "different"),
    }
    assert planted <= found, sorted(found)
    # Nothing else: only the removed link's other end may see it too.
    assert {f for f in found - planted if not (f[0] in other_end and f[1] == "links")} == set(), sorted(found)
    assert row.counts["summary"] == {"changed_after": 1}
    missing_file = next(d for d in differences if d.check == "attachments")
    assert missing_file.jira_key == with_file["key"] and gone_file["filename"] in missing_file.expected

    # A tolerance per check accepts what it names, and only that.
    tolerated = {"attachments": 1, "links": 2, "comments": 1, "items": 1, "status": 1}
    row, _ = await validate(stack, migration_id, tolerances=tolerated)
    assert row.status == ValidationStatus.PASSED


async def test_a_worker_killed_mid_validation_stores_each_batch_once(stack, tmp_path):
    spec = ProjectSpec(seed=3, items=230)
    with running_sandbox(spec) as sandbox:
        # The worker process reads the secrets' variables the migration names: they are set before it starts.
        migration_id = await create_sandbox_migration(stack, sandbox, structure_only_plan(), tenant=TENANT)
        async with worker_process(stack, tmp_path / "worker.log") as worker:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            assert (await wait_final(stack, TENANT, run_id, timeout=240)).status == RunStatus.COMPLETED
            issues = await jira_issues(sandbox)
            parents = {i["parent"] for i in issues}
            gone = [i for i in issues if not i["links"] and i["key"] not in parents][:2]
            async with httpx.AsyncClient(auth=JIRA_AUTH, timeout=30) as http:
                for issue in gone:
                    assert (await http.delete(f"{sandbox.jira_url}/rest/api/3/issue/{issue['key']}")).status_code == 204

            # The second batch's read waits in Jira; the worker dies under it and a new one takes over.
            await hold_jira(sandbox, r"POST /rest/api/3/issue/bulkfetch", after=1)
            svc = service(stack)
            vid = await svc.start(TENANT, migration_id, "test", "api")
            await wait_until_held(sandbox)
            worker.kill()
            await release_jira(sandbox)
            worker.start()
            deadline = time.monotonic() + 180
            while (await svc.progress(TENANT, migration_id, vid))[1].status not in FINAL_VALIDATION_STATUSES:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.3)

    row = await svc.get(TENANT, migration_id, vid)
    assert row.status == ValidationStatus.FAILED and row.items_checked == row.items_total == len(issues)
    assert row.counts == {"items": {"missing": 2}}
    async with stack.service.sessions() as session:
        batches = (
            await session.scalars(select(ValidationBatch.start).where(ValidationBatch.validation_id == vid))
        ).all()
        stored = (
            await session.scalars(
                select(ValidationDifference.jira_key).where(ValidationDifference.validation_id == vid)
            )
        ).all()
    assert sorted(batches) == [-1, 0, 100, 200]
    assert sorted(stored) == sorted(i["key"] for i in gone), "each difference stored once"
    # A batch stored again (its activity retried after its commit, the completion lost) replaces, never adds.
    async with stack.service.sessions() as session:
        rows = (
            await session.scalars(select(ValidationDifference).where(ValidationDifference.validation_id == vid))
        ).all()
    by_batch: dict[int, list[Difference]] = {}
    for r in rows:
        by_batch.setdefault(r.batch_start, []).append(
            Difference(check=r.check, kind=r.kind, ado_id=r.ado_id, jira_key=r.jira_key, expected=r.expected)
        )
    for start, found in by_batch.items():
        for _ in range(2):
            await store_batch(stack.service.sessions, vid, start, 100, found, 1)
    async with stack.service.sessions() as session:
        again = (
            await session.scalars(
                select(ValidationDifference.jira_key).where(ValidationDifference.validation_id == vid)
            )
        ).all()
    assert sorted(again) == sorted(stored)
