"""Users: the preview predicts the run's user failures reason for reason, and the plan's fallback user is written."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from migrayt.core.intake import IntakeService
from migrayt.mapping.plan import default_plan
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.server import jira_account_id
from migrayt.sandbox.testing import running_sandbox
from tests.integration.harness import create_sandbox_migration, jira_issues, wait_final
from tests.integration.test_preview import preview

TENANT = "preview-corp"  # preview() above starts previews for this tenant
ITEMS, SEED = 60, 11


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED) as server:
        yield server


async def assignees(sandbox, keys: list[str]) -> dict[str, str | None]:
    out = {}
    async with httpx.AsyncClient(timeout=60, auth=("migrator@example.com", "sandbox-token")) as http:
        for key in keys:
            body = (await http.get(f"{sandbox.jira_url}/rest/api/3/issue/{key}", params={"fields": "assignee"})).json()
            out[key] = ((body["fields"].get("assignee")) or {}).get("accountId")
    return out


@pytest.mark.parametrize("with_fallback", [False, True], ids=["no-fallback", "fallback"])
async def test_preview_predicts_the_runs_user_failures(stack, worker, sandbox, with_fallback):
    project = GeneratedProject(ProjectSpec(seed=SEED, items=ITEMS))
    stand_in = next(u for u in project.users if u.in_jira and not u.deleted and u.email and u.jira_email_visible)
    plan = default_plan()
    # Mapped by e-mail in the table, as `map edit` took it before it resolved e-mails: Jira knows this person.
    plan.users["acme\\svc-phoenix-build"] = stand_in.email or ""
    # A table entry naming no Jira account: the user is unmatched (or falls back), not the issues failed.
    plan.users["ines-laptop\\ines"] = "no.one@nowhere.example"
    if with_fallback:
        plan.fallback_user_email = stand_in.email
    intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
    migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
    report = await preview(intake, migration_id)

    run_id = await stack.service.start_run(TENANT, migration_id, actor="ana@preview.example", door="api")
    progress = await wait_final(stack, TENANT, run_id)
    failures = await stack.service.failures(TENANT, migration_id, limit=10_000)
    predicted = Counter((f.kind, f.reason) for f in report.failures)
    actual = Counter((f["kind"], f["error"]) for f in failures)
    assert predicted == actual
    # The counts the pages and the CLI show, under the same names: failed items, and unmatched users apart.
    shown = await stack.service.run_report(TENANT, run_id, failures_limit=10_000)
    assert (report.failed_items, report.users_unmatched) == (shown.failed_items, shown.users_unmatched)
    # Each predicted failure named as the run names it: by its ADO item and what it is, never a bare GUID.
    assert {(f.ado_id, f.what) for f in report.failures} == {(f.ado_id, f.what) for f in shown.failures}
    assert report.phases["create_items"].model_dump() == progress.counters["create_items"].model_dump()
    # No issue fails on a user: the e-mail in the table resolved, the bad entry left the user out.
    assert not [f for f in failures if f["kind"] == "issue" and "User '" in (f["error"] or "")]

    unmatched = {"morgan.ellery@partner-agency.example", "chris.walden@acme.example", "ines-laptop\\ines"}
    user_failures = {f["source_key"] for f in failures if f["kind"] == "user"}
    if not with_fallback:
        assert user_failures == unmatched
        assert report.users_unresolved == 3 and report.users_fallback == 0
        return
    # With a fallback user: counted, not failed; the issue is theirs and keeps the original name.
    assert user_failures == set() and report.users_fallback == 3 and report.users_unresolved == 0
    issues = {label: i for i in await jira_issues(sandbox) for label in i["labels"] if label.startswith("ado-id-")}
    noted = [i for i in issues.values() if "In Azure DevOps: assigned to Ines Corbeau" in (i["description"] or "")]
    assert noted, "an item assigned to a user without an account keeps their name in the description"
    accounts = await assignees(sandbox, [i["key"] for i in noted])
    assert set(accounts.values()) == {jira_account_id(stand_in.unique_name)}

    # Every item a fallback user stands in on keeps the names — also those whose description the attachments phase
    # wrote again (images re-hosted, #refs to items created later): that rewrite dropped the note.
    def stood_in(ado_id: int) -> bool:
        fields = project.work_item(ado_id).fields
        return any(
            isinstance(v, dict) and str(v.get("uniqueName") or "").lower() in unmatched
            for v in (fields.get("System.AssignedTo"), fields.get("System.CreatedBy"))
        )

    expected = {f"ado-id-{n}" for n in project.item_ids() if stood_in(n)} & issues.keys()
    missing = [label for label in sorted(expected) if "stands in" not in (issues[label]["description"] or "")]
    assert expected and missing == [], f"{len(missing)} of {len(expected)} lost the fallback note: {missing[:5]}"
