"""Structure after a full run: every item once, parents, links by type and direction, remote links, statuses.

Also exactly once for hierarchy, links and transitions: a worker SIGKILLed in each of those phases,
with responses dropped after the write, and restarted, leaves no duplicate link, no wrong parent
and no wrong status.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from migrayt.contracts.runs import RunStatus
from migrayt.mapping.plan import FieldMapping, MappingPlan, default_plan
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.testing import SandboxAdmin, running_sandbox
from migrayt.store.models import ItemRecord
from tests.integration.checker import check_structure
from tests.integration.harness import (
    create_sandbox_migration,
    jira_issues,
    record_states,
    wait_final,
    wait_for,
    worker_process,
)

TENANT = "acme-corp"


async def records(stack, migration_id: str, kind: str) -> list[ItemRecord]:
    async with stack.service.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(ItemRecord).where(ItemRecord.migration_id == migration_id, ItemRecord.kind == kind)
                )
            ).all()
        )


async def structure_mismatches(
    stack, sandbox, migration_id: str, project: GeneratedProject, plan: MappingPlan
) -> list[str]:
    issues = await jira_issues(sandbox)
    not_migrated = {int(r.source_key) for r in await records(stack, migration_id, "issue") if r.state != "done"}
    hierarchy_links = {
        int(r.source_key)
        for r in await records(stack, migration_id, "hierarchy")
        if (r.detail or {}).get("as") == "link"
    }
    not_transitioned = {
        int(r.source_key) for r in await records(stack, migration_id, "transition") if r.state != "done"
    }
    return check_structure(
        project,
        issues,
        plan,
        not_migrated=not_migrated,
        hierarchy_links=hierarchy_links,
        not_transitioned=not_transitioned,
    )


def plan_with_bad_data() -> MappingPlan:
    """The default plan with two mistakes a user could make.

    A field mapping only Test Cases carry, with values that are not numbers: every Test Case fails
    to migrate, and so must each link that has one at an end. And Removed → Won't Fix, a status
    only the Bug workflow has (and no Bug is ever Removed): those items fail their transition.
    """
    plan = default_plan()
    plan.fields.append(
        FieldMapping(source="Microsoft.VSTS.TCM.AutomationStatus", target="customfield_10016", transform="number")
    )
    plan.states["*"]["Removed"] = "Won't Fix"
    return plan


async def test_full_run_matches_the_source_structure(stack, worker):
    items, seed = 160, 23
    project = GeneratedProject(ProjectSpec(seed=seed, items=items))
    plan = plan_with_bad_data()
    test_cases = {i for i in project.item_ids() if project.core(i).type == "Test Case"}
    with running_sandbox(items=items, seed=seed) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        progress = await wait_final(stack, TENANT, run_id)

        assert await structure_mismatches(stack, sandbox, migration_id, project, plan) == []
        for phase, c in progress.counters.items():
            if phase != "preflight":
                assert c.created + c.skipped + c.failed == c.total == items, (phase, c)
        assert progress.counters["create_items"].failed == len(test_cases) > 0
        assert progress.status == RunStatus.INCOMPLETE

        # Each link with a Test Case at an end failed alone, naming that Test Case; no other link failed.
        links = await records(stack, migration_id, "link")
        failed = {r.source_key: r.error for r in links if r.state != "done"}
        touching = {r.source_key for r in links if {int(e) for e in r.source_key.split(":")[:2]} & test_cases}
        assert set(failed) == touching and touching
        for key, error in failed.items():
            named = [int(e) for e in key.split(":")[:2] if int(e) in test_cases]
            assert all(f"ADO #{n}" in error and "has no Jira issue" in error for n in named), error
        assert progress.counters["links"].created > 0 and progress.counters["transitions"].created > 0
        # Removed items fail their transition, unmoved, with the reason; every other walk got there.
        removed = {
            i for i in project.item_ids() if project.work_item(i).fields["System.State"] == "Removed"
        } - test_cases
        transitions = await records(stack, migration_id, "transition")
        stuck = {int(r.source_key): r.error for r in transitions if r.state != "done"}
        assert set(stuck) == removed and removed
        # Won't Fix is a status of the project (the Bug workflow's), so preflight lets it through; each item's own
        # workflow does not have it, and the reason says so.
        assert all(
            'status "Won\'t Fix" is not in the workflow of' in error and "stays 'To Do'" in error
            for error in stuck.values()
        ), stuck
        assert progress.counters["transitions"].failed == len(removed)


# Each kill is held at a known point of its phase: the sandbox Jira leaves these requests unanswered (the
# first few pass) until the worker is dead, so the kill always lands mid-phase however fast the machine is.
PARENT_EDITS = r"PUT /rest/api/3/issue/[^/]+"
# Each links batch reads the link types first (hierarchy never does): the first batch passes, the next waits.
LINK_BATCHES = r"GET /rest/api/3/issueLinkType"
# Statuses move in bulk, a few requests a batch: the first passes, the next waits.
TRANSITIONS = r"POST /rest/api/3/bulk/issues/transition"


async def kill_mid_phase(
    stack, worker, jira: SandboxAdmin, migration_id: str, run_id: str, phase: str, kind: str, next_hold: list[str]
) -> dict[str, int]:
    """SIGKILL the worker while the phase's held requests wait, with answers dropping; hold the next phase's
    requests instead (the held ones are then applied, their answers lost with the worker); restart it."""
    await wait_for(stack, TENANT, run_id, lambda p: p.phase == phase, poll=0.05)
    await wait_for_records(stack, migration_id, kind, at_least=1)
    await jira_holds_a_request(jira)
    worker.kill()
    killed_at = await record_states(stack, migration_id, kind)
    await jira.set_faults(hold=next_hold, hold_after=1 if next_hold in ([LINK_BATCHES], [TRANSITIONS]) else 10)
    worker.start()
    return killed_at


async def jira_holds_a_request(jira: SandboxAdmin, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (await jira.faults())["counters"]["held_now"] < 1:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("no request reached the hold")
        await asyncio.sleep(0.05)


async def test_worker_killed_in_hierarchy_links_and_transitions_lands_each_parent_link_and_status_once(stack, tmp_path):
    items, seed = 70, 31
    project = GeneratedProject(ProjectSpec(seed=seed, items=items))
    with running_sandbox(items=items, seed=seed) as sandbox:
        jira = SandboxAdmin.for_jira(sandbox)
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
        # Parents set afterwards, so the hierarchy phase edits every parent and the kill lands among its edits
        # (with parents at create time it writes only what remains; tests/integration/test_parents_at_create.py).
        async with worker_process(stack, tmp_path / "worker.log", MIGRAYT_PARENTS_AT_CREATE="false") as worker:
            # Answers to writes dropped after they happened, in every phase below.
            await jira.set_faults(share_drop_after_write=0.15, hold=[PARENT_EDITS], hold_after=10)
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            hierarchy_at_kill = await kill_mid_phase(
                stack, worker, jira, migration_id, run_id, "hierarchy", "hierarchy", next_hold=[LINK_BATCHES]
            )
            links_at_kill = await kill_mid_phase(
                stack, worker, jira, migration_id, run_id, "links", "link", next_hold=[TRANSITIONS]
            )
            transitions_at_kill = await kill_mid_phase(
                stack, worker, jira, migration_id, run_id, "transitions", "transition", next_hold=[]
            )
            # Once the run is past transitions, every link and status is final.
            progress = await wait_for(stack, TENANT, run_id, lambda p: p.phase == "comments", poll=0.1)
            faults = await jira.set_faults(share_drop_after_write=0.0)
            await stack.client.get_workflow_handle(run_id).terminate(reason="test checked what it needed")
        await jira.aclose()

        # Each crash met work in flight and lost answers, or this test proves nothing.
        assert faults["counters"]["dropped_after_write"] > 0
        settled = [
            r.detail or {}
            for kind in ("hierarchy", "link", "transition")
            for r in await records(stack, migration_id, kind)
        ]
        assert any(d.get("reconciled") or d.get("unsure_steps") for d in settled)  # a lost answer was read back
        for kind, at_kill in (
            ("hierarchy", hierarchy_at_kill),
            ("link", links_at_kill),
            ("transition", transitions_at_kill),
        ):
            final = await record_states(stack, migration_id, kind)
            # The kill met the phase unfinished: writes in flight (pending), or items not begun yet (since the later
            # phases take the whole work list in one range, all of a phase's bulk transitions may be in flight).
            unfinished = at_kill.get("pending", 0) > 0 or sum(at_kill.values()) < sum(final.values())
            assert final.get("pending", 0) == 0 and unfinished, (kind, at_kill, final)

        issues = await jira_issues(sandbox)
        not_migrated = {int(r.source_key) for r in await records(stack, migration_id, "issue") if r.state != "done"}
        as_links = {
            int(r.source_key)
            for r in await records(stack, migration_id, "hierarchy")
            if (r.detail or {}).get("as") == "link"
        }
        assert (
            check_structure(project, issues, default_plan(), not_migrated=not_migrated, hierarchy_links=as_links) == []
        )
        for phase in ("hierarchy", "links", "transitions"):
            c = progress.counters[phase]
            assert c.created + c.skipped + c.failed == c.total == items, (phase, c)


async def wait_for_records(stack, migration_id: str, kind: str, at_least: int, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while sum((await record_states(stack, migration_id, kind)).values()) < at_least:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {kind} records appeared")
        await asyncio.sleep(0.05)
