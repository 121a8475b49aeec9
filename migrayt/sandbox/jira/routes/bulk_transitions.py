"""Bulk transitions as on Cloud: the transitions many issues have in common, read per workflow; a submit of up to
1,000 issues grouped by transition id, answered with a task id; the task's outcome, issue by issue, at
`/bulk/queue/{taskId}` (served by `bulk.py`, shared with the bulk delete).

The transitions are applied when the task is submitted (a dropped answer then leaves them applied, the hard case
for exactly once); a poll that comes before the task's run time is up sees it still running. Tests
plant an issue the task refuses (`/_sandbox/issues/{key}/transition-refusal`, as a workflow validator would) and
read what was applied (`/_sandbox/transitions`): each issue's status changes, and whether any task notified.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .. import catalog as cat
from ..entities import Issue
from ..errors import JiraError
from ..state import JiraState
from .deps import JiraSite, json_body

BULK_TRANSITION_MAX = 1000
WORKFLOWS_PER_PAGE = 50
# How long a task takes to run, as a client polling it sees: polled sooner, it is still running.
TASK_SECONDS = 0.1
TASK_SECONDS_PER_ISSUE = 0.001
NOT_VALID = "Some of the issues in the issueIdsOrKeys are not valid"

router = APIRouter()
control = APIRouter(prefix="/_sandbox")


@dataclass
class BulkTransitionLog:
    """What only the sandbox keeps about bulk transitions, emptied with the site."""

    refusals: dict[int, str] = field(default_factory=dict)  # issue id → the reason a task gives for it
    tasks: int = 0
    notified_tasks: int = 0


def _log(state: JiraState) -> BulkTransitionLog:
    log = getattr(state, "bulk_transition_log", None)
    if log is None:
        log = state.bulk_transition_log = BulkTransitionLog()

        def forget() -> None:
            state.bulk_transition_log = BulkTransitionLog()

        state.reset_listeners.append(forget)
    return log


def _refused(message: str, status: int = 400) -> JSONResponse:
    """Bulk endpoints answer errors as BulkOperationErrorResponse, not as an ErrorCollection."""
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)


def _workflow_name(issue: Issue) -> str:
    return "Bug workflow" if cat.workflow_for(issue.type_id) != cat.workflow_for("") else "Standard workflow"


def _find(state: JiraState, refs: list[str]) -> list[Issue] | None:
    found = [state.find_issue(r, r) for r in refs]
    return None if any(i is None for i in found) else found  # type: ignore[return-value]


@router.get("/bulk/issues/transition")
async def available_transitions(
    state: JiraSite, issueIdsOrKeys: str, startingAfter: str | None = None, endingBefore: str | None = None
) -> Response:
    refs = list(dict.fromkeys(r.strip() for r in issueIdsOrKeys.split(",") if r.strip()))
    if not refs or len(refs) > BULK_TRANSITION_MAX:
        return _refused(f"Give between 1 and {BULK_TRANSITION_MAX} issues.")
    issues = _find(state, refs)
    if issues is None:
        return _refused(NOT_VALID)
    by_workflow: dict[str, list[Issue]] = {}
    for issue in issues:
        by_workflow.setdefault(_workflow_name(issue), []).append(issue)
    names = sorted(by_workflow)
    # Cursors are workflow positions: 50 workflows a page, as Cloud pages them.
    start = int(startingAfter) if startingAfter and startingAfter.isdigit() else 0
    end = int(endingBefore) if endingBefore and endingBefore.isdigit() else len(names)
    page = names[start:end][:WORKFLOWS_PER_PAGE]
    out: list[dict[str, Any]] = []
    for name in page:
        members = by_workflow[name]
        common: dict[str, cat.Transition] | None = None
        for issue in members:
            offered = {t.id: t for t in state.available_transitions(issue)}
            common = offered if common is None else {k: v for k, v in common.items() if k in offered}
        common = common or {}
        out.append(
            {
                "isTransitionsFiltered": len(common) < len(cat.workflow_for(members[0].type_id)),
                "issues": [i.key for i in members],
                "transitions": [
                    {
                        "to": {"statusId": int(t.to), "statusName": cat.STATUSES_BY_ID[t.to].name},
                        "transitionId": int(t.id),
                        "transitionName": t.name,
                    }
                    for t in sorted(common.values(), key=lambda t: int(t.id))
                ],
            }
        )
    body: dict[str, Any] = {"availableTransitions": out}
    if start + len(page) < len(names):
        body["startingAfter"] = str(start + len(page))
    if start > 0:
        body["endingBefore"] = str(start)
    return JSONResponse(body)


@router.post("/bulk/issues/transition", status_code=201)
async def submit_bulk_transition(request: Request, state: JiraSite) -> Response:
    body = await json_body(request)
    inputs = body.get("bulkTransitionInputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        return _refused("bulkTransitionInputs must list the issues and the transition to take.")
    notify = body.get("sendBulkNotification")
    if notify is not None and not isinstance(notify, bool):
        return _refused("sendBulkNotification must be true or false.")
    work: list[tuple[Issue, str]] = []
    for entry in inputs:
        refs = entry.get("selectedIssueIdsOrKeys") if isinstance(entry, dict) else None
        tid = entry.get("transitionId") if isinstance(entry, dict) else None
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            return _refused("selectedIssueIdsOrKeys must list issue ids or keys.")
        if not isinstance(tid, str) or not tid:
            return _refused("transitionId is required.")
        issues = _find(state, refs)
        if issues is None:
            return _refused(NOT_VALID)
        work += [(i, tid) for i in issues]
    if len(work) > BULK_TRANSITION_MAX:
        return _refused(f"You can only transition up to {BULK_TRANSITION_MAX} issues in one request.")
    if len({i.id for i, _ in work}) < len(work):
        return _refused("An issue can be selected for one transition only.")

    log = _log(state)
    processed: list[int] = []
    failed: dict[str, list[str]] = {}
    for issue, tid in work:
        refusal = log.refusals.get(issue.id)
        if refusal is not None:
            failed[str(issue.id)] = [refusal]
            continue
        try:
            state.transition(issue, {"transition": {"id": tid}}, notify_users=notify is not False)
        except JiraError as err:
            failed[str(issue.id)] = err.messages or [f"{k}: {v}" for k, v in err.errors.items()]
            continue
        processed.append(issue.id)
    task_id = str(uuid.uuid4())
    log.tasks += 1
    log.notified_tasks += notify is not False  # Jira's default is to notify
    state.bulk_tasks[task_id] = {
        "taskId": task_id,
        "submitted": state.now(),
        "submittedBy": state.acting(),
        "processed": processed,
        "failed": failed,
        "invalid": 0,
        "polls": 0,
        "runs_until": state.now() + TASK_SECONDS + TASK_SECONDS_PER_ISSUE * len(work),
    }
    return JSONResponse({"taskId": task_id}, status_code=201)


@control.put("/issues/{key}/transition-refusal", status_code=204)
async def plant_refusal(request: Request, state: JiraSite, key: str) -> Response:
    """`{"reason": …}`: bulk tasks refuse to move this issue with that reason (`null` lifts it)."""
    body = await json_body(request)
    reason = body.get("reason") if isinstance(body, dict) else None
    issue = state.issue(key)
    if reason is None:
        _log(state).refusals.pop(issue.id, None)
    else:
        _log(state).refusals[issue.id] = str(reason)
    return Response(status_code=204)


@control.get("/transitions")
async def applied_transitions(state: JiraSite) -> dict:
    """Status changes applied to each issue (by key, from its changelog) and the bulk tasks, notifying or not."""
    applied: Counter[str] = Counter()
    for issue in state.issues.values():
        moves = sum(
            1 for e in state.changelogs.get(issue.id, []) for item in e["items"] if item.get("field") == "status"
        )
        if moves:
            applied[issue.key] = moves
    log = _log(state)
    return {"applied": dict(applied), "bulk_tasks": log.tasks, "notified_bulk_tasks": log.notified_tasks}
