"""A delta sync applies what changed in ADO since the last successful run, exactly once."""

from __future__ import annotations

from collections import Counter

from migrayt.contracts.phases import plugins
from migrayt.contracts.runs import RunStatus
from migrayt.mapping.plan import default_plan
from migrayt.sandbox.testing import running_sandbox
from migrayt.scheduling.service import ScheduleService
from tests.integration.harness import ado_labels, create_sandbox_migration, jira_issues, wait_final
from tests.schedules.helpers import change_ado, content_written_by, issue_keys, records_written_by

TENANT = "delta-co"
ITEMS = 40


def by_key(issues: list[dict]) -> dict[str, dict]:
    return {i["key"]: i for i in issues}


def pick(project, keys: dict[int, str], wanted_type: str, taken: set[int], not_state: str | None = None) -> int:
    ugly = set(project.ugly_cases().values())
    for item_id in sorted(keys):
        core = project.core(item_id)
        if core.type == wanted_type and item_id not in ugly and item_id not in taken and core.state != not_state:
            taken.add(item_id)
            return item_id
    raise AssertionError(f"no {wanted_type} to change")


async def test_delta_applies_source_changes_once_and_a_second_delta_writes_nothing(stack, worker):
    plan = default_plan()
    plan.skip_phases = list(plugins())  # what these tests look at is the work items
    schedules = ScheduleService(stack.settings, stack.service.sessions, stack.client)
    with running_sandbox(items=ITEMS, seed=71) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        first = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        assert (await wait_final(stack, TENANT, first)).status in (
            RunStatus.COMPLETED,
            RunStatus.INCOMPLETE,
        )
        keys = await issue_keys(stack, migration_id)
        before = by_key(await jira_issues(sandbox))

        project = sandbox.sandbox.project
        taken: set[int] = set()
        renamed = pick(project, keys, "User Story", taken)
        closed = pick(project, keys, "Task", taken, not_state="Closed")
        discussed = pick(project, keys, "Bug", taken)
        attached = pick(project, keys, "Feature", taken)
        linked_a, linked_b = pick(project, keys, "Task", taken), pick(project, keys, "Task", taken)
        answer = await change_ado(
            sandbox,
            [
                {"id": renamed, "fields": {"System.Title": "Checkout flow v2 (renamed in ADO)"}},
                {"id": closed, "state": "Closed"},
                {"id": discussed, "comments": 2},
                {"id": attached, "attachments": 1},
                {"id": linked_a, "links": [{"rel": "System.LinkTypes.Related", "to": linked_b}]},
            ],
            new_items=2,
        )
        new_ids = answer["added"]

        delta = await schedules.start_delta(TENANT, migration_id, actor="test", door="api")
        result = await wait_final(stack, TENANT, delta)
        assert result.status == RunStatus.COMPLETED, result
        after = by_key(await jira_issues(sandbox))

        # New items landed once each; nothing else was created.
        labels = ado_labels(list(after.values()))
        assert all(len(k) == 1 for k in labels.values())
        assert {f"ado-id-{i}" for i in new_ids} <= set(labels)
        assert len(after) == len(before) + len(new_ids)

        # Changed fields, the status, new comments, the new file and the new link on the existing issues.
        assert after[keys[renamed]]["summary"] == "Checkout flow v2 (renamed in ADO)"
        assert before[keys[renamed]]["summary"] != after[keys[renamed]]["summary"]
        assert after[keys[closed]]["status"] == plan.target_status("Task", "Closed") != before[keys[closed]]["status"]
        old_comments, new_comments = before[keys[discussed]]["comments"], after[keys[discussed]]["comments"]
        assert new_comments[: len(old_comments)] == old_comments and len(new_comments) == len(old_comments) + 2
        assert all("still reproducible" in c["body"] for c in new_comments[len(old_comments) :])
        files = Counter(a["filename"] for a in after[keys[attached]]["attachments"])
        assert files[f"added-{attached}-1.txt"] == 1
        assert len(after[keys[attached]]["attachments"]) == len(before[keys[attached]]["attachments"]) + 1
        relates = [link for link in after[keys[linked_a]]["links"] if link["other"] == keys[linked_b]]
        assert len(relates) == 1 and not [
            link for link in before[keys[linked_a]]["links"] if link["other"] == keys[linked_b]
        ]
        # Issues nobody touched in ADO are exactly as they were.
        touched = {keys[i] for i in (renamed, closed, discussed, attached, linked_a, linked_b)}
        for key, issue in before.items():
            if key not in touched:
                assert {k: v for k, v in after[key].items() if k != "links"} == {
                    k: v for k, v in issue.items() if k != "links"
                }, key
        written = await records_written_by(stack, delta)
        assert written.get("source_change", 0) >= 2 and written.get("issue") == len(new_ids)

        # A second delta with nothing new in ADO writes nothing.
        again = await schedules.start_delta(TENANT, migration_id, actor="test", door="api")
        second = await wait_final(stack, TENANT, again)
        assert second.status == RunStatus.COMPLETED
        assert all(c.created == 0 and c.failed == 0 for c in second.counters.values()), second.counters
        assert await content_written_by(stack, again) == {}
        assert by_key(await jira_issues(sandbox)) == after
