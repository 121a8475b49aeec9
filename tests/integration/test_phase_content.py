"""Phases 5 and 7 end to end: attachments by sha-256, revision history, the description rewrite,
comments in order with attribution, and exactly once across SIGKILLed workers and lost responses."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select

from migrayt.contracts.runs import RunStatus
from migrayt.mapping.plan import default_plan
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.generator.project import SourceChange
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from tests.integration.checker_content import check_content
from tests.integration.harness import (
    WorkerProcess,
    create_sandbox_migration,
    jira_issues,
    set_jira_faults,
    wait_final,
    wait_for,
    wait_until_held,
)

TENANT = "content-co"
SPEC = ProjectSpec(seed=13, items=60)
# Small enough that the 350-comment item overflows; the sandbox Jira enforces the same cap.
COMMENT_CAP = 300
KILL_TEST_CAP = 120


async def records(stack, migration_id: str, kind: str) -> list[ItemRecord]:
    async with stack.service.sessions() as session:
        return list(
            await session.scalars(
                select(ItemRecord).where(ItemRecord.migration_id == migration_id, ItemRecord.kind == kind)
            )
        )


async def test_full_run_lands_every_file_and_comment(stack, worker, monkeypatch):
    monkeypatch.setenv("MIGRAYT_JIRA_COMMENTS_PER_ISSUE", str(COMMENT_CAP))
    ugly = GeneratedProject(SPEC).ugly_cases()
    with running_sandbox(SPEC, jira_options={"max_comments_per_issue": COMMENT_CAP}) as sandbox:
        # With Jira's notifications on, `@` mentions stay mentions of the people's accounts (checked one by one).
        plan = default_plan().model_copy(update={"mute_notifications": False})
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        started = time.monotonic()
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        progress = await wait_final(stack, TENANT, run_id)
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
        assert (
            attachments.failed == 1
            and attachments.total == attachments.created + attachments.skipped + attachments.failed
        )
        assert progress.status == RunStatus.INCOMPLETE
        # The ugly cases are really in there.
        assert report.attachments_found >= 120 and report.comments_found >= COMMENT_CAP
        assert report.inline_images > 0
        assert report.mentions > 0 and report.references > 0  # people and #N resolved, checked one by one above
        done = [r for r in await records(stack, migration_id, "attachment") if r.state == "done"]
        assert all(len(r.detail["sha256"]) == 64 for r in done)
        descriptions = {r.source_key: r.detail for r in await records(stack, migration_id, "description")}
        assert descriptions[str(ugly["long_description"])]["truncated"] is True
        overflow = await records(stack, migration_id, "comment_overflow")
        assert [(r.source_key, r.detail["comments"]) for r in overflow] == [
            (str(ugly["many_comments"]), 350 - COMMENT_CAP)
        ]
        print(
            f"\ncontent run: {SPEC.items} items, {report.attachments_found} attachments, "
            f"{report.comments_found} comments, {report.inline_images} inline images, {report.mentions} mentions, "
            f"{report.references} #references in {elapsed:.1f}s"
        )


async def written_more_than_once(stack, migration_id: str) -> int:
    async with stack.service.sessions() as session:
        return await session.scalar(
            select(func.count()).where(
                ItemRecord.migration_id == migration_id,
                ItemRecord.kind.in_(("attachment", "history", "comment")),
                (ItemRecord.attempts > 1) | ItemRecord.detail["reconciled"].as_boolean(),
            )
        )


async def test_killed_in_phases_5_and_7_with_lost_responses_writes_nothing_twice(stack, tmp_path, monkeypatch):
    # The worker process inherits the cap: fewer comments posted one by one keeps this test short.
    monkeypatch.setenv("MIGRAYT_JIRA_COMMENTS_PER_ISSUE", str(KILL_TEST_CAP))
    # Writes of each phase past its first few wait unanswered until the worker is dead: the kill always cuts a
    # batch mid-way, however fast the machine is.
    attachments, comments = r"POST /rest/api/3/issue/[^/]+/attachments", r"POST /rest/api/3/issue/[^/]+/comment"
    faults = FaultConfig(seed=9, hold=[attachments], hold_after=25)
    with running_sandbox(SPEC, jira_faults=faults, jira_options={"max_comments_per_issue": KILL_TEST_CAP}) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
        worker = WorkerProcess(stack, tmp_path / "worker.log")
        worker.start()
        try:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            # Lost responses only while phases 5 and 7 write (the other phases have their own tests).
            for phase, next_hold in (("attachments", [comments]), ("comments", [])):
                await wait_for(stack, TENANT, run_id, lambda p, phase=phase: p.phase == phase, poll=0.25)
                await set_jira_faults(sandbox, share_drop_after_write=0.08)
                await wait_until_held(sandbox)
                worker.kill()
                # The held writes land now, their answers lost with the worker.
                await set_jira_faults(sandbox, hold=next_hold, hold_after=40)
                worker.start()
                await wait_for(stack, TENANT, run_id, lambda p, phase=phase: p.phase != phase, poll=0.5)
                await set_jira_faults(sandbox, share_drop_after_write=0.0)
            final = await wait_final(stack, TENANT, run_id)
        finally:
            worker.stop()
        report = await check_content(sandbox, await jira_issues(sandbox), comment_cap=KILL_TEST_CAP)
        assert report.problems == [], "\n".join(report.problems[:30])
        assert final.status == RunStatus.INCOMPLETE  # the over-limit attachment, and nothing else of ours
        assert final.counters["attachments"].failed == 1
        assert final.counters["comments"].failed == 0
        assert await written_more_than_once(stack, migration_id) > 0, (
            "the kills and faults should have forced reconciliation"
        )


# --------------------------------------------------------------------------- overflow in parts

PARTS_CAP = 20
# A small upload limit (sandbox Jira and the worker's setting agree) so one item's overflow needs many parts.
PARTS_LIMIT = 40_000
MARKER = re.compile(r"Azure DevOps comment id (\d+)")


def discussion() -> tuple[str, ...]:
    """110 comments of 1–2 KB, one of 30 KB (alone in its part, still under the limit) and one of
    60 KB (over the limit on its own)."""
    texts = [f"<p>Note {i}: " + "réglage ✓ of the build, " * (40 + (i * 7) % 40) + "</p>" for i in range(110)]
    texts[40] = "<p>Big log: " + "line of output\n" * 2000 + "</p>"
    texts[75] = "<p>Giant dump: " + "x" * 60_000 + "</p>"
    return tuple(texts)


async def test_overflow_past_the_upload_limit_is_split_into_parts_and_nothing_is_lost(
    stack, worker, monkeypatch, upload_limit_setting
):
    monkeypatch.setenv("MIGRAYT_JIRA_COMMENTS_PER_ISSUE", str(PARTS_CAP))
    upload_limit_setting(PARTS_LIMIT)
    options = {"max_comments_per_issue": PARTS_CAP, "max_attachment_bytes": PARTS_LIMIT}
    with running_sandbox(items=20, seed=31, jira_options=options) as sandbox:
        project = sandbox.sandbox.project
        ugly = set(project.ugly_cases().values())
        task = next(i for i in project.item_ids() if project.core(i).type == "Task" and i not in ugly)
        project.change(task, SourceChange(at=datetime(2025, 6, 1, tzinfo=UTC), comment_texts=discussion()))
        expected = [c.id for c in project.comments(task)]
        overflow = expected[PARTS_CAP:]
        giant = expected[-110 + 75]

        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status == RunStatus.INCOMPLETE  # the giant comment's part, at least
        c = final.counters["comments"]
        assert c.created + c.skipped + c.failed == c.total and c.failed == 1

        issue = next(i for i in await jira_issues(sandbox) if f"ado-id-{task}" in i["labels"])
        assert [int(MARKER.search(jc["body"]).group(1)) for jc in issue["comments"]] == expected[:PARTS_CAP]
        parts = {
            r.source_key: r
            for r in await records(stack, migration_id, "comment_overflow")
            if r.source_key == str(task) or r.source_key.startswith(f"{task}:")
        }
        n = len(parts)
        assert n >= 3
        assert sorted(parts) == sorted([str(task)] + [f"{task}:{k}" for k in range(2, n + 1)])
        failed = [k for k, r in parts.items() if r.state == "failed"]
        assert len(failed) == 1 and "too large" in parts[failed[0]].error and "413" in parts[failed[0]].error
        assert all(r.state == "done" for k, r in parts.items() if k not in failed)

        names = [a["filename"] for a in issue["attachments"]]
        auth = (sandbox.sandbox.jira_email, sandbox.sandbox.jira_token)
        kept: list[int] = []
        async with httpx.AsyncClient(base_url=sandbox.jira_url, auth=auth, timeout=60, follow_redirects=True) as jira:
            rest = (await jira.get(f"/rest/api/3/issue/{issue['key']}", params={"fields": "attachment"})).json()
            contents = {a["filename"]: a["content"] for a in rest["fields"]["attachment"]}
            for k in range(1, n + 1):
                key = str(task) if k == 1 else f"{task}:{k}"
                name = f"ado-{task}-comments-overflow.html" if k == 1 else f"ado-{task}-comments-overflow-{k}.html"
                if key in failed:
                    assert name not in names
                    kept.append(giant)  # refused alone: the only comment of its part
                    continue
                assert names.count(name) == 1, (name, names)
                page = (await jira.get(contents[name])).content
                assert len(page) <= PARTS_LIMIT
                text = page.decode()
                markers = [int(m) for m in MARKER.findall(text)]
                first = PARTS_CAP + len(kept) + 1
                assert f"Part {k} of {n}</strong>: comments #{first:,} to #{first + len(markers) - 1:,}" in text
                kept += markers
        # Every ADO comment exactly once: a Jira comment, or in one part, in ADO's order.
        assert kept == overflow
        assert parts[str(task)].detail["first_comment_id"] == overflow[0]

        # A re-run writes nothing new: the refused part is refused again, the rest is already there.
        before = await jira_issues(sandbox)
        again = await stack.service.rerun(TENANT, run_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, again)
        assert final.counters["comments"].created == 0 and final.counters["comments"].failed == 1
        assert await jira_issues(sandbox) == before


# --------------------------------------------------------------------------- longest threads first

# Item 20 of this project is the deepest (a Task three levels down): last in ADO's order and in the last tier.
THREADS_SPEC = ProjectSpec(seed=41, items=20, ugly=False)
LONG_THREAD = 40


async def test_the_longest_thread_starts_first_even_when_its_item_comes_last(stack, worker, monkeypatch):
    # Batches of 5, one at a time: which batch an item is in decides when its comments start.
    monkeypatch.setattr(
        stack.service, "settings", stack.settings.model_copy(update={"batch_size": 5, "concurrency": 1})
    )
    with running_sandbox(THREADS_SPEC) as sandbox:
        project = sandbox.sandbox.project
        heavy = max(project.item_ids())
        project.change(heavy, SourceChange(at=datetime(2025, 6, 1, tzinfo=UTC), comments=LONG_THREAD))
        plan = default_plan().model_copy(
            update={
                "skip_phases": ["links", "attachments", "transitions", "7pace", "xray"],
                "mute_notifications": False,
            }
        )
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)

        first_comment: dict[int, int] = {}  # ADO id → the id Jira gave its first comment
        counts: dict[int, int] = {}
        auth = (sandbox.sandbox.jira_email, sandbox.sandbox.jira_token)
        async with httpx.AsyncClient(base_url=sandbox.jira_url, auth=auth, timeout=60) as jira:
            for issue in await jira_issues(sandbox):
                if not issue["comments"]:
                    continue
                ado_id = next(int(label[7:]) for label in issue["labels"] if label.startswith("ado-id-"))
                page = (await jira.get(f"/rest/api/3/issue/{issue['key']}/comment", params={"maxResults": 1})).json()
                first_comment[ado_id], counts[ado_id] = int(page["comments"][0]["id"]), page["total"]

    assert final.status == RunStatus.COMPLETED
    assert counts[heavy] == project.comment_count(heavy) >= LONG_THREAD
    # Jira numbers comments as they come: the long thread began in the comments phase's first batch of 5.
    started_in_turn = sorted(first_comment, key=first_comment.__getitem__)
    assert started_in_turn.index(heavy) < 5, started_in_turn
    assert len(started_in_turn) > 5
