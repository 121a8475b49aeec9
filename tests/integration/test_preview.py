"""A preview predicts what the following real run does: same per-phase counts, same failures and reasons."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from migrayt.contracts.phases import run_phases
from migrayt.contracts.preview import PreviewReport
from migrayt.core.intake import IntakeService
from migrayt.mapping.plan import FieldMapping, default_plan
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from tests.integration.harness import create_sandbox_migration, jira_issues, wait_final

TENANT = "preview-corp"
ITEMS, SEED = 60, 11
ISSUE_KEY = re.compile(r"\b[A-Z][A-Z0-9]*-\d+\b")


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED) as server:
        yield server


def planted_plan():
    plan = default_plan()
    plan.fields += [
        # Issues carry a due date, which is no number: each fails in the run's own field transform.
        FieldMapping(source="Microsoft.VSTS.Scheduling.DueDate", target="customfield_10016", transform="number"),
        # Titles fit Jira's summary (the run cuts them) but not a 255-character text field: Jira refuses those.
        FieldMapping(source="System.Title", target="customfield_10031", transform="text"),
    ]
    # Tested By links have no Jira link type in the plan: each fails in links.
    del plan.link_types["Microsoft.VSTS.Common.TestedBy-Forward"]
    # Design has no Jira status: those test cases fail in transitions.
    del plan.states["*"]["Design"]
    return plan


async def issue_keys(stack, migration_id: str) -> dict[str, str]:
    """Jira key → the placeholder the preview gives a new issue (`KEY-(new <ADO id>)`)."""
    async with stack.service.sessions() as session:
        rows = await session.execute(
            select(ItemRecord.source_key, ItemRecord.target_key).where(
                ItemRecord.migration_id == migration_id, ItemRecord.kind == "issue", ItemRecord.state == "done"
            )
        )
        return {key: f"{key.rsplit('-', 1)[0]}-(new {source})" for source, key in rows if key}


async def preview(intake: IntakeService, migration_id: str) -> PreviewReport:
    preview_id = await intake.start_preview(TENANT, migration_id, actor="ana@preview.example", door="api", samples=4)
    done = await intake.preview_result(preview_id)
    assert done.status == "COMPLETED", done.error
    return PreviewReport.model_validate((await intake.get_preview(TENANT, preview_id)).report)


async def run_and_compare(stack, migration_id: str, report: PreviewReport) -> None:
    """Run the migration; every phase's counters and every failed record with its reason as predicted."""
    run_id = await stack.service.start_run(TENANT, migration_id, actor="ana@preview.example", door="api")
    progress = await wait_final(stack, TENANT, run_id)
    # Keys Jira assigned read as the preview's placeholders for issues it had still to create.
    placeholders = await issue_keys(stack, migration_id)

    def keyed(text: str) -> str:
        return ISSUE_KEY.sub(lambda m: placeholders.get(m.group(0), m.group(0)), text)

    predicted = {(f.kind, f.source_key, keyed(f.reason)) for f in report.failures}
    actual = {
        (f["kind"], f["source_key"], keyed(f["error"]))
        for f in await stack.service.failures(TENANT, migration_id, limit=10_000)
    }
    assert sorted(predicted - actual) == [] and sorted(actual - predicted) == []
    for phase in run_phases()[1:]:
        assert report.phases[phase].model_dump() == progress.counters[phase].model_dump(), phase
    assert report.items_total == progress.counters["create_items"].total


async def test_preview_predicts_the_run_and_the_next_one(stack, worker, sandbox):
    intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
    migration_id = await create_sandbox_migration(stack, sandbox, plan=planted_plan(), tenant=TENANT)
    report = await preview(intake, migration_id)
    assert await jira_issues(sandbox) == []  # a dry run writes nothing

    project = GeneratedProject(ProjectSpec(seed=SEED, items=ITEMS))
    issues = {str(i) for i in project.item_ids() if project.core(i).type == "Issue"}
    predicted = {(f.kind, f.source_key, f.reason) for f in report.failures}
    assert issues <= {key for kind, key, _ in predicted if kind == "issue"}
    long_title = str(project.ugly_cases()["long_title"])
    assert any(k == long_title and r.startswith("Jira refused the issue: customfield_10031") for _, k, r in predicted)
    assert report.samples and all(s.payload.get("labels") for s in report.samples if s.outcome == "created")
    # Every later phase had something planted to predict, so the comparison is not vacuous.
    assert {"create_items", "links", "attachments", "transitions"} <= {f.phase for f in report.failures}
    assert all(report.phases[p].created for p in ("links", "attachments", "transitions", "comments", "7pace"))
    assert "transitions" in report.unpredictable

    await run_and_compare(stack, migration_id, report)

    # A second run passes over what is done and meets the same refusals again: the preview says so.
    again = await preview(intake, migration_id)
    assert again.phases["create_items"].created == 0 and again.phases["comments"].created == 0
    assert again.phases["7pace"].created == 0
    await run_and_compare(stack, migration_id, again)
