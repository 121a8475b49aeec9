"""Bad data fails alone and the run ends INCOMPLETE; once the cause is fixed, a re-run completes exactly those items."""

from __future__ import annotations

from migrayt.contracts.runs import RunStatus
from migrayt.core.intake import IntakeService
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from tests.integration.harness import ado_labels, create_sandbox_migration, jira_issues, wait_final
from tests.integration.test_phase_structure import plan_with_bad_data, structure_mismatches

TENANT = "fix-and-rerun"


async def test_rerun_after_fixing_the_plan_completes_the_failed_items(stack, worker):
    items, seed = 120, 41
    project = GeneratedProject(ProjectSpec(seed=seed, items=items))
    bad = plan_with_bad_data()
    bad.skip_phases = ["attachments", "comments"]
    intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
    with running_sandbox(items=items, seed=seed) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=bad, tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        first = await wait_final(stack, TENANT, run_id)
        assert first.status == RunStatus.INCOMPLETE
        failed_first = first.counters["create_items"].failed
        assert failed_first > 0
        created_first = len(ado_labels(await jira_issues(sandbox)))

        # The user fixes the plan (drops the bad field mapping, maps Removed to a reachable status).
        version, plan = await intake.plan(TENANT, migration_id)
        plan.fields = [f for f in plan.fields if f.source != "Microsoft.VSTS.TCM.AutomationStatus"]
        plan.states["*"]["Removed"] = "Done"
        new_version = await intake.edit_plan(
            TENANT, migration_id, version.version, plan, actor="owner@acme", door="api"
        )
        await intake.approve_plan(TENANT, migration_id, new_version, actor="owner@acme", door="api")

        rerun_id = await stack.service.rerun(TENANT, run_id, actor="owner@acme", door="api")
        second = await wait_final(stack, TENANT, rerun_id)
        assert second.status == RunStatus.COMPLETED, second.counters
        c = second.counters["create_items"]
        assert (c.created, c.skipped, c.failed) == (failed_first, created_first, 0)
        labels = ado_labels(await jira_issues(sandbox))
        assert all(len(keys) == 1 for keys in labels.values())
        assert await structure_mismatches(stack, sandbox, migration_id, project, plan) == []
