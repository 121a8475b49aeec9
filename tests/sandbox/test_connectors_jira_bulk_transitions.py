"""JiraClient's bulk transitions against the sandbox Jira over real HTTP: what the issues have in common is read
per workflow, a submit answers a task polled to its outcome, no one is notified, and a lost answer is raised for
the caller to settle by reading (never sent again by the client)."""

from __future__ import annotations

import httpx
import pytest
from test_connectors_jira import client, fields, issue_type_id

from migrayt.connectors.http import AmbiguousWriteError
from migrayt.connectors.jira import JiraClient
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.testing import SandboxAdmin, running_sandbox


@pytest.fixture(scope="module")
def sandbox():
    with running_sandbox(items=5, seed=5) as server:
        yield server


@pytest.fixture
async def jira(sandbox):
    async with client(sandbox) as c:
        yield c


@pytest.fixture
async def admin(sandbox):
    async with SandboxAdmin.for_jira(sandbox) as a:
        yield a
        await a.replace_faults()


async def applied(sandbox) -> dict:
    async with httpx.AsyncClient(base_url=sandbox.jira_url, timeout=30) as http:
        return (await http.get("/_sandbox/transitions")).json()


async def test_bulk_transition_reads_common_transitions_submits_quietly_and_reports_per_issue(
    sandbox, jira: JiraClient
) -> None:
    key = sandbox.sandbox.project_key
    type_id = await issue_type_id(jira, key)
    keys = [(await jira.create_issue(fields(key, type_id, f"bulk {n}")["fields"])).key for n in range(3)]
    [workflow] = await jira.bulk_available_transitions(keys)
    assert sorted(workflow.issues) == sorted(keys)
    start = next(t for t in workflow.transitions if t.to_name == "In Progress")

    before = await applied(sandbox)
    task = await jira.submit_bulk_transition({str(start.transition_id): keys})
    progress = await jira.bulk_task(task)
    while not progress.finished:
        progress = await jira.bulk_task(task)
    ids = {i.key: i.id for i in await jira.bulk_fetch_issues(keys, ["status"])}
    assert progress.status == "COMPLETE" and sorted(map(str, progress.processed)) == sorted(ids.values())
    after = await applied(sandbox)
    assert after["bulk_tasks"] == before["bulk_tasks"] + 1
    assert after["notified_bulk_tasks"] == before["notified_bulk_tasks"]  # sendBulkNotification: false


async def test_a_lost_bulk_submit_answer_is_raised_once_not_resent(sandbox, jira: JiraClient, admin: SandboxAdmin):
    key = sandbox.sandbox.project_key
    type_id = await issue_type_id(jira, key)
    issue = (await jira.create_issue(fields(key, type_id, "dropped")["fields"])).key
    [workflow] = await jira.bulk_available_transitions([issue])
    start = next(t for t in workflow.transitions if t.to_name == "In Progress")
    await admin.replace_faults(FaultConfig(share_drop_after_write=1.0, seed=1))
    with pytest.raises(AmbiguousWriteError):
        await jira.submit_bulk_transition({str(start.transition_id): [issue]})
    await admin.replace_faults()
    # Applied once, though its answer was lost: reading the status settles it.
    assert (await applied(sandbox))["applied"][issue] == 1
    [read] = await jira.bulk_fetch_issues([issue], ["status"])
    assert read.fields["status"]["name"] == "In Progress"
