"""Phase 8's 7pace plugin end to end: every 7pace work log a worklog on its migrated issue, exactly once across a
SIGKILLed worker and answers lost after the write; the scan detects it; the cap overflows to a file."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

import httpx
from sqlalchemy import select

from migrayt.contracts.preview import PreviewReport
from migrayt.contracts.runs import RunStatus
from migrayt.contracts.validation import FINAL_VALIDATION_STATUSES
from migrayt.core.intake import IntakeService
from migrayt.core.validations import ValidationService
from migrayt.mapping.plan import FieldMapping, default_plan
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.generator.project import type_of
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from tests.integration.harness import (
    WorkerProcess,
    create_sandbox_migration,
    jira_issues,
    set_jira_faults,
    wait_final,
    wait_for,
    wait_until_held,
)

TENANT = "timetracker-co"
JIRA_AUTH = ("migrator@example.com", "sandbox-token")
SPEC = ProjectSpec(seed=23, items=40)
WORKLOG_POSTS = r"POST /rest/api/3/issue/[^/]+/worklog"


def plan_without_content():
    """7pace is what these tests look at: leave out the slow content phases."""
    plan = default_plan()
    plan.skip_phases = ["attachments", "comments"]
    return plan


def source_seconds(spec: ProjectSpec) -> dict[int, list[tuple[str, int]]]:
    """ADO id → its 7pace work logs (id, seconds), as the sandbox serves them."""
    project = GeneratedProject(spec)
    return {i: [(w.id, w.length_seconds) for w in project.worklogs(i)] for i in project.item_ids()}


async def records(stack, migration_id: str, kind: str) -> list[ItemRecord]:
    async with stack.service.sessions() as session:
        return list(
            await session.scalars(
                select(ItemRecord).where(ItemRecord.migration_id == migration_id, ItemRecord.kind == kind)
            )
        )


def migrated_worklogs(issues: list[dict]) -> tuple[dict[int, list[dict]], Counter]:
    """ADO id → the migrated worklogs on its issue, and how often each 7pace work log id is on Jira."""
    by_item: dict[int, list[dict]] = defaultdict(list)
    seen: Counter = Counter()
    for issue in issues:
        for w in issue["worklogs"]:
            source = w["properties"].get("migrayt.source")
            if source:
                by_item[int(source["id"])].append(w)
                seen[source["worklog"]] += 1
    return by_item, seen


async def worklog_differences(stack, migration_id: str) -> list:
    """A validation of the migration: its differences of the worklogs check."""
    svc = ValidationService(stack.settings, stack.service.sessions, stack.client)
    vid = await svc.start(TENANT, migration_id, "test@validate.example", "api")
    while (await svc.progress(TENANT, migration_id, vid))[1].status not in FINAL_VALIDATION_STATUSES:
        await asyncio.sleep(0.3)
    found = await svc.differences(TENANT, migration_id, vid, page=1, page_size=500)
    return [d for d in found.differences if d.check == "worklogs"]


def ado_id_of(issue: dict) -> int:
    return int(next(label for label in issue["labels"] if label.startswith("ado-id-"))[len("ado-id-") :])


async def test_full_run_logs_every_7pace_work_log_once_with_its_seconds(stack, worker):
    expected = source_seconds(SPEC)
    with running_sandbox(SPEC) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan_without_content(), tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        progress = await wait_final(stack, TENANT, run_id)
        issues = await jira_issues(sandbox)
        # Validation checks the worklogs too: nothing to report, until one is deleted in Jira.
        assert await worklog_differences(stack, migration_id) == []
        item = min(i for i, logs in expected.items() if logs)
        key = next(issue["key"] for issue in issues if ado_id_of(issue) == item)
        async with httpx.AsyncClient(base_url=sandbox.jira_url, auth=JIRA_AUTH) as jira:
            first = (await jira.get(f"/rest/api/3/issue/{key}/worklog")).json()["worklogs"][0]
            assert (await jira.delete(f"/rest/api/3/issue/{key}/worklog/{first['id']}")).status_code == 204
        [missing] = await worklog_differences(stack, migration_id)
        assert (missing.ado_id, missing.jira_key, missing.kind) == (item, key, "missing")
        assert missing.expected == f"{sum(s for _, s in expected[item])} seconds logged"

    by_item, seen = migrated_worklogs(issues)
    with_logs = {i for i, logs in expected.items() if logs}
    assert len(with_logs) >= 10 and sum(len(logs) for logs in expected.values()) >= 30
    # Every item's seconds in Jira sum to the source's, each work log exactly once.
    migrated = {ado_id_of(issue) for issue in issues}
    assert with_logs <= migrated
    for item in with_logs:
        assert sum(w["seconds"] for w in by_item[item]) == sum(s for _, s in expected[item]), item
    assert set(seen) == {w for logs in expected.values() for w, _ in logs} and set(seen.values()) == {1}
    # Posted as history: the estimate left alone, nobody notified, started at the source's time.
    every = [w for logs in by_item.values() for w in logs]
    assert {(w["adjust_estimate"], w["notify_users"]) for w in every} == {("leave", False)}
    # The phase names itself and counts per item: one "logged" per item with work logs.
    counters = progress.counters["7pace"]
    assert progress.status == RunStatus.COMPLETED, progress
    assert (counters.created, counters.failed) == (len(with_logs), 0)
    assert counters.total == counters.created + counters.skipped
    done = await records(stack, migration_id, "worklog")
    assert len(done) == len(seen) and {r.state for r in done} == {"done"}
    assert sum(r.detail["seconds"] for r in done) == sum(s for logs in expected.values() for _, s in logs)


async def test_scan_detects_7pace_and_quotes_its_worklogs_and_not_when_it_is_absent(stack, worker):
    """Absent, 7pace is neither quoted nor written: a run passes every item over."""
    intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
    logs = sum(len(v) for v in source_seconds(SPEC).values())
    for installed in (True, False):
        spec = SPEC.model_copy(update={"timetracker": installed})
        with running_sandbox(spec) as sandbox:
            migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
            scan_id = await intake.start_scan(TENANT, migration_id, actor="test", door="api", draft_plan=False)
            scan = await intake.scan_result(scan_id)
            assert scan.status == "COMPLETED", scan.error
            view = await intake.get_scan(TENANT, scan_id)
            if not installed:
                # Nothing to carry: the plugin passes every item over and the run completes.
                run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
                progress = await wait_final(stack, TENANT, run_id)
                seven = progress.counters["7pace"]
                assert (seven.created, seven.failed, seven.skipped) == (0, 0, seven.total) and seven.total > 0
        found = view.catalog["plugins"]["7pace"]
        lines = {line["what"]: line for line in view.quote["lines"]}
        if installed:
            assert found["detection"]["source_uses"] is True and found["units"] == {"worklog": logs}
            assert found["counts"]["work logs"] == logs and lines["worklog"]["quantity"] == logs
        else:
            assert found["detection"]["source_uses"] is False and "not installed" in found["detection"]["reason"]
            assert "worklog" not in lines  # a plugin that will not run is not quoted


async def test_killed_mid_plugin_with_lost_answers_logs_nothing_twice(stack, tmp_path):
    expected = source_seconds(SPEC)
    total = sum(len(v) for v in expected.values())
    # Worklog posts past the first few wait unanswered until the worker is dead: the kill always cuts the plugin's
    # batches mid-way, however fast the machine is.
    faults = FaultConfig(seed=5, hold=[WORKLOG_POSTS], hold_after=8)
    with running_sandbox(SPEC, jira_faults=faults) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan_without_content(), tenant=TENANT)
        worker = WorkerProcess(stack, tmp_path / "worker.log")
        worker.start()
        try:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            await wait_for(stack, TENANT, run_id, lambda p: p.phase == "7pace", poll=0.25)
            await wait_until_held(sandbox)
            # Answers lost after the write while the held posts land with the worker gone, and after the restart.
            await set_jira_faults(sandbox, share_drop_after_write=0.15)
            worker.kill()
            await set_jira_faults(sandbox, hold=[], share_drop_after_write=0.15)
            worker.start()
            final = await wait_final(stack, TENANT, run_id)
        finally:
            worker.stop()
        issues = await jira_issues(sandbox)

    by_item, seen = migrated_worklogs(issues)
    assert final.status == RunStatus.COMPLETED, final
    assert sum(seen.values()) == total and set(seen.values()) == {1}, "a 7pace work log is on Jira twice"
    for item, logs in expected.items():
        assert sum(w["seconds"] for w in by_item.get(item, [])) == sum(s for _, s in logs), item
    done = await records(stack, migration_id, "worklog")
    assert len(done) == total and {r.state for r in done} == {"done"}
    assert any((r.detail or {}).get("reconciled") for r in done), "the kill and lost answers should force a look"


async def test_work_logs_past_the_cap_go_to_a_file_and_a_log_on_an_item_not_migrated_fails_alone(
    stack, worker, monkeypatch
):
    cap = 2
    monkeypatch.setenv("MIGRAYT_JIRA_WORKLOGS_PER_ISSUE", str(cap))
    expected = source_seconds(SPEC)
    # Every bug carries a severity, which is no number: each bug fails in create items, so its issue is not in Jira
    # and each of its work logs fails alone, with that reason.
    plan = plan_without_content()
    plan.fields.append(
        FieldMapping(source="Microsoft.VSTS.Common.Severity", target="customfield_10016", transform="number")
    )
    bugs = {i for i in expected if type_of(i) == "Bug"}
    with running_sandbox(SPEC, jira_options={"max_worklogs_per_issue": cap}) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        progress = await wait_final(stack, TENANT, run_id)
        issues = await jira_issues(sandbox)

    by_item, seen = migrated_worklogs(issues)
    failed = [r for r in await records(stack, migration_id, "worklog") if r.state == "failed"]
    bug_logs = {f"{i}:{w}" for i in bugs for w, _ in expected[i]}
    assert bug_logs and {r.source_key for r in failed} == bug_logs
    assert all("has no Jira issue" in r.error and "not migrated" in r.error for r in failed)
    assert progress.counters["7pace"].failed == len({i for i in bugs if expected[i]})
    assert progress.status == RunStatus.INCOMPLETE
    over = {i for i, logs in expected.items() if len(logs) > cap and i not in bugs}
    assert over, "the generated project should have items past the cap"
    files = {r.source_key: r for r in await records(stack, migration_id, "worklog_overflow")}
    assert set(files) == {str(i) for i in over} and {r.state for r in files.values()} == {"done"}
    for item in over:
        kept = expected[item][:cap]
        assert sum(w["seconds"] for w in by_item[item]) == sum(s for _, s in kept)
        assert files[str(item)].detail["seconds"] == sum(s for _, s in expected[item][cap:])
        on_issue = next(i for i in issues if ado_id_of(i) == item)
        assert any(a["filename"] == f"ado-{item}-7pace-worklogs-over-cap.txt" for a in on_issue["attachments"])


async def test_preview_predicts_the_plugins_counters_and_failures_as_the_run_produces_them(stack, worker):
    intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
    expected = source_seconds(SPEC)
    plan = plan_without_content()
    plan.fields.append(
        FieldMapping(source="Microsoft.VSTS.Common.Severity", target="customfield_10016", transform="number")
    )
    with running_sandbox(SPEC) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        preview_id = await intake.start_preview(TENANT, migration_id, actor="test", door="api", samples=2)
        assert (await intake.preview_result(preview_id)).status == "COMPLETED"
        report = PreviewReport.model_validate((await intake.get_preview(TENANT, preview_id)).report)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        progress = await wait_final(stack, TENANT, run_id)
        failures = await stack.service.failures(TENANT, migration_id, limit=10_000)

    predicted = report.phases["7pace"]
    assert predicted.model_dump() == progress.counters["7pace"].model_dump()
    assert predicted.created > 0 and predicted.failed == len(
        {i for i in expected if type_of(i) == "Bug" and expected[i]}
    )
    assert predicted.failed > 0
    worklog_failures = {(f.source_key, f.reason) for f in report.failures if f.kind == "worklog"}
    assert worklog_failures == {(f["source_key"], f["error"]) for f in failures if f["kind"] == "worklog"}
