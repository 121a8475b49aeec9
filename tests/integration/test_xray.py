"""ADO test cases → Xray over the real parts: every test with its steps in order (shared steps expanded) and its
dataset, every suite and plan membership; exactly once with the worker SIGKILLed and Xray's answers dropped; and
the steps as a table in the description on a site without Xray."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from migrayt.contracts.preview import PreviewReport
from migrayt.contracts.runs import RunStatus
from migrayt.core.intake import IntakeService
from migrayt.core.undo import UndoService
from migrayt.mapping.plan import default_plan
from migrayt.plugins.xray import TABLE_HEADING
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.generator.project import SourceChange
from migrayt.sandbox.server import SandboxServer
from migrayt.sandbox.testing import running_sandbox, set_faults
from migrayt.store.models import ItemRecord
from migrayt.translation.test_steps import parse_test_case, shared_step_ids
from tests.integration.harness import (
    create_sandbox_migration,
    jira_issues,
    record_states,
    wait_final,
    wait_for,
    worker_process,
)

TENANT = "xray-co"
# Three test cases (two with shared steps, two with a dataset) in five Test Sets and Plans, one import job, ~40 Xray
# writes in the plugin phase: what each test checks is there, and plenty of writes pass the hold after the first 6.
ITEMS = 45
# Xray writes after the first few wait unanswered until the worker is dead: the kill lands mid-plugin.
XRAY_WRITES = r"POST /api/v2/(graphql|dataset/import)"


def plan():
    p = default_plan()
    p.skip_phases = ["attachments", "comments"]  # content phases have their own tests
    return p


async def xray_migration(stack, sandbox: SandboxServer, *, with_xray: bool = True) -> str:
    return await create_sandbox_migration(stack, sandbox, plan(), TENANT, with_xray=with_xray)


def expected_tests(project: GeneratedProject) -> dict[int, dict[str, Any]]:
    """What each test case must become, read from the generated source with the same parser's rules."""
    out = {}
    for i in project.item_ids():
        if project.core(i).type != "Test Case":
            continue
        f = project.work_item(i).fields
        shared = {
            s: project.work_item(s).fields["Microsoft.VSTS.TCM.Steps"]
            for s in shared_step_ids(f["Microsoft.VSTS.TCM.Steps"])
        }
        parsed = parse_test_case(
            f["Microsoft.VSTS.TCM.Steps"],
            shared_steps=shared,
            parameters_xml=f.get("Microsoft.VSTS.TCM.Parameters"),
            data_source_xml=f.get("Microsoft.VSTS.TCM.LocalDataSource"),
        )
        out[i] = {
            "steps": [(s.action, s.expected) for s in parsed.steps],
            "shared": bool(shared),
            "parameters": list(parsed.dataset.parameters) if parsed.dataset else [],
            "rows": [list(r) for r in parsed.dataset.rows] if parsed.dataset else [],
        }
    return out


def expected_memberships(project: GeneratedProject) -> dict[str, set[int]]:
    """Container summary → the test case ids it must hold: a Test Set per suite, a Test Plan per plan."""
    out: dict[str, set[int]] = {}
    for p in project.test_plans():
        out[f"plan {p.name}"] = {tc for s in p.suites for tc in s.test_case_ids}
        for s in p.suites[1:]:
            out[f"set {p.name}/{s.name}"] = set(s.test_case_ids)
    return out


async def xray_tests(sandbox: SandboxServer) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        return (await http.get(f"{sandbox.xray_url}/_sandbox/state/tests")).json()


def key_of_item(issues: list[dict]) -> dict[int, str]:
    return {int(label[7:]): i["key"] for i in issues for label in i["labels"] if label.startswith("ado-id-")}


def assert_each_item_once(issues: list[dict]) -> None:
    labels = [label for i in issues for label in i["labels"] if label.startswith("ado-id-")]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    assert not twice, f"made twice: {twice}"


async def assert_tests_and_memberships(sandbox: SandboxServer, project: GeneratedProject) -> None:
    issues = await jira_issues(sandbox)
    assert_each_item_once(issues)
    keys = key_of_item(issues)
    state = await xray_tests(sandbox)
    expected = expected_tests(project)
    assert any(e["shared"] for e in expected.values()) and any(e["parameters"] for e in expected.values())
    for item, want in expected.items():
        test = state["tests"][keys[item]]
        assert test["type"] == "Manual"
        assert test["job"] is not None, f"test case #{item} was not made by Xray's bulk import"
        assert [(s["action"], s["result"]) for s in test["steps"]] == want["steps"], f"test case #{item}"
        assert test["parameters"] == want["parameters"]
        assert [[row[p] for p in test["parameters"]] for row in test["rows"]] == want["rows"]
    # Every container once (no duplicate Test Set or Test Plan), holding exactly its test cases.
    by_key = {i["key"]: i for i in issues}
    item_of = {v: k for k, v in keys.items()}
    held: dict[str, set[int]] = {}
    containers = [(k, "set", m) for k, m in state["test_sets"].items()] + [
        (k, "plan", m) for k, m in state["test_plans"].items()
    ]
    plan_names = {p.id: p.name for p in project.test_plans()}
    suite_names = {s.id: (p.name, s.name) for p in project.test_plans() for s in p.suites}
    for key, kind, members in containers:
        label = next(lbl for lbl in by_key[key]["labels"] if lbl.startswith("ado-test-"))
        ado_id = int(label.rsplit("-", 1)[1])
        name = f"plan {plan_names[ado_id]}" if kind == "plan" else "set {}/{}".format(*suite_names[ado_id])
        assert name not in held, f"{name} made twice"
        assert len(members) == len(set(members)), f"{name} holds a test twice"
        held[name] = {item_of[m] for m in members}
    assert held == expected_memberships(project)


async def test_a_run_carries_every_test_with_its_steps_dataset_and_suite_memberships(stack, worker):
    spec = ProjectSpec(seed=31, items=ITEMS, test_management=True)
    with running_sandbox(spec) as sandbox:
        migration_id = await xray_migration(stack, sandbox)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status == RunStatus.COMPLETED, final.model_dump_json()
        project = sandbox.sandbox.project
        await assert_tests_and_memberships(sandbox, project)
        tests = len(expected_tests(project))
        counters = final.counters["xray"]
        assert counters.created == tests and counters.failed == 0
        # Xray wants each Test's issue id: read for the batch's Tests together, not one issue read per test case.
        async with httpx.AsyncClient(timeout=10) as http:
            jira_calls = (await http.get(f"{sandbox.jira_url}/_sandbox/faults")).json()["counters"]["by_endpoint"]
        issue_reads = jira_calls.get("GET /rest/api/3/issue/{id}", {}).get("requests", 0)
        assert issue_reads < tests, {k: v["requests"] for k, v in jira_calls.items()}
        assert (await record_states(stack, migration_id, "xray_test")) == {"done": tests}

        # Someone rewrites one test case's steps in ADO: the next run carries the new steps to its Test, once,
        # and leaves every other test as it is.
        changed = min(expected_tests(project))
        new_steps = (
            '<steps id="0" last="3"><step id="2" type="ValidateStep"><parameterizedString isformatted="true">'
            'Press reset</parameterizedString><parameterizedString isformatted="true">All clear</parameterizedString>'
            "</step></steps>"
        )
        project.change(changed, SourceChange(at=datetime.now(UTC), fields={"Microsoft.VSTS.TCM.Steps": new_steps}))
        again = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        second = await wait_final(stack, TENANT, again)
        assert second.status == RunStatus.COMPLETED, second.model_dump_json()
        assert second.counters["xray"].created == 1
        await assert_tests_and_memberships(sandbox, project)
        keys = key_of_item(await jira_issues(sandbox))
        steps = (await xray_tests(sandbox))["tests"][keys[changed]]["steps"]
        assert [(s["action"], s["result"]) for s in steps] == [("Press reset", "All clear")]


async def test_killed_mid_plugin_with_xray_answers_dropped_leaves_no_duplicates(stack, tmp_path):
    spec = ProjectSpec(seed=32, items=ITEMS, test_management=True)
    faults = FaultConfig(share_drop_after_write=0.3, seed=5, hold=[XRAY_WRITES], hold_after=6)
    with running_sandbox(spec, xray_faults=faults) as sandbox:
        assert sandbox.xray_url is not None
        migration_id = await xray_migration(stack, sandbox)
        async with worker_process(stack, tmp_path / "worker.log") as worker:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            await wait_for(stack, TENANT, run_id, lambda p: p.phase == "xray")
            await until_held(sandbox.xray_url)
            worker.kill()
            set_faults(sandbox.xray_url, hold=[])
            worker.start()
            final = await wait_final(stack, TENANT, run_id)
        async with httpx.AsyncClient(timeout=10) as http:
            counters = (await http.get(f"{sandbox.xray_url}/_sandbox/faults")).json()["counters"]
        assert counters["dropped_after_write"] > 0, "the test must have dropped some answers"
        assert final.status == RunStatus.COMPLETED, final.model_dump_json()
        await assert_tests_and_memberships(sandbox, sandbox.sandbox.project)


# The status of an import job Xray is running: polled once the job's id is committed.
IMPORT_STATUS = r"GET /api/v2/import/test/bulk/[^/]+/status"


async def test_killed_while_an_import_job_runs_reads_the_job_and_imports_nothing_twice(stack, tmp_path):
    spec = ProjectSpec(seed=35, items=ITEMS, test_management=True)
    with running_sandbox(spec, xray_faults=FaultConfig(hold=[IMPORT_STATUS])) as sandbox:
        assert sandbox.xray_url is not None
        migration_id = await xray_migration(stack, sandbox)
        async with worker_process(stack, tmp_path / "worker.log") as worker:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            # The import was sent and Xray runs (has run) the job; the worker dies before it reads the outcome.
            await until_held(sandbox.xray_url)
            worker.kill()
            set_faults(sandbox.xray_url, hold=[])
            worker.start()
            final = await wait_final(stack, TENANT, run_id)
        assert final.status == RunStatus.COMPLETED, final.model_dump_json()
        await assert_tests_and_memberships(sandbox, sandbox.sandbox.project)
        details = await records_of_test_cases(stack, migration_id, expected_tests(sandbox.sandbox.project))
        # Each test's key was read from its job's status (after the restart too), none settled by a label search.
        assert all(d.get("xray_job") and not d.get("reconciled") for d in details), details


async def records_of_test_cases(stack, migration_id: str, items: Any) -> list[dict[str, Any]]:
    async with stack.service.sessions() as session:
        rows = await session.scalars(
            select(ItemRecord.detail).where(
                ItemRecord.migration_id == migration_id,
                ItemRecord.kind == "issue",
                ItemRecord.state == "done",
                ItemRecord.source_key.in_([str(i) for i in items]),
            )
        )
        return list(rows.all())


async def test_answers_to_the_import_dropped_leave_no_duplicate_tests(stack, worker):
    spec = ProjectSpec(seed=36, items=ITEMS, test_management=True)
    # Every Xray write's answer is lost until one was: the first is the import of a batch's test cases.
    with running_sandbox(spec, xray_faults=FaultConfig(share_drop_after_write=1.0, seed=3)) as sandbox:
        assert sandbox.xray_url is not None
        migration_id = await xray_migration(stack, sandbox)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        await until_dropped(sandbox.xray_url)
        set_faults(sandbox.xray_url, share_drop_after_write=0.0)
        final = await wait_final(stack, TENANT, run_id)
        assert final.status == RunStatus.COMPLETED, final.model_dump_json()
        await assert_tests_and_memberships(sandbox, sandbox.sandbox.project)
        details = await records_of_test_cases(stack, migration_id, expected_tests(sandbox.sandbox.project))
        assert any(d.get("reconciled") for d in details), "a test case's import answer must have been lost"


async def test_a_job_reporting_errors_fails_only_those_test_cases_with_the_reason(stack, worker):
    spec = ProjectSpec(seed=37, items=ITEMS, test_management=True)
    with running_sandbox(spec) as sandbox:
        assert sandbox.xray_url is not None
        project = sandbox.sandbox.project
        expected = expected_tests(project)
        refused = sorted(expected)[:2]
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.put(
                f"{sandbox.xray_url}/_sandbox/import-refusals",
                json={f"ado-id-{i}": {"priority": "The priority selected is invalid."} for i in refused},
            )
            answer.raise_for_status()
        migration_id = await xray_migration(stack, sandbox)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status == RunStatus.INCOMPLETE, final.model_dump_json()
        assert final.counters["create_items"].failed == len(refused), final.model_dump_json()
        async with stack.service.sessions() as session:
            failed = dict(
                (
                    await session.execute(
                        select(ItemRecord.source_key, ItemRecord.error).where(
                            ItemRecord.migration_id == migration_id,
                            ItemRecord.kind == "issue",
                            ItemRecord.state == "failed",
                        )
                    )
                ).all()
            )
        assert set(failed) == {str(i) for i in refused}
        for reason in failed.values():
            # Worded as create items words Jira's refusals, so a preview's prediction reads the same.
            assert reason == "Jira refused the issue: priority: The priority selected is invalid.", reason
        issues = await jira_issues(sandbox)
        assert_each_item_once(issues)
        keys = key_of_item(issues)
        assert not set(refused) & set(keys)
        state = await xray_tests(sandbox)
        for item in set(expected) - set(refused):
            test = state["tests"][keys[item]]
            assert [(s["action"], s["result"]) for s in test["steps"]] == expected[item]["steps"], f"test case #{item}"
        assert final.counters["xray"].created == len(expected) - len(refused)
        assert final.counters["xray"].failed == 0


async def test_undo_removes_the_tests_and_every_test_set_and_plan_the_run_made(stack, worker):
    spec = ProjectSpec(seed=38, items=45, test_management=True)
    with running_sandbox(spec) as sandbox:
        assert sandbox.xray_url is not None
        migration_id = await xray_migration(stack, sandbox)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        assert (await wait_final(stack, TENANT, run_id)).status == RunStatus.COMPLETED
        made = await xray_tests(sandbox)
        assert made["tests"] and made["test_sets"] and made["test_plans"]

        undo = UndoService(stack.settings, stack.service.sessions, stack.client)
        plan = await undo.dry_run(TENANT, migration_id)
        assert plan.counts.get("xray_container") == len(made["test_sets"]) + len(made["test_plans"]), plan.counts
        undo_id = await undo.start(TENANT, migration_id, plan.total, actor="test", door="api")
        assert (await wait_final(stack, TENANT, undo_id)).status == RunStatus.COMPLETED
        left = await xray_tests(sandbox)
        assert (left["tests"], left["test_sets"], left["test_plans"]) == ({}, {}, {})
        assert await jira_issues(sandbox) == []


async def test_the_preview_predicts_the_tests_the_run_imports_and_writes(stack, worker):
    intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
    spec = ProjectSpec(seed=40, items=45, test_management=True)
    with running_sandbox(spec) as sandbox:
        migration_id = await xray_migration(stack, sandbox)
        preview_id = await intake.start_preview(TENANT, migration_id, actor="test", door="api", samples=2)
        assert (await intake.preview_result(preview_id)).status == "COMPLETED"
        report = PreviewReport.model_validate((await intake.get_preview(TENANT, preview_id)).report)
        assert await jira_issues(sandbox) == []  # a dry run imports nothing
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status == RunStatus.COMPLETED, final.model_dump_json()
        tests = len(expected_tests(sandbox.sandbox.project))
        assert final.counters["xray"].created == tests
        for phase in ("create_items", "xray"):
            assert report.phases[phase].model_dump() == final.counters[phase].model_dump(), phase


async def until_dropped(xray_url: str) -> None:
    deadline = time.monotonic() + 240
    async with httpx.AsyncClient(timeout=10) as http:
        while (await http.get(f"{xray_url}/_sandbox/faults")).json()["counters"]["dropped_after_write"] < 1:
            assert time.monotonic() < deadline, "no Xray write was made"
            await asyncio.sleep(0.02)


async def test_scan_finds_xray_with_the_key_and_reports_the_fallback_without_it(stack, worker):
    """With the target's Xray key the scan authenticates as the run would and quotes tests and memberships; without
    it the scan says why and quotes neither (the steps-table fallback is part of each item)."""
    intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
    spec = ProjectSpec(seed=34, items=45, test_management=True)
    for with_xray in (True, False):
        with running_sandbox(spec, xray=with_xray) as sandbox:
            migration_id = await xray_migration(stack, sandbox, with_xray=with_xray)
            scan_id = await intake.start_scan(TENANT, migration_id, actor="test", door="api", draft_plan=False)
            scan = await intake.scan_result(scan_id)
            assert scan.status == "COMPLETED", scan.error
            view = await intake.get_scan(TENANT, scan_id)
            project = sandbox.sandbox.project
        tests = len(expected_tests(project))
        memberships = sum(len(held) for held in expected_memberships(project).values())
        found = view.catalog["plugins"]["xray"]
        lines = {line["what"]: line for line in view.quote["lines"]}
        assert found["detection"]["source_uses"] is True and found["counts"]["test cases"] == tests
        if with_xray:
            assert found["detection"]["target_accepts"] is True and found["detection"]["fallback"] is None
            assert found["units"] == {"test": tests, "test_membership": memberships}
            assert found["counts"]["suite memberships"] == memberships
            assert lines["test"]["quantity"] == tests and lines["test_membership"]["quantity"] == memberships
            assert lines["test"]["amount"] > 0 and lines["test_membership"]["amount"] > 0
        else:
            assert found["detection"]["target_accepts"] is False and found["detection"]["fallback"]
            assert "no Xray API key" in found["detection"]["reason"]
            assert found["units"] == {} and "test" not in lines and "test_membership" not in lines
            assert "xray_absent" in {f["rule"] for f in found["findings"]}


async def until_held(xray_url: str) -> None:
    deadline = time.monotonic() + 240
    async with httpx.AsyncClient(timeout=10) as http:
        while (await http.get(f"{xray_url}/_sandbox/faults")).json()["counters"]["held_now"] < 1:
            assert time.monotonic() < deadline, "no Xray write reached the hold"
            await asyncio.sleep(0.05)


async def test_without_xray_the_steps_become_a_table_in_the_description(stack, worker):
    spec = ProjectSpec(seed=33, items=45, test_management=True)
    with running_sandbox(spec, xray=False) as sandbox:
        migration_id = await xray_migration(stack, sandbox, with_xray=False)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status == RunStatus.COMPLETED, final.model_dump_json()
        project = sandbox.sandbox.project
        expected = expected_tests(project)
        assert final.counters["xray"].created == len(expected), final.model_dump_json()
        keys = key_of_item(await jira_issues(sandbox))
        async with httpx.AsyncClient(timeout=30, auth=("migrator@example.com", "sandbox-token")) as http:
            for item, want in expected.items():
                issue = (await http.get(f"{sandbox.jira_url}/rest/api/3/issue/{keys[item]}")).json()
                content = issue["fields"]["description"]["content"]
                # The description may hold tables of its own: the steps are the table after the heading.
                at = next(n for n, node in enumerate(content) if _text(node) == TABLE_HEADING)
                table = content[at + 1]
                rows = [[_text(c) for c in r["content"]] for r in table["content"][1:]]
                assert [(r[1], r[2]) for r in rows] == want["steps"], f"test case #{item}"
        assert (await record_states(stack, migration_id, "steps_table")) == {"done": len(expected)}


async def test_without_xray_steps_past_the_description_limit_go_to_an_attached_file(stack, worker):
    spec = ProjectSpec(seed=39, items=45, test_management=True)
    with running_sandbox(spec, xray=False) as sandbox:
        project = sandbox.sandbox.project
        long_case = min(expected_tests(project))
        steps = [(f"Action {n}: " + "open the form and check " * 40, f"Result {n}") for n in range(1, 41)]
        xml = f'<steps id="0" last="{len(steps) + 1}">' + "".join(
            f'<step id="{n + 2}" type="ValidateStep"><parameterizedString isformatted="true">{a}</parameterizedString>'
            f'<parameterizedString isformatted="true">{r}</parameterizedString></step>'
            for n, (a, r) in enumerate(steps)
        )
        project.change(
            long_case, SourceChange(at=datetime.now(UTC), fields={"Microsoft.VSTS.TCM.Steps": xml + "</steps>"})
        )
        migration_id = await xray_migration(stack, sandbox, with_xray=False)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status == RunStatus.COMPLETED, final.model_dump_json()
        key = key_of_item(await jira_issues(sandbox))[long_case]
        async with httpx.AsyncClient(timeout=30, auth=("migrator@example.com", "sandbox-token")) as http:
            issue = (await http.get(f"{sandbox.jira_url}/rest/api/3/issue/{key}")).json()
            text = _text(issue["fields"]["description"])
            name = f"ado-{long_case}-test-steps.txt"
            assert TABLE_HEADING in text and name in text and "Action 1:" not in text
            files = [a for a in issue["fields"]["attachment"] if a["filename"] == name]
            assert len(files) == 1
            content = (await http.get(files[0]["content"], follow_redirects=True)).text
        found = [line.removeprefix("Action: ") for line in content.splitlines() if line.startswith("Action: ")]
        assert found == [a.strip() for a, _ in steps]
        assert (await record_states(stack, migration_id, "steps_file")) == {"done": 1}


def _text(node: Any) -> str:
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text", ""))
        return "".join(_text(c) for c in node.get("content") or [])
    return ""
