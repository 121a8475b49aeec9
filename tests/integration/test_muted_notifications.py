"""A migration e-mails no one: the Jira project's notification scheme is swapped for one without events for the run
and its own put back exactly once however the run ends — completed, cancelled, failed, or after its worker was
SIGKILLed; a delta sync too, and runs writing into one project at once share one mute. The sandbox counts the e-mails
the project's scheme would have sent and each scheme assignment."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from migrayt.activities.execution.notifications import SILENT_SCHEME
from migrayt.contracts.preview import PreviewReport
from migrayt.contracts.runs import FINAL_STATUSES, RunStatus
from migrayt.core.errors import RunConflict
from migrayt.core.intake import IntakeService
from migrayt.mapping.plan import default_plan
from migrayt.sandbox.testing import running_sandbox
from migrayt.scheduling.service import ScheduleService
from migrayt.store.models import AuditEvent, Migration
from tests.integration.harness import (
    HANG_GUARD_SECONDS,
    ISSUE_CREATES,
    WorkerProcess,
    create_sandbox_migration,
    hold_jira,
    jira_state,
    release_jira,
    structure_only_plan,
    wait_final,
    wait_for,
    wait_until_held,
)
from tests.schedules.helpers import change_ado

TENANT = "quiet-co"
OWN_SCHEME = "Default Notification Scheme"


async def notifications(sandbox) -> dict:
    return (await jira_state(sandbox))["notifications"]


def assert_muted_once_and_restored(n: dict) -> None:
    assert n["scheme_name"] == OWN_SCHEME, "the project ends with its own notification scheme"
    assert n["assigned"] == {SILENT_SCHEME: 1, OWN_SCHEME: 1}, "muted once and restored once"


async def wait_final_across_restarts(stack, run_id: str):
    """As `wait_final`, but while no worker polls yet (one just restarted) the run's kept row answers."""
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while True:
        _, progress, _ = await stack.service.progress_within(TENANT, run_id)
        if progress.status in FINAL_STATUSES:
            return progress
        assert time.monotonic() < deadline, f"timed out waiting; last progress: {progress.model_dump_json()}"
        await asyncio.sleep(0.5)


def unmuted(plan):
    return plan.model_copy(update={"mute_notifications": False})


async def test_a_muted_run_emails_no_one_and_one_with_the_option_off_emails_the_people_of_its_issues(stack, worker):
    with running_sandbox(items=12, seed=61) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=default_plan(), tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        state = await jira_state(sandbox)
        assert state["issues"]["total"] > 0 and state["comments"] > 0
        assert state["notifications"]["sent"] == 0, state["notifications"]
        assert_muted_once_and_restored(state["notifications"])
        said = (await stack.service.run_report(TENANT, run_id)).notifications or ""
        assert "muted during the run" in said and "is back" in said, said

    with running_sandbox(items=12, seed=61) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=unmuted(default_plan()), tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        n = await notifications(sandbox)
        assert n["sent"] > 0 and n["by_event"].get("Issue Created", 0) > 0, n
        assert n["assigned"] == {} and n["scheme_name"] == OWN_SCHEME


async def test_a_site_that_refuses_muting_fails_preflight_saying_what_to_do_unless_the_option_is_off(stack, worker):
    with running_sandbox(items=10, seed=62, jira_options={"field_admin": False}) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status == RunStatus.FAILED
        error = (await stack.service.get_run(TENANT, run_id)).error or ""
        assert "Administer Jira" in error and "Mute notifications during the run" in error, error
        state = await jira_state(sandbox)
        assert state["issues"]["total"] == state["components"] == 0, "preflight stops before any write"
        assert state["notifications"]["assigned"] == {}

        # The preview says so beforehand, and a run is then refused at the start with the same words.
        intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
        preview_id = await intake.start_preview(TENANT, migration_id, actor="ana@example.com", door="api", samples=1)
        assert (await intake.preview_result(preview_id)).status == "COMPLETED"
        report = PreviewReport.model_validate((await intake.get_preview(TENANT, preview_id)).report)
        assert not report.would_start and any("Administer Jira" in p for p in report.plan_problems)
        with pytest.raises(RunConflict, match="Mute notifications during the run"):
            await stack.service.start_run(TENANT, migration_id, actor="test", door="api")

        migration_id = await create_sandbox_migration(
            stack, sandbox, plan=unmuted(structure_only_plan()), tenant=TENANT
        )
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        assert (await notifications(sandbox))["sent"] > 0


async def test_a_run_that_fails_in_preflight_never_touches_the_projects_scheme(stack, worker):
    plan = structure_only_plan()
    plan.types["Bug"] = "No Such Type"
    with running_sandbox(items=10, seed=63) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status == RunStatus.FAILED
        assert "No Such Type" in ((await stack.service.get_run(TENANT, run_id)).error or "")
        n = await notifications(sandbox)
        assert n["assigned"] == {} and n["scheme_name"] == OWN_SCHEME


async def test_a_run_that_fails_in_a_phase_restores_the_projects_scheme(stack, worker):
    with running_sandbox(items=60, seed=66) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        await hold_jira(sandbox, ISSUE_CREATES, after=1)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        await wait_until_held(sandbox)
        # The migration's ADO setting goes bad mid-run (a URL no longer accepted): the next batch fails the run.
        async with stack.service.sessions() as session:
            migration = await session.get(Migration, migration_id)
            migration.source = {**migration.source, "organization_url": f"{sandbox.ado_url}?bad=1"}
            await session.commit()
        await release_jira(sandbox)
        final = await wait_final(stack, TENANT, run_id)
        assert final.status == RunStatus.FAILED
        assert "no longer accepted" in ((await stack.service.get_run(TENANT, run_id)).error or "")
        n = await notifications(sandbox)
        assert_muted_once_and_restored(n)
        assert n["sent"] == 0


async def test_a_cancelled_run_restores_the_projects_scheme(stack, worker):
    with running_sandbox(items=60, seed=64) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        await hold_jira(sandbox, ISSUE_CREATES, after=1)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        await wait_until_held(sandbox)
        assert (await notifications(sandbox))["scheme_name"] == SILENT_SCHEME, "muted while it runs"
        said = (await stack.service.run_report(TENANT, run_id)).notifications or ""
        assert "muted while the run goes" in said, said
        await stack.service.control(TENANT, run_id, "cancel", actor="ops@quiet", door="api")
        await release_jira(sandbox)
        final = await wait_final(stack, TENANT, run_id)
        assert final.status == RunStatus.CANCELLED
        n = await notifications(sandbox)
        assert_muted_once_and_restored(n)
        assert n["sent"] == 0


async def test_a_run_whose_worker_is_killed_mid_run_mutes_and_restores_once(stack, tmp_path):
    with running_sandbox(items=60, seed=65) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        await hold_jira(sandbox, ISSUE_CREATES, after=1)
        worker = WorkerProcess(stack, tmp_path / "worker.log")
        worker.start()
        try:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            await wait_for(stack, TENANT, run_id, lambda p: p.phase == "create_items")
            await wait_until_held(sandbox)
            worker.kill()
            await release_jira(sandbox)
            worker.start()
            final = await wait_final_across_restarts(stack, run_id)
        finally:
            worker.stop()
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        n = await notifications(sandbox)
        assert_muted_once_and_restored(n)
        assert n["sent"] == 0


async def test_two_migrations_into_one_project_share_the_mute_and_a_delta_sync_mutes_too(stack, worker):
    with running_sandbox(items=8, seed=67) as sandbox:
        first_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        second_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        # Both runs wait at their first issue create, muted, until both are: they write into the project at once.
        await hold_jira(sandbox, ISSUE_CREATES)
        first = await stack.service.start_run(TENANT, first_id, actor="test", door="api")
        await wait_for(stack, TENANT, first, lambda p: p.phase == "create_items")
        second = await stack.service.start_run(TENANT, second_id, actor="test", door="api")
        await wait_for(stack, TENANT, second, lambda p: p.phase == "create_items")
        assert (await notifications(sandbox))["scheme_name"] == SILENT_SCHEME
        await release_jira(sandbox)
        for run_id in (first, second):
            assert (await wait_final(stack, TENANT, run_id)).status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        state = await jira_state(sandbox)
        assert state["issues"]["total"] > 0
        assert state["notifications"]["sent"] == 0, state["notifications"]
        assert_muted_once_and_restored(state["notifications"])
        said = [(await stack.service.run_report(TENANT, r)).notifications or "" for r in (first, second)]
        assert sum("is back" in s for s in said) == 1, said
        # The run that ended first left the project muted for the other, and says so.
        left_for_second = f"left the project muted for run {second}" in said[0]
        left_for_first = f"left the project muted for run {first}" in said[1]
        assert left_for_first != left_for_second, said
        # And so do their audit trails: the second joined the first's mute, one left it muted, the other put it back.
        async with stack.service.sessions() as session:
            audit = (
                await session.execute(
                    select(AuditEvent.run_id, AuditEvent.action, AuditEvent.detail).where(
                        AuditEvent.run_id.in_([first, second]), AuditEvent.action.like("notifications_%")
                    )
                )
            ).all()
        actions = sorted(action for _, action, _ in audit)
        assert actions == sorted(["notifications_muted"] * 2 + ["notifications_left_muted", "notifications_restored"])
        assert {(r, d.get("shared_with")) for r, a, d in audit if a == "notifications_muted"} == {
            (first, None),
            (second, first),
        }

        # A delta sync writes into the project too: muted for it, and the project's own scheme back after.
        await change_ado(sandbox, [], new_items=1)
        schedules = ScheduleService(stack.settings, stack.service.sessions, stack.client)
        delta = await schedules.start_delta(TENANT, first_id, actor="test", door="api")
        assert (await wait_final(stack, TENANT, delta)).status == RunStatus.COMPLETED
        n = await notifications(sandbox)
        assert (await jira_state(sandbox))["issues"]["total"] == state["issues"]["total"] + 1
        assert n["sent"] == 0, n
        assert n["scheme_name"] == OWN_SCHEME and n["assigned"] == {SILENT_SCHEME: 2, OWN_SCHEME: 2}
