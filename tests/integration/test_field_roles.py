"""The sprint and story points fields are found by their schema type on the site, whatever their ids: a
site that numbered them differently from the sandbox's defaults gets its issues into sprints and sized."""

from __future__ import annotations

from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from tests.integration.harness import create_sandbox_migration, jira_issues, structure_only_plan, wait_final

TENANT = "field-roles-co"
OTHER_IDS = {"customfield_10020": "customfield_10104", "customfield_10016": "customfield_10133"}


async def test_sprint_and_story_points_land_in_fields_found_by_schema_on_a_site_with_other_ids(stack, worker):
    with running_sandbox(ProjectSpec(seed=11, items=40), jira_options={"field_ids": OTHER_IDS}) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, structure_only_plan(), tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        progress = await wait_final(stack, TENANT, run_id)
        assert progress.status == "COMPLETED", progress.model_dump_json()
        created = progress.counters["create_items"]
        assert created.failed == 0 and created.created > 0
        issues = await jira_issues(sandbox)
        assert any(i["sprints"] for i in issues), "no issue was put into a sprint"
        assert any(i["story_points"] is not None for i in issues), "no issue carries story points"
