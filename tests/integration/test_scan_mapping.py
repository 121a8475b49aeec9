"""Scan → Catalog (checked against the generator's truth), limit lint, quote; rule draft; approval gate."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from migrayt.activities.execution.migration_context import read_target_catalog
from migrayt.activities.execution.preflight import plan_problems
from migrayt.connectors.jira import JiraClient
from migrayt.core.errors import FindingsNotAcknowledged, RunConflict
from migrayt.core.intake import IntakeService
from migrayt.intake.catalog import Catalog
from migrayt.intake.lint import LintReport
from migrayt.intake.quote import Quote
from migrayt.mapping.plan import MappingPlan
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import AuditEvent, Migration
from tests.integration.harness import create_sandbox_migration

TENANT = "scan-corp"
ITEMS, SEED = 150, 23
LIMITS = {"comments_per_issue": 300, "attachments_per_issue": 100}


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED) as server:
        yield server


def truth(project: GeneratedProject) -> dict:
    by_type: dict[str, int] = {}
    by_state: dict[str, dict[str, int]] = {}
    links, remote, depth = set(), 0, {}
    for i in project.item_ids():
        core = project.core(i)
        by_type[core.type] = by_type.get(core.type, 0) + 1
        by_state.setdefault(core.type, {}).setdefault(core.state, 0)
        by_state[core.type][core.state] += 1
        for rel, other in project.linked_items(i):
            if "Hierarchy" in rel:
                continue
            a, b = (other, i) if rel.endswith("-Reverse") else (i, other)
            base = rel.replace("-Forward", "").replace("-Reverse", "")
            links.add((min(a, b), max(a, b), base) if base == rel else (a, b, base))
        remote += sum(1 for r in project.work_item(i).relations if r.rel in ("Hyperlink", "ArtifactLink"))
        d, node = 0, i
        while node is not None:
            d, node = d + 1, project.parent_of(node)
        depth[i] = d
    atts = [a for i in project.item_ids() for a in project.attachments(i)]
    return dict(
        by_type=by_type,
        by_state=by_state,
        links=len(links),
        remote=remote,
        hierarchy=sum(1 for i in project.item_ids() if project.parent_of(i)),
        comments=sum(project.comment_count(i) for i in project.item_ids()),
        attachments=len(atts),
        attachment_bytes=sum(a.size for a in atts),
        largest=max(a.size for a in atts),
        revisions=sum(project.core(i).rev for i in project.item_ids()),
        worklogs=sum(len(project.worklogs(i)) for i in project.item_ids()),
        test_cases=by_type.get("Test Case", 0),
        too_deep={i for i, d in depth.items() if d > 3},
        no_email={u.unique_name for u in project.users if u.email is None},
    )


async def test_scan_counts_lint_quote_and_the_approval_gate(stack, worker, sandbox):
    intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
    migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
    scan_id = await intake.start_scan(
        TENANT, migration_id, actor="ana@scan.example", door="api", limit_overrides=LIMITS
    )
    result = await intake.scan_result(scan_id)
    assert result.status == "COMPLETED", result.error
    scan = await intake.get_scan(TENANT, scan_id)
    catalog, report, price = (
        Catalog.model_validate(scan.catalog),
        LintReport.model_validate(scan.lint),
        Quote.model_validate(scan.quote),
    )

    # The catalog's counts are the generator's truth.
    project = GeneratedProject(ProjectSpec(seed=SEED, items=ITEMS))
    t = truth(project)
    assert catalog.items_total == ITEMS
    assert catalog.by_type == t["by_type"]
    assert catalog.by_type_state == t["by_state"]
    assert (catalog.links, catalog.remote_links, catalog.hierarchy_links) == (t["links"], t["remote"], t["hierarchy"])
    assert catalog.comments.count == t["comments"]
    assert (catalog.attachments.count, catalog.attachments.total_bytes, catalog.attachments.largest_bytes) == (
        t["attachments"],
        t["attachment_bytes"],
        t["largest"],
    )
    assert catalog.revisions.count == t["revisions"]
    assert (catalog.time_logs, catalog.test_cases) == (t["worklogs"], t["test_cases"])
    assert catalog.area_count == len(list(project.areas.walk()))
    assert catalog.iteration_count == len(list(project.iterations.walk()))
    points = catalog.field("Microsoft.VSTS.Scheduling.StoryPoints")
    assert (
        points is not None
        and points.filled == t["by_type"]["User Story"] + t["by_type"]["Bug"]
        and points.fill_rate == 1.0
    )
    priority = catalog.field("Microsoft.VSTS.Common.Priority")
    assert priority is not None and sum(priority.values.values()) == priority.filled

    # Every planted limit breach is listed, with its item.
    ugly = project.ugly_cases()
    listed = {b.rule: b for b in report.breaches}
    assert ugly["long_title"] in listed["long_summary"].items
    assert (
        ugly["long_description"]
        in next(b for b in report.breaches if b.rule == "long_text" and b.field == "System.Description").items
    )
    assert ugly["huge_attachment"] in listed["large_attachment"].items
    assert ugly["many_attachments"] in listed["many_attachments"].items
    assert ugly["many_comments"] in listed["many_comments"].items
    assert set(listed["too_deep"].items) == t["too_deep"]
    assert set(listed["user_without_email"].names) == t["no_email"]
    assert all(b.action for b in report.breaches)

    # The quote is priced per unit from that volume: work items, and the 7pace worklogs the scan found.
    lines = {line.what: line for line in price.lines}
    assert lines["item"].quantity == ITEMS and lines["worklog"].quantity == catalog.plugins["7pace"].units["worklog"]
    assert price.total == price.subtotal == round(sum(line.amount for line in price.lines), 2)

    # The matcher's draft maps the sandbox's process onto the sandbox Jira fully.
    assert result.plan_version == 2 and not result.ai_used
    row, plan = await intake.plan(TENANT, migration_id)
    assert row.version == 2 and row.status == "draft" and row.origin == "rule"
    async with JiraClient(sandbox.jira_url, "migrator@example.com", "sandbox-token") as jira:
        target = await read_target_catalog(jira, "PHX")
    assert plan_problems(plan, target) == []
    assert set(plan.types) == set(catalog.by_type)
    for ado_type, states in catalog.by_type_state.items():
        assert all(plan.target_status(ado_type, s) for s in states), ado_type
    assert set(plan.priorities) == set(priority.values)
    for rel in catalog.link_types:
        if rel.startswith(("System.LinkTypes.", "Microsoft.VSTS.")) and "Hierarchy" not in rel:
            assert rel.replace("-Reverse", "-Forward") in plan.link_types
    assert (
        plan.types["User Story"] == "Story"
        and plan.types["Feature"] == "Epic"
        and plan.subtask_types == {"Task": "Sub-task"}
    )
    assert {(m.source, m.target, m.transform) for m in plan.fields} >= {
        ("Microsoft.VSTS.Scheduling.StoryPoints", "customfield_10016", "number")
    }
    assert all(p.origin == "rule" and 0 < p.confidence <= 1 for p in plan.provenance.values())

    # A run refuses the unapproved draft; approving it lets the run start from it.
    with pytest.raises(RunConflict, match="not approved"):
        await stack.service.start_run(TENANT, migration_id, actor="ana@scan.example", door="api")
    # The scan found an item past the attachment cap (its files over the cap will fail): approval waits until
    # someone acknowledges that finding by name.
    with pytest.raises(FindingsNotAcknowledged, match="many_attachments"):
        await intake.approve_plan(TENANT, migration_id, 2, actor="lead@scan.example", door="api")
    acknowledged = ("many_attachments",)
    await intake.approve_plan(TENANT, migration_id, 2, actor="lead@scan.example", door="api", acknowledged=acknowledged)
    # Editing an approved plan makes a new version that needs approval again.
    edited = plan.model_copy(deep=True)
    edited.types["Issue"] = "Bug"
    v3 = await intake.edit_plan(TENANT, migration_id, 2, edited, actor="ana@scan.example", door="api")
    row3, plan3 = await intake.plan(TENANT, migration_id)
    assert v3 == 3 and row3.status == "draft" and plan3.provenance["types/Issue"].origin == "human"
    with pytest.raises(RunConflict, match="version 3"):
        await stack.service.start_run(TENANT, migration_id, actor="ana@scan.example", door="api")
    await intake.approve_plan(TENANT, migration_id, 3, actor="lead@scan.example", door="api", acknowledged=acknowledged)
    run_id = await stack.service.start_run(TENANT, migration_id, actor="ana@scan.example", door="api")
    await stack.service.control(TENANT, run_id, "cancel", actor="ana@scan.example", door="api")
    async with stack.service.sessions() as session:
        migration_plan = MappingPlan.model_validate((await session.get(Migration, migration_id)).plan)
        events = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.migration_id == migration_id).order_by(AuditEvent.id)
            )
        )
    assert migration_plan.version == 3 and migration_plan.types["Issue"] == "Bug"
    trail = [(e.action, e.actor, e.detail.get("version")) for e in events if e.action.startswith("plan_")]
    assert trail == [
        ("plan_drafted", "test@acme.example", 1),
        ("plan_approved", "test@acme.example", 1),
        ("plan_drafted", "ana@scan.example", 2),
        ("plan_approved", "lead@scan.example", 2),
        ("plan_edited", "ana@scan.example", 3),
        ("plan_approved", "lead@scan.example", 3),
    ]
    scan_events = [e for e in events if e.action == "scan_finished"]
    assert len(scan_events) == 1 and scan_events[0].detail["items"] == ITEMS
