"""A delta sync has the run's controls: pause that cuts the batches under way, PAUSED, resume, cancel,
their audit events, continue-as-new — and its history replays.

Each test holds the sandbox Jira's answers at a chosen point (`hold_jira`) until it has acted on the
sync, so the control always meets a sync under way, however fast the machine is.
"""

from __future__ import annotations

import asyncio

import pytest

from migrayt.contracts.runs import RunStatus
from migrayt.core.errors import RunConflict
from migrayt.sandbox.testing import running_sandbox
from migrayt.scheduling.service import ScheduleService
from tests.integration.harness import (
    ISSUE_CREATES,
    ado_labels,
    create_sandbox_migration,
    hold_jira,
    jira_issues,
    release_jira,
    structure_only_plan,
    wait_final,
    wait_for,
    wait_until_held,
)
from tests.integration.test_history import replay_and_keep
from tests.integration.test_run_control import audit_actions, jira_requests, taken
from tests.schedules.helpers import change_ado

TENANT = "delta-control-co"
ITEMS = 20
NEW_ITEMS = 250  # five batches of create items in the delta or more: four under way when the hold bites


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=75) as server:
        yield server


async def migrated_with_new_items(stack, sandbox) -> str:
    """A migration whose first run is done, with NEW_ITEMS items added in ADO since."""
    migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
    first = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
    assert (await wait_final(stack, TENANT, first)).status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
    await change_ado(sandbox, [], new_items=NEW_ITEMS)
    return migration_id


def creating(p) -> bool:
    return p.phase == "create_items" and p.counters["create_items"].created > 0


async def start_delta_held_mid_create_items(stack, sandbox, migration_id: str, **options) -> str:
    """A delta sync whose first bulk create landed and whose next creates wait, unanswered, on the sandbox."""
    await hold_jira(sandbox, ISSUE_CREATES, after=1)
    schedules = ScheduleService(stack.settings, stack.service.sessions, stack.client)
    run_id = await schedules.start_delta(TENANT, migration_id, actor="test", door="api", **options)
    await wait_for(stack, TENANT, run_id, creating)
    await wait_until_held(sandbox)
    return run_id


async def test_a_paused_delta_sync_makes_no_jira_calls_and_resumes_to_completion_once(stack, worker, sandbox):
    migration_id = await migrated_with_new_items(stack, sandbox)
    issues_before = len(await jira_issues(sandbox))
    run_id = await start_delta_held_mid_create_items(stack, sandbox, migration_id)

    await stack.service.control(TENANT, run_id, "pause", actor="ops@delta", door="api")
    await taken(stack, run_id, "pause_requested", tenant=TENANT)
    await release_jira(sandbox)
    paused = await wait_for(stack, TENANT, run_id, lambda p: p.status == RunStatus.PAUSED)
    # The batches under way were cut: not every new item is there yet.
    c = paused.counters["create_items"]
    assert c.created + c.skipped + c.failed < c.total
    with pytest.raises(RunConflict):
        await stack.service.control(TENANT, run_id, "pause", actor="ops@delta", door="api")
    before = await jira_requests(sandbox)
    await asyncio.sleep(3)
    assert await jira_requests(sandbox) == before, "a paused delta sync must not call Jira"

    await stack.service.control(TENANT, run_id, "resume", actor="ops@delta", door="cli")
    final = await wait_final(stack, TENANT, run_id)
    assert final.status == RunStatus.COMPLETED, final
    c = final.counters["create_items"]
    # Every changed item once: the new ones created, those the first run had just made skipped.
    assert c.created + c.skipped == c.total and c.created == NEW_ITEMS
    issues = await jira_issues(sandbox)
    labels = ado_labels(issues)
    assert all(len(keys) == 1 for keys in labels.values()), "an item landed twice"
    assert len(issues) == issues_before + NEW_ITEMS

    events = await audit_actions(stack, run_id)
    assert ("pause_requested", "ops@delta", "api") in events
    assert ("resume_requested", "ops@delta", "cli") in events
    actions = [a for a, _, _ in events]
    assert actions.index("pause_requested") < actions.index("paused_effective") < actions.index("resume_requested")
    assert actions[-1] == "run_finished"

    history = await stack.service.handle(run_id).fetch_history()
    cut = any(e.HasField("activity_task_cancel_requested_event_attributes") for e in history.events)
    assert cut, "no batch was cut"
    await replay_and_keep(stack, history, "delta_sync_paused_and_resumed")


async def test_a_cancelled_delta_sync_ends_cancelled_and_says_who_cancelled_it(stack, worker, sandbox):
    migration_id = await migrated_with_new_items(stack, sandbox)
    run_id = await start_delta_held_mid_create_items(stack, sandbox, migration_id)

    await stack.service.control(TENANT, run_id, "cancel", actor="ops@delta", door="api")
    await taken(stack, run_id, "cancel_requested", tenant=TENANT)
    await release_jira(sandbox)
    final = await wait_final(stack, TENANT, run_id)
    assert final.status == RunStatus.CANCELLED
    c = final.counters["create_items"]
    assert c.created < NEW_ITEMS
    with pytest.raises(RunConflict):
        await stack.service.control(TENANT, run_id, "resume", actor="ops@delta", door="api")
    labels = ado_labels(await jira_issues(sandbox))
    assert all(len(keys) == 1 for keys in labels.values())
    run = await stack.service.get_run(TENANT, run_id)
    assert run.status == RunStatus.CANCELLED

    events = await audit_actions(stack, run_id)
    assert ("cancel_requested", "ops@delta", "api") in events
    assert [a for a, _, _ in events][-1] == "run_finished"


async def test_a_long_delta_sync_continues_as_new_and_lands_every_item_once(stack, worker, sandbox):
    migration_id = await migrated_with_new_items(stack, sandbox)
    issues_before = len(await jira_issues(sandbox))
    schedules = ScheduleService(stack.settings, stack.service.sessions, stack.client)
    run_id = await schedules.start_delta(TENANT, migration_id, actor="test", door="api", history_event_limit=80)
    final = await wait_final(stack, TENANT, run_id)
    assert final.status == RunStatus.COMPLETED, final
    executions = [w async for w in stack.client.list_workflows(f"WorkflowId = '{run_id}'")]
    assert len(executions) >= 3, "the delta sync should have continued as new at least twice"
    for phase, c in final.counters.items():
        assert c.created + c.skipped + c.failed == c.total, (phase, c)
    assert final.counters["create_items"].created == NEW_ITEMS
    issues = await jira_issues(sandbox)
    assert all(len(keys) == 1 for keys in ado_labels(issues).values())
    assert len(issues) == issues_before + NEW_ITEMS
    actions = [a for a, _, _ in await audit_actions(stack, run_id)]
    assert actions.count("run_started") == 1 and actions.count("run_finished") == 1
