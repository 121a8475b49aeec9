"""The run engine end to end: embedded PostgreSQL, Temporal dev server, sandbox ADO and Jira over HTTP."""

from __future__ import annotations

import pytest

from migrayt.contracts.runs import RunStatus
from migrayt.sandbox.testing import running_sandbox
from tests.integration.harness import ado_labels, create_sandbox_migration, jira_issues, record_states, wait_final

TENANT = "acme-corp"


@pytest.fixture
def sandbox():
    with running_sandbox(items=120, seed=11) as server:
        yield server


async def test_full_run_lands_every_item_once(stack, worker, sandbox):
    migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
    run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
    progress = await wait_final(stack, TENANT, run_id)

    issues = await jira_issues(sandbox)
    labels = ado_labels(issues)
    duplicates = {label: keys for label, keys in labels.items() if len(keys) > 1}
    assert duplicates == {}
    created = progress.counters["create_items"]
    assert created.created + created.skipped + created.failed == created.total == 120
    assert len(labels) == created.created
    states = await record_states(stack, migration_id)
    assert states.get("done", 0) == created.created
    assert states.get("failed", 0) == created.failed
    any_failed = any(c.failed for c in progress.counters.values())
    assert progress.status == (RunStatus.INCOMPLETE if any_failed else RunStatus.COMPLETED)
