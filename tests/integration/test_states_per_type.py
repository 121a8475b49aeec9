"""ADO states are per work item type, and so is the plan's state map where the types' Jira workflows differ: a
per-type entry overrides the "any type" one in the preview and in the run's transitions (closed Bugs end as
Won't Fix, a status only the Bug workflow has; every other closed item as Done)."""

from __future__ import annotations

from migrayt.contracts.preview import PreviewReport
from migrayt.core.intake import IntakeService
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from tests.integration.harness import create_sandbox_migration, jira_issues, structure_only_plan, wait_final

TENANT = "per-type-co"
ITEMS, SEED = 60, 17


async def test_a_per_type_state_entry_overrides_the_shared_one_in_preview_and_run(stack, worker):
    project = GeneratedProject(ProjectSpec(seed=SEED, items=ITEMS))
    closed = {i: project.core(i).type for i in project.item_ids() if project.core(i).state == "Closed"}
    assert "Bug" in closed.values() and set(closed.values()) - {"Bug"}, closed
    plan = structure_only_plan()
    plan.states["Bug"] = {"Closed": "Won't Fix"}
    with running_sandbox(items=ITEMS, seed=SEED) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan, tenant=TENANT)
        intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
        preview_id = await intake.start_preview(TENANT, migration_id, actor="test", door="api", samples=ITEMS)
        assert (await intake.preview_result(preview_id)).status == "COMPLETED"
        report = PreviewReport.model_validate((await intake.get_preview(TENANT, preview_id)).report)
        assert report.phases["transitions"].failed == 0, report.failures
        predicted = {s.ado_id: s.jira.get("status") for s in report.samples if s.ado_id in closed}
        assert predicted and all(
            status == ("Won't Fix" if closed[i] == "Bug" else "Done") for i, status in predicted.items()
        ), predicted

        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        progress = await wait_final(stack, TENANT, run_id)
        assert progress.status == "COMPLETED", progress.model_dump_json()
        landed = {
            int(label.removeprefix("ado-id-")): issue["status"]
            for issue in await jira_issues(sandbox)
            for label in issue["labels"]
            if label.startswith("ado-id-")
        }
        for ado_id, ado_type in closed.items():
            if ado_id in landed:
                assert landed[ado_id] == ("Won't Fix" if ado_type == "Bug" else "Done"), (ado_id, ado_type)
        assert any(t == "Bug" and i in landed for i, t in closed.items())
