"""Users without a Jira account, fixed after the first run: the re-run gives the issues it already created the
assignee and reporter they were created without (the plan's fallback user, or the user mapped since)."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from migrayt.contracts.preview import PreviewReport
from migrayt.contracts.record_kinds import USER_FIELD
from migrayt.contracts.runs import RunStatus
from migrayt.core.intake import IntakeService
from migrayt.mapping.plan import default_plan
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.server import jira_account_id
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from tests.integration.harness import ado_labels, create_sandbox_migration, jira_issues, wait_final

TENANT = "fallback-corp"
ITEMS, SEED = 60, 11
# The seed's four identities Jira has no account for by e-mail.
UNMATCHED = {
    "morgan.ellery@partner-agency.example",
    "chris.walden@acme.example",
    "ines-laptop\\ines",
    "acme\\svc-phoenix-build",
}


async def people(sandbox, keys: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """Each issue's (assignee, reporter) accountIds, as Jira's REST API gives them."""
    out = {}
    async with httpx.AsyncClient(timeout=60, auth=("migrator@example.com", "sandbox-token")) as http:
        for key in keys:
            r = await http.get(f"{sandbox.jira_url}/rest/api/3/issue/{key}", params={"fields": "assignee,reporter"})
            fields = r.json()["fields"]
            out[key] = tuple(((fields.get(f) or {}).get("accountId")) for f in ("assignee", "reporter"))
    return out


async def test_rerun_gives_issues_the_users_mapped_after_the_first_run(stack, worker):
    project = GeneratedProject(ProjectSpec(seed=SEED, items=ITEMS))
    matched = [u for u in project.users if u.in_jira and not u.deleted and u.email and u.jira_email_visible]
    stand_in, chris_in_jira = matched[0], matched[1]
    intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
    with running_sandbox(items=ITEMS, seed=SEED) as sandbox:
        plan = default_plan()
        plan.skip_phases = ["attachments", "comments"]  # the seed's too-large file would fail an item of its own
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="ana@fallback.example", door="api")
        first = await wait_final(stack, TENANT, run_id)
        # Users are counted apart from items ("users: 4 unmatched"); whether they make the run INCOMPLETE is the
        # run's status rule, not this test's: a run that COMPLETED is run again as a new run, else re-run.
        assert first.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        assert (await stack.service.run_report(TENANT, run_id)).users_unmatched == len(UNMATCHED)
        failures = await stack.service.failures(TENANT, migration_id, limit=10_000)
        assert {f["source_key"] for f in failures if f["kind"] == "user"} == UNMATCHED

        # Which issues were left without a person, from the source: every item with an unmatched user.
        keys = {int(label.removeprefix("ado-id-")): k[0] for label, k in ado_labels(await jira_issues(sandbox)).items()}
        wanted: dict[str, tuple[str | None, str | None]] = {}
        for item_id, key in keys.items():
            fields = project.revisions(item_id)[-1].fields
            roles = [fields.get("System.AssignedTo"), fields.get("System.CreatedBy")]
            uniques = [(r or {}).get("uniqueName", "").lower() or None for r in roles]
            if any(u in UNMATCHED for u in uniques):
                wanted[key] = tuple(u for u in uniques)  # type: ignore[assignment]
        assert wanted, "the seed assigns some items to users without an account"
        expected_account = {
            u: jira_account_id((chris_in_jira if u == "chris.walden@acme.example" else stand_in).unique_name)
            for u in UNMATCHED
        }
        before = await people(sandbox, list(wanted))
        for key, (assigned_to, created_by) in wanted.items():
            assignee, reporter = before[key]
            if assigned_to in UNMATCHED:
                assert assignee is None, f"{key} was created without its assignee {assigned_to}"
            if created_by in UNMATCHED:
                # Jira makes the caller (the migration's account) the reporter of an issue created without one.
                assert reporter != expected_account[created_by]

        # The user gives a fallback user and maps one person by e-mail in the user table, then re-runs.
        version, plan = await intake.plan(TENANT, migration_id)
        plan.fallback_user_email = stand_in.email
        plan.users["chris.walden@acme.example"] = chris_in_jira.email or ""
        new_version = await intake.edit_plan(TENANT, migration_id, version.version, plan, actor="ana@acme", door="api")
        await intake.approve_plan(TENANT, migration_id, new_version, actor="ana@acme", door="api")
        preview_id = await intake.start_preview(TENANT, migration_id, actor="ana@acme", door="api", samples=2)
        assert (await intake.preview_result(preview_id)).status == "COMPLETED"
        predicted = PreviewReport.model_validate((await intake.get_preview(TENANT, preview_id)).report)
        assert (predicted.users_given, predicted.issues_given_users) == (len(UNMATCHED), len(wanted))
        if first.status == RunStatus.INCOMPLETE:
            rerun_id = await stack.service.rerun(TENANT, run_id, actor="ana@acme", door="api")
        else:
            rerun_id = await stack.service.start_run(TENANT, migration_id, actor="ana@acme", door="api")
        second = await wait_final(stack, TENANT, rerun_id)
        assert second.status == RunStatus.COMPLETED, await stack.service.failures(TENANT, migration_id, limit=50)
        assert (await stack.service.run_report(TENANT, rerun_id)).users_unmatched == 0

        after = await people(sandbox, list(wanted))
        for key, uniques in wanted.items():
            for unique, account in zip(uniques, after[key], strict=True):
                if unique in UNMATCHED:
                    assert account == expected_account[unique], f"{key}: {unique} → {account}"

        # The run says so, in its own words; a third run has nothing left to give.
        report = await stack.service.run_report(TENANT, rerun_id)
        assert (report.users_given, report.issues_given_users) == (len(UNMATCHED), len(wanted))
        async with stack.service.sessions() as session:
            given = (
                await session.scalars(
                    select(ItemRecord).where(ItemRecord.migration_id == migration_id, ItemRecord.kind == USER_FIELD)
                )
            ).all()
        assert {r.detail["issue"] for r in given} == set(wanted)
        third_id = await stack.service.start_run(TENANT, migration_id, actor="ana@acme", door="api")
        assert (await wait_final(stack, TENANT, third_id)).status == RunStatus.COMPLETED
        assert (await stack.service.run_report(TENANT, third_id)).issues_given_users == 0
