"""Exactly once across migrations: a second migration of the same ADO project into the same Jira project
finds what the first wrote (by source identity: the `ado-id-N` label and the `migrayt.source` property)
and adopts it — nothing is created twice, not an issue, link, file or comment — while another
organisation's items with the same ids are never taken for its own."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.contracts.preview import PreviewReport
from migrayt.core.intake import IntakeService
from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from tests.integration.harness import (
    ADO_PAT_ENV,
    JIRA_TOKEN_ENV,
    WorkerProcess,
    ado_labels,
    create_sandbox_migration,
    hold_jira,
    jira_issues,
    jira_state,
    record_states,
    release_jira,
    set_jira_faults,
    structure_only_plan,
    wait_final,
    wait_for,
    wait_until_held,
)

TENANT = "adopt-co"
SEARCHES = r"POST /rest/api/3/search/jql"


def written(state: dict) -> dict:
    """What a migration writes into Jira, as counts (the search index backlog is no write)."""
    issues = {k: v for k, v in state["issues"].items() if k != "pending_search_index"}
    return {
        "issues": issues,
        "links": state["links"],
        "remote_links": state["remote_links"],
        "attachments": state["attachments"],
        "comments": state["comments"],
    }


async def issue_records(stack, migration_id: str) -> dict[str, ItemRecord]:
    async with stack.service.sessions() as session:
        rows = await session.scalars(
            select(ItemRecord).where(ItemRecord.migration_id == migration_id, ItemRecord.kind == "issue")
        )
        return {r.source_key: r for r in rows}


async def wait_for_adopted(stack, migration_id: str, timeout: float = 60.0) -> None:
    """Until the batch whose search was answered has recorded what it adopted."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (await record_states(stack, migration_id)).get("done"):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("no item was adopted")
        await asyncio.sleep(0.05)


async def run(stack, migration_id: str):
    run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
    return await wait_final(stack, TENANT, run_id)


async def test_a_second_migration_adopts_what_the_first_wrote_and_creates_nothing_again(stack, worker):
    with running_sandbox(ProjectSpec(seed=13, items=40)) as sandbox:
        first = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
        one = await run(stack, first)
        created = one.counters["create_items"].created
        assert created > 0
        before = await jira_state(sandbox)
        first_keys = {k: r.target_key for k, r in (await issue_records(stack, first)).items() if r.state == "done"}

        second = await create_sandbox_migration(stack, sandbox, tenant=TENANT)  # "Phoenix 2"
        intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
        # The scan and the preview say what is there already, by identity, before anything is written.
        scan_id = await intake.start_scan(TENANT, second, actor="test", door="api", draft_plan=False)
        assert (await intake.scan_result(scan_id)).status == "COMPLETED"
        found = [b for b in (await intake.get_scan(TENANT, scan_id)).lint["breaches"] if b["rule"] == "already_in_jira"]
        assert len(found) == 1 and found[0]["count"] == created
        assert set(found[0]["names"]) <= set(first_keys.values()) and found[0]["names"]
        preview_id = await intake.start_preview(TENANT, second, actor="test", door="api", samples=2)
        assert (await intake.preview_result(preview_id)).status == "COMPLETED"
        report = PreviewReport.model_validate((await intake.get_preview(TENANT, preview_id)).report)
        assert report.already_in_jira == created == report.phases["create_items"].adopted
        assert report.phases["create_items"].created == 0

        two = await run(stack, second)
        after = await jira_state(sandbox)
        # Not one issue, link, remote link, file or comment more.
        assert written(after) == written(before)
        assert all(len(keys) == 1 for keys in ado_labels(await jira_issues(sandbox)).values())
        c = two.counters["create_items"]
        assert (c.adopted, c.created) == (created, 0)
        # Each item recorded with the very issue the first migration made.
        second_keys = {k: r.target_key for k, r in (await issue_records(stack, second)).items() if r.state == "done"}
        assert second_keys == first_keys
        for phase in ("hierarchy", "links", "attachments", "transitions", "comments"):
            assert two.counters[phase].created == 0, (phase, two.counters[phase])
        assert two.counters["links"].adopted > 0 and two.counters["comments"].adopted > 0
        assert two.counters["attachments"].adopted > 0


# Three batches (of 20), each adopting after its own search, as 150 items in the default batches of 50 make.
KILLED_ITEMS = 60
KILLED_BATCH_SIZE = 20


async def test_a_worker_killed_mid_adoption_under_index_lag_adopts_each_item_once(stack, tmp_path):
    stack = stack.with_batch_size(KILLED_BATCH_SIZE)
    plan = structure_only_plan()
    with running_sandbox(items=KILLED_ITEMS, seed=31) as sandbox:
        await set_jira_faults(sandbox, search_index_lag_seconds=5)
        first = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)  # sets the secrets' variables
        worker = WorkerProcess(stack, tmp_path / "worker.log")
        worker.start()
        try:
            one = await run(stack, first)
            created = one.counters["create_items"].created
            before = written(await jira_state(sandbox))

            second = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
            # The first adoption search answers; the next waits until the worker is dead.
            await hold_jira(sandbox, SEARCHES, after=1)
            run_id = await stack.service.start_run(TENANT, second, actor="test", door="api")
            await wait_until_held(sandbox)
            await wait_for(stack, TENANT, run_id, lambda p: p.phase == "create_items", poll=0.05)
            await wait_for_adopted(stack, second)
            worker.kill()
            at_kill = await record_states(stack, second)
            await release_jira(sandbox)  # the held searches answer a dead worker
            worker.start()
            two = await wait_final(stack, TENANT, run_id)
        finally:
            worker.stop()
        assert 0 < at_kill.get("done", 0) < created, at_kill
        assert written(await jira_state(sandbox)) == before
        assert all(len(keys) == 1 for keys in ado_labels(await jira_issues(sandbox)).values())
        c = two.counters["create_items"]
        assert (c.adopted, c.created) == (created, 0), c
        assert await record_states(stack, second) == {"done": created} | ({"failed": c.failed} if c.failed else {})


async def test_two_organisations_with_the_same_ids_do_not_adopt_each_others_issues(stack, worker):
    plan = structure_only_plan()
    spec_a, spec_b = ProjectSpec(seed=5, items=30), ProjectSpec(seed=5, items=30, organization="globex")
    with running_sandbox(spec_a) as a, running_sandbox(spec_b) as b:
        first = await create_sandbox_migration(stack, a, plan=plan, tenant=TENANT)
        one = await run(stack, first)
        created = one.counters["create_items"].created
        # Globex's ADO, with the very same work item ids, into acme's Jira project.
        second = await stack.service.create_migration(
            TENANT,
            "Globex to PHX",
            SourceConnection(
                organization_url=b.ado_url, project="Phoenix", team="Phoenix Team", pat_ref=f"env:{ADO_PAT_ENV}"
            ),
            TargetConnection(
                base_url=a.jira_url, project_key="PHX", email="migrator@example.com", token_ref=f"env:{JIRA_TOKEN_ENV}"
            ),
            plan,
            actor="test",
            door="api",
        )
        two = await run(stack, second)
        c = two.counters["create_items"]
        assert (c.created, c.adopted) == (created, 0), c
        labels = ado_labels(await jira_issues(a))
        assert all(len(keys) == 2 for keys in labels.values()) and len(labels) == created
        firsts = {r.target_key for r in (await issue_records(stack, first)).values()}
        seconds = {r.target_key for r in (await issue_records(stack, second)).values()}
        assert not firsts & seconds
        # Each issue says which organisation it came from.
        async with httpx.AsyncClient(base_url=a.jira_url, auth=(a.sandbox.jira_email, a.sandbox.jira_token)) as jira:
            key = sorted(seconds)[0]
            prop = (await jira.get(f"/rest/api/3/issue/{key}/properties/migrayt.source")).json()["value"]
        assert prop["organization"].endswith("/globex") and prop["project"] == "Phoenix"
