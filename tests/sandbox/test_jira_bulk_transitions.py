"""The sandbox Jira's bulk transitions answer as the spec says: transitions in common per workflow, a submit
that answers a task id, and the task's outcome issue by issue, with the reasons of the ones it refused."""

from __future__ import annotations

from jira_support import create, jira
from test_jira_contract import Recorder

TODO, IN_PROGRESS = "10000", "3"
START_PROGRESS, REQUEST_REVIEW = "11", "21"


async def test_available_transitions_are_grouped_by_workflow_and_only_those_in_common() -> None:
    async with jira() as (client, _):
        rec = Recorder(client)
        tasks = [await create(client, f"task {n}") for n in range(2)]
        bug = await create(client, "a bug", "Bug", priority={"name": "High"})
        r = await rec.call("GET", f"/rest/api/3/bulk/issues/transition?issueIdsOrKeys={','.join([*tasks, bug])}", 200)
        groups = {tuple(g["issues"]): g for g in r.json()["availableTransitions"]}
        assert set(groups) == {tuple(tasks), (bug,)}
        assert [t["transitionId"] for t in groups[tuple(tasks)]["transitions"]] == [int(START_PROGRESS)]
        assert groups[tuple(tasks)]["transitions"][0]["to"] == {"statusId": 3, "statusName": "In Progress"}
        assert groups[tuple(tasks)]["isTransitionsFiltered"] is True

        # One of the two moved on: they share no transition any more.
        await client.post(f"/rest/api/3/issue/{tasks[0]}/transitions", json={"transition": {"id": START_PROGRESS}})
        r = await rec.call("GET", f"/rest/api/3/bulk/issues/transition?issueIdsOrKeys={','.join(tasks)}", 200)
        assert r.json()["availableTransitions"][0]["transitions"] == []

        await rec.call("GET", "/rest/api/3/bulk/issues/transition?issueIdsOrKeys=PHX-999", 400)


async def test_a_bulk_transition_is_a_task_that_reports_each_issue_moved_or_refused_with_its_reason() -> None:
    async with jira() as (client, _):
        rec = Recorder(client)
        keys = [await create(client, f"task {n}") for n in range(4)]
        r = await client.put(
            f"/_sandbox/issues/{keys[3]}/transition-refusal", json={"reason": "Approval is required to start work."}
        )
        assert r.status_code == 204
        ids = {k: (await client.get(f"/rest/api/3/issue/{k}")).json()["id"] for k in keys}
        body = {
            "bulkTransitionInputs": [
                {"selectedIssueIdsOrKeys": [keys[0], ids[keys[1]], keys[3]], "transitionId": START_PROGRESS},
                # From To Do, Request Review is not offered: refused for that issue only.
                {"selectedIssueIdsOrKeys": [keys[2]], "transitionId": REQUEST_REVIEW},
            ],
            "sendBulkNotification": False,
        }
        task = (await rec.call("POST", "/rest/api/3/bulk/issues/transition", 201, json=body)).json()["taskId"]

        done = (await rec.call("GET", f"/rest/api/3/bulk/queue/{task}", 200)).json()
        while done["status"] == "RUNNING":
            assert done["processedAccessibleIssues"] == [] and done["failedAccessibleIssues"] == {}
            done = (await rec.call("GET", f"/rest/api/3/bulk/queue/{task}", 200)).json()
        assert done["status"] == "COMPLETE" and done["totalIssueCount"] == 4
        assert sorted(done["processedAccessibleIssues"]) == sorted(int(ids[k]) for k in keys[:2])
        assert done["failedAccessibleIssues"] == {
            ids[keys[2]]: [f"Transition id '{REQUEST_REVIEW}' is not valid for this issue."],
            ids[keys[3]]: ["Approval is required to start work."],
        }
        statuses = [(await client.get(f"/rest/api/3/issue/{k}")).json()["fields"]["status"]["id"] for k in keys]
        assert statuses == [IN_PROGRESS, IN_PROGRESS, TODO, TODO]

        applied = (await client.get("/_sandbox/transitions")).json()
        assert applied["applied"] == {keys[0]: 1, keys[1]: 1}
        assert applied["bulk_tasks"] == 1 and applied["notified_bulk_tasks"] == 0

        # Jira notifies unless told not to: the sandbox counts it.
        await client.post(
            "/rest/api/3/bulk/issues/transition",
            json={"bulkTransitionInputs": [{"selectedIssueIdsOrKeys": [keys[2]], "transitionId": START_PROGRESS}]},
        )
        assert (await client.get("/_sandbox/transitions")).json()["notified_bulk_tasks"] == 1


async def test_a_bulk_transition_refuses_unknown_issues_too_many_and_the_same_issue_twice() -> None:
    async with jira() as (client, _):
        rec = Recorder(client)
        key = await create(client, "task")

        def one(refs: list[str]) -> dict:
            return {"selectedIssueIdsOrKeys": refs, "transitionId": START_PROGRESS}

        await rec.call("POST", "/rest/api/3/bulk/issues/transition", 400, json={"bulkTransitionInputs": [one(["X-1"])]})
        twice = {"bulkTransitionInputs": [one([key]), one([key])]}
        await rec.call("POST", "/rest/api/3/bulk/issues/transition", 400, json=twice)
        many = {"bulkTransitionInputs": [one([key] * 1001)]}
        r = await rec.call("POST", "/rest/api/3/bulk/issues/transition", 400, json=many)
        assert "1000" in r.json()["errors"][0]["message"]
        assert (await client.get("/_sandbox/transitions")).json()["applied"] == {}
