"""Phases 5 and 7 end to end: attachments by sha-256, revision history, the description rewrite,
comments in order with attribution, and exactly once across SIGKILLed workers and lost responses."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from migrayt.workflows.run_models import RunStatus
from tests.integration.checker_content import check_content
from tests.integration.harness import (
    WorkerProcess,
    create_sandbox_migration,
    jira_issues,
    set_jira_faults,
    wait_final,
    wait_for,
)

TENANT = "content-co"
SPEC = ProjectSpec(seed=13, items=60)
# Small enough that the 350-comment item overflows; the sandbox Jira enforces the same cap.
COMMENT_CAP = 300
KILL_TEST_CAP = 120


async def records(stack, migration_id: str, kind: str) -> list[ItemRecord]:
    async with stack.service.sessions() as session:
        return list(await session.scalars(select(ItemRecord).where(ItemRecord.migration_id == migration_id, ItemRecord.kind == kind)))


async def test_full_run_lands_every_file_and_comment(stack, worker, monkeypatch):
    monkeypatch.setenv("MIGRAYT_JIRA_COMMENTS_PER_ISSUE", str(COMMENT_CAP))
    ugly = GeneratedProject(SPEC).ugly_cases()
    with running_sandbox(SPEC, jira_options={"max_comments_per_issue": COMMENT_CAP}) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
        started = time.monotonic()
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        progress = await wait_final(stack, TENANT, run_id, timeout=120)
        elapsed = time.monotonic() - started

        report = await check_content(sandbox, await jira_issues(sandbox), comment_cap=COMMENT_CAP)
        assert report.problems == [], "\n".join(report.problems[:30])
        assert report.checked_items == progress.counters["create_items"].created
        # The one documented failure: the over-limit file, with a reason a user understands.
        huge = ugly["huge_attachment"]
        assert [item for item, _ in report.over_limit] == [huge]
        failed = [r for r in await records(stack, migration_id, "attachment") if r.state == "failed"]
        assert [r.source_key for r in failed] == [report.over_limit[0][1]]
        assert "too large" in failed[0].error and "413" in failed[0].error
        attachments = progress.counters["attachments"]
        assert attachments.failed == 1 and attachments.total == attachments.created + attachments.skipped + attachments.failed
        assert progress.status == RunStatus.INCOMPLETE
        # The ugly cases are really in there.
        assert report.attachments_found >= 120 and report.comments_found >= COMMENT_CAP
        assert report.inline_images > 0
        done = [r for r in await records(stack, migration_id, "attachment") if r.state == "done"]
        assert all(len(r.detail["sha256"]) == 64 for r in done)
        descriptions = {r.source_key: r.detail for r in await records(stack, migration_id, "description")}
        assert descriptions[str(ugly["long_description"])]["truncated"] is True
        overflow = await records(stack, migration_id, "comment_overflow")
        assert [(r.source_key, r.detail["comments"]) for r in overflow] == [(str(ugly["many_comments"]), 350 - COMMENT_CAP)]
        print(f"\ncontent run: {SPEC.items} items, {report.attachments_found} attachments, "
              f"{report.comments_found} comments, {report.inline_images} inline images in {elapsed:.1f}s")


async def written_more_than_once(stack, migration_id: str) -> int:
    async with stack.service.sessions() as session:
        return await session.scalar(
            select(func.count()).where(
                ItemRecord.migration_id == migration_id,
                ItemRecord.kind.in_(("attachment", "history", "comment")),
                (ItemRecord.attempts > 1) | ItemRecord.detail["reconciled"].as_boolean(),
            )
        )


async def done_count(stack, migration_id: str, kind: str) -> int:
    async with stack.service.sessions() as session:
        return await session.scalar(
            select(func.count()).where(ItemRecord.migration_id == migration_id, ItemRecord.kind == kind, ItemRecord.state == "done")
        )


async def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_killed_in_phases_5_and_7_with_lost_responses_writes_nothing_twice(stack, tmp_path, monkeypatch):
    # The worker process inherits the cap: fewer comments posted one by one keeps this test short.
    monkeypatch.setenv("MIGRAYT_JIRA_COMMENTS_PER_ISSUE", str(KILL_TEST_CAP))
    with running_sandbox(SPEC, jira_faults=FaultConfig(seed=9), jira_options={"max_comments_per_issue": KILL_TEST_CAP}) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
        worker = WorkerProcess(stack, tmp_path / "worker.log")
        worker.start()
        try:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            # Lost responses only while phases 5 and 7 write (the other phases have their own tests);
            # the kill lands once the phase is really writing, so a batch is cut off mid-way.
            for phase, kind, after in (("attachments", "attachment", 25), ("comments", "comment", 40)):
                await wait_for(stack, TENANT, run_id, lambda p, phase=phase: p.phase == phase, timeout=90, poll=0.25)
                await set_jira_faults(sandbox, share_drop_after_write=0.08)
                await wait_until(lambda kind=kind, after=after: _at_least(stack, migration_id, kind, after))
                worker.kill()
                worker.start()
                await wait_for(stack, TENANT, run_id, lambda p, phase=phase: p.phase != phase, timeout=90, poll=0.5)
                await set_jira_faults(sandbox, share_drop_after_write=0.0)
            final = await wait_final(stack, TENANT, run_id, timeout=120)
        finally:
            worker.stop()
        report = await check_content(sandbox, await jira_issues(sandbox), comment_cap=KILL_TEST_CAP)
        assert report.problems == [], "\n".join(report.problems[:30])
        assert final.status == RunStatus.INCOMPLETE  # the over-limit attachment, and nothing else of ours
        assert final.counters["attachments"].failed == 1
        assert final.counters["comments"].failed == 0
        assert await written_more_than_once(stack, migration_id) > 0, "the kills and faults should have forced reconciliation"


async def _at_least(stack, migration_id: str, kind: str, n: int) -> bool:
    return await done_count(stack, migration_id, kind) >= n
