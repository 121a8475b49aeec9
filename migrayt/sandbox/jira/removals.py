"""What an undo (or a person cleaning up) takes out of the site — comments, worklogs, remote links,
components, sprints, issues in bulk (an asynchronous task, as on Cloud) — and each issue's changelog:
who changed it and when. Writes are authored by the caller, or by the user a sandbox request acts as
(`X-Sandbox-Act-As`, the sandbox's stand-in for another person's credentials)."""

from __future__ import annotations

import uuid
from typing import Any

from .entities import Issue, jira_time
from .errors import JiraError
from .issues import IssueOps

BULK_DELETE_MAX = 1000


class RemovalOps(IssueOps):
    """Built on the issue writes: removing a component, a sprint or issues in bulk edits or deletes issues."""

    # --- the changelog (its entries are recorded by the store's `record_change`) -------------------

    def changelog(self, issue: Issue) -> list[dict[str, Any]]:
        return [
            {
                "id": e["id"],
                "author": self._author_of(e["author"]),
                "created": jira_time(e["created"]),
                "items": e["items"],
            }
            for e in self.changelogs.get(issue.id, [])
        ]

    def _author_of(self, account_id: str) -> dict[str, Any]:
        user = self.users.get(account_id)
        return {
            "accountId": account_id,
            "displayName": user.display_name if user else account_id,
            "active": True,
            "accountType": "atlassian",
        }

    # --- one at a time ------------------------------------------------------------------------

    def delete_comment(self, issue: Issue, comment_id: int) -> None:
        if comment_id not in self.issue_comments.get(issue.id, []):
            raise JiraError(404, [f"Can not find a comment for the id: {comment_id}."])
        with self._tx():
            self.issue_comments[issue.id].remove(comment_id)
            self.comments.pop(comment_id, None)
            self.store.delete("comment", comment_id)

    def delete_worklog(self, issue: Issue, worklog_id: int) -> None:
        if worklog_id not in self.issue_worklogs.get(issue.id, []):
            raise JiraError(404, [f"Cannot find worklog with id: {worklog_id}."])
        with self._tx():
            self.issue_worklogs[issue.id].remove(worklog_id)
            self.worklogs.pop(worklog_id, None)
            self.store.delete("worklog", worklog_id)

    def delete_remote_link(self, issue: Issue, link_id: int) -> None:
        if link_id not in self.issue_remote_links.get(issue.id, []):
            raise JiraError(404, [f"No remote issue link with id '{link_id}' exists on this issue."])
        with self._tx():
            self.issue_remote_links[issue.id].remove(link_id)
            self.remote_links.pop(link_id, None)
            self.store.delete("remotelink", link_id)

    def component_issue_count(self, component_id: str) -> int:
        if component_id not in self.components:
            raise JiraError(404, [f"The component with id {component_id} does not exist."])
        return sum(1 for i in self.issues.values() if component_id in i.component_ids)

    def delete_component(self, component_id: str) -> None:
        if component_id not in self.components:
            raise JiraError(404, [f"The component with id {component_id} does not exist."])
        with self._tx():
            for issue in list(self.issues.values()):
                if component_id in issue.component_ids:
                    self._apply(issue, {"component_ids": [c for c in issue.component_ids if c != component_id]})
                    self._save_issue(issue)
            del self.components[component_id]
            self.store.delete("component", component_id)

    def sprint_issue_keys(self, sprint_id: int) -> list[str]:
        if sprint_id not in self.sprints:
            raise JiraError(404, [f"Sprint with id {sprint_id} does not exist."])
        return [i.key for i in sorted(self.issues.values(), key=lambda i: i.id) if sprint_id in i.sprint_ids]

    def delete_sprint(self, sprint_id: int) -> None:
        if sprint_id not in self.sprints:
            raise JiraError(404, [f"Sprint with id {sprint_id} does not exist."])
        with self._tx():
            for issue in list(self.issues.values()):
                if sprint_id in issue.sprint_ids:
                    self._apply(issue, {"sprint_ids": [s for s in issue.sprint_ids if s != sprint_id]})
                    self._save_issue(issue)
            del self.sprints[sprint_id]
            self.store.delete("sprint", sprint_id)

    # --- issues in bulk: an asynchronous task ----------------------------------------------------

    def bulk_delete(self, body: Any) -> str:
        """Submit the delete; the issues go at once, the task reports them on its polls (as Cloud's does later)."""
        keys = body.get("selectedIssueIdsOrKeys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise JiraError(400, ["selectedIssueIdsOrKeys must list the issues to delete."])
        if len(keys) > BULK_DELETE_MAX:
            raise JiraError(400, [f"You can only delete up to {BULK_DELETE_MAX} issues in one request."])
        found = [i for i in (self.find_issue(k, k) for k in dict.fromkeys(keys)) if i is not None]
        if not found:
            raise JiraError(400, ["None of the selected issues could be found or can be deleted."])
        task_id = str(uuid.uuid4())
        processed: list[int] = []
        with self._tx():
            for issue in found:
                if issue.id in self.issues:  # a sub-task of an issue deleted before it went with it
                    processed.append(issue.id)
                    self.delete_issue(issue, delete_subtasks=True)
        self.bulk_tasks[task_id] = {
            "taskId": task_id,
            "submitted": self.now(),
            "submittedBy": self.acting(),
            "processed": processed,
            "invalid": len(keys) - len(found),
            "polls": 0,
        }
        return task_id

    def bulk_task(self, task_id: str) -> dict[str, Any]:
        task = self.bulk_tasks.get(task_id)
        if task is None:
            raise JiraError(404, [f"Task with id {task_id} not found."])
        task["polls"] += 1
        # The first poll sees it under way; a bulk transition's, only if it comes before the task had time to run.
        running = task["polls"] == 1 and self.now() < task.get("runs_until", float("inf"))
        return {
            "taskId": task_id,
            "status": "RUNNING" if running else "COMPLETE",
            "progressPercent": 50 if running else 100,
            "created": jira_time(task["submitted"]),
            "started": jira_time(task["submitted"]),
            "submittedBy": self._author_of(task["submittedBy"]),
            "processedAccessibleIssues": [] if running else task["processed"],
            # Bulk transitions fail issue by issue, with Jira's reasons; a bulk delete never does here.
            "failedAccessibleIssues": {} if running else task.get("failed", {}),
            "invalidOrInaccessibleIssueCount": task["invalid"],
            "totalIssueCount": len(task["processed"]) + len(task.get("failed", {})) + task["invalid"],
        }
