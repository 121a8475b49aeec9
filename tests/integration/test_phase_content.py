"""Phases 5 and 7 end to end: attachments by sha-256, revision history, the description rewrite,
comments in order with attribution, and exactly once across SIGKILLed workers and lost responses."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from migrayt.activities.execution import content_text
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


async def records(stack, migration_id: str, kind: str) -> list[ItemRecord]:
    async with stack.service.sessions() as session:
        return list(await session.scalars(select(ItemRecord).where(ItemRecord.migration_id == migration_id, ItemRecord.kind == kind)))


async def test_full_run_lands_every_file_and_comment(stack, worker, monkeypatch):
    monkeypatch.setattr(content_text, "JIRA_COMMENT_CAP", COMMENT_CAP)
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


async def test_killed_in_phases_5_and_7_with_lost_responses_writes_nothing_twice(stack, tmp_path):
    with running_sandbox(SPEC, jira_faults=FaultConfig(seed=9)) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
        worker = WorkerProcess(stack, tmp_path / "worker.log")
        worker.start()
        try:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            # Lost responses from the phase before ours on: phases 1-2 have their own crash tests.
            await wait_for(stack, TENANT, run_id, lambda p: p.phase in ("hierarchy", "links", "attachments"), timeout=60, poll=0.05)
            await set_jira_faults(sandbox, share_drop_after_write=0.08)
            for phase in ("attachments", "comments"):
                await wait_for(stack, TENANT, run_id, lambda p, phase=phase: p.phase == phase, timeout=90, poll=0.05)
                worker.kill()
                worker.start()
            final = await wait_final(stack, TENANT, run_id, timeout=120)
        finally:
            worker.stop()
        report = await check_content(sandbox, await jira_issues(sandbox))
        assert report.problems == [], "\n".join(report.problems[:30])
        assert final.status == RunStatus.INCOMPLETE  # the over-limit attachment, and nothing else of ours
        assert final.counters["attachments"].failed == 1
        assert final.counters["comments"].failed == 0
        assert await written_more_than_once(stack, migration_id) > 0, "the faults should have forced reconciliation"
