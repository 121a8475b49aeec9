"""The issue changelog: who changed which field of an issue, when, as Jira records it.

Every edit, transition, link removal and attachment removal is recorded with its author: the site's own
account, or the account a test acts as (`acting`, the sandbox's stand-in for a second user). Kept in memory
only: a sandbox restarted from its state folder starts with empty changelogs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import catalog as cat
from .adf import plain_text
from .entities import Issue
from .store import JiraStore

# Field id → its name in a changelog entry, as Jira Cloud writes them.
TRACKED = {
    "summary": "summary",
    "description": "description",
    "status": "status",
    "issuetype": "issuetype",
    "priority": "priority",
    "assignee": "assignee",
    "reporter": "reporter",
    "labels": "labels",
    "components": "Component",
    "parent": "IssueParentAssociation",
    "customfield_10020": "Sprint",
}


class ChangelogOps(JiraStore):
    @contextmanager
    def acting(self, account_id: str) -> Iterator[None]:
        """Writes inside the block are recorded as `account_id`'s (state operations are synchronous)."""
        self._actor = account_id
        try:
            yield
        finally:
            self._actor = None

    @property
    def actor_id(self) -> str:
        return getattr(self, "_actor", None) or self.me.account_id

    def _changelogs(self) -> dict[int, list[dict[str, Any]]]:
        if not hasattr(self, "changelogs"):
            self.changelogs = {}
        return self.changelogs

    def changes_of(self, issue: Issue) -> list[dict[str, Any]]:
        return list(self._changelogs().get(issue.id, []))

    def snapshot(self, issue: Issue) -> dict[str, str | None]:
        """The tracked fields of `issue` as a changelog shows them (`fromString` / `toString`)."""
        parent = self.issues.get(issue.parent_id) if issue.parent_id is not None else None
        return {
            "summary": issue.summary,
            "description": plain_text(issue.values["description"]) if issue.values.get("description") else None,
            "status": cat.STATUSES_BY_ID[issue.status_id].name,
            "issuetype": cat.ISSUE_TYPES_BY_ID[issue.type_id].name,
            "priority": cat.PRIORITIES_BY_ID[issue.priority_id].name if issue.priority_id else None,
            "assignee": issue.assignee_id,
            "reporter": issue.reporter_id,
            "labels": " ".join(issue.labels) or None,
            "components": ", ".join(sorted(issue.component_ids)) or None,
            "parent": parent.key if parent is not None else None,
            "customfield_10020": ", ".join(str(s) for s in issue.sprint_ids) or None,
        }

    def record_edit(self, issue: Issue, before: dict[str, str | None]) -> None:
        after = self.snapshot(issue)
        items = [
            {"field": TRACKED[f], "fieldtype": "jira", "fieldId": f, "fromString": before[f], "toString": after[f]}
            for f in TRACKED
            if before.get(f) != after.get(f)
        ]
        self.record_change(issue.id, items)

    def record_change(self, issue_id: int, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        self._changelog_seq = getattr(self, "_changelog_seq", 10000) + 1
        entry = {"id": str(self._changelog_seq), "author_id": self.actor_id, "created": self.now(), "items": items}
        self._changelogs().setdefault(issue_id, []).append(entry)
