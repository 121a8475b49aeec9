"""Issues: create (one or in bulk), edit, delete with what hangs off them, entity properties, transitions."""

from __future__ import annotations

from typing import Any

from . import catalog as cat
from .entities import Issue
from .errors import JiraError
from .fields import FieldRules
from .notifications import GENERIC_EVENT, ISSUE_CREATED, ISSUE_UPDATED, NO_SILENT_EDIT

BULK_CREATE_MAX = 50
_VALUE_FIELDS = ("description", "environment", "duedate", cat.STORY_POINTS, cat.ACCEPTANCE_CRITERIA, cat.SOURCE_URL)


class IssueOps(FieldRules):
    def _build_issue(self, body: Any) -> tuple[Issue | None, JiraError | None]:
        if not isinstance(body, dict):
            return None, JiraError(400, ["Can not deserialize instance of the request body."])
        fields = body.get("fields") or {}
        update = body.get("update") or {}
        out, messages, errors = self._validate(fields, update, None)
        if errors or messages:
            return None, JiraError(400, messages, errors)
        now = self.now()
        number = self._next("issue_number")
        issue = Issue(
            id=self._next("issue_id"),
            number=number,
            key=f"{self.config.project_key}-{number}",
            type_id=out["type_id"],
            status_id=cat.INITIAL_STATUS_ID,
            summary=out["summary"],
            created=now,
            updated=now,
            status_changed=now,
            labels=out.get("labels", []),
            parent_id=out.get("parent_id"),
            priority_id=out.get("priority_id", cat.DEFAULT_PRIORITY_ID),
            component_ids=out.get("component_ids", []),
            sprint_ids=out.get("sprint_ids", []),
            assignee_id=out.get("assignee_id"),
            reporter_id=out.get("reporter_id", self.me.account_id),
        )
        for fid in (*_VALUE_FIELDS, *self.custom_fields):
            if out.get(fid) is not None:
                issue.values[fid] = out[fid]
        for prop in body.get("properties") or []:
            if isinstance(prop, dict) and isinstance(prop.get("key"), str):
                issue.properties[prop["key"]] = prop.get("value")
        self._attach_issue(issue)
        self._save_issue(issue)
        self._reindex(issue)
        self.notify(ISSUE_CREATED, issue)
        return issue, None

    def create_issue(self, body: Any) -> Issue:
        with self._tx():
            issue, err = self._build_issue(body)
            if err is not None:
                raise err
            assert issue is not None
            return issue

    def create_issues(self, body: Any) -> tuple[list[Issue], list[dict]]:
        updates = body.get("issueUpdates") if isinstance(body, dict) else None
        if not isinstance(updates, list):
            raise JiraError(400, ["Can not deserialize instance of the request body: 'issueUpdates' is required."])
        if len(updates) > BULK_CREATE_MAX:
            raise JiraError(400, [f"Maximum number of issues to create is {BULK_CREATE_MAX}"])
        created: list[Issue] = []
        failed: list[dict] = []
        with self._tx():
            for n, item in enumerate(updates):
                issue, err = self._build_issue(item)
                if err is not None:
                    failed.append(
                        {
                            "elementErrors": {"errorMessages": err.messages, "errors": err.errors},
                            "failedElementNumber": n,
                            "status": err.status,
                        }
                    )
                else:
                    assert issue is not None
                    created.append(issue)
        return created, failed

    def edit_issue(self, issue: Issue, body: Any, notify_users: bool = True) -> None:
        if not isinstance(body, dict) or not ("fields" in body or "update" in body or "properties" in body):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        if not notify_users:
            self.require_project_admin(NO_SILENT_EDIT)
        out, messages, errors = self._validate(body.get("fields") or {}, body.get("update") or {}, issue)
        if errors or messages:
            raise JiraError(400, messages, errors)
        with self._tx():
            self._apply(issue, out)
            for prop in body.get("properties") or []:
                if isinstance(prop, dict) and isinstance(prop.get("key"), str):
                    issue.properties[prop["key"]] = prop.get("value")
            self._save_issue(issue)
            self.record_change(issue, [{"field": f, "fieldtype": "jira"} for f in sorted(out)])
            self.notify(ISSUE_UPDATED, issue, notify_users)

    def _apply(self, issue: Issue, out: dict[str, Any]) -> None:
        self._detach_issue(issue)
        for attr in (
            "type_id",
            "summary",
            "labels",
            "parent_id",
            "priority_id",
            "component_ids",
            "sprint_ids",
            "assignee_id",
            "reporter_id",
        ):
            if attr in out:
                setattr(issue, attr, out[attr])
        for fid in (*_VALUE_FIELDS, *self.custom_fields):
            if fid in out:
                if out[fid] is None:
                    issue.values.pop(fid, None)
                else:
                    issue.values[fid] = out[fid]
        issue.updated = self.now()
        self._attach_issue(issue)
        self._reindex(issue)

    def delete_issue(self, issue: Issue, delete_subtasks: bool) -> None:
        kids = sorted(self.children.get(issue.id, ()))
        subtasks = [k for k in kids if cat.ISSUE_TYPES_BY_ID[self.issues[k].type_id].subtask]
        if subtasks and not delete_subtasks:
            raise JiraError(400, [f"The issue '{issue.key}' has subtasks. Set deleteSubtasks=true to delete it."])
        with self._tx():
            for k in subtasks:
                self._delete_one(self.issues[k])
            for k in kids:
                child = self.issues.get(k)
                if child is not None:  # children of an epic survive without a parent
                    self._apply(child, {"parent_id": None})
                    self._save_issue(child)
            self._delete_one(issue)

    def _delete_one(self, issue: Issue) -> None:
        self._detach_issue(issue)
        self.changelogs.pop(issue.id, None)
        self.children.pop(issue.id, None)
        self.index.pop(issue.id, None)
        self.pending_index.pop(issue.id, None)
        self.store.delete("issue", issue.id)
        for cid in self.issue_comments.pop(issue.id, []):
            self.comments.pop(cid, None)
            self.store.delete("comment", cid)
        for wid in self.issue_worklogs.pop(issue.id, []):
            self.worklogs.pop(wid, None)
            self.store.delete("worklog", wid)
        for aid in self.issue_attachments.pop(issue.id, []):
            self.attachments.pop(aid, None)
            self.store.delete("attachment", aid)
            (self.attachment_dir / str(aid)).unlink(missing_ok=True)
        for rid in self.issue_remote_links.pop(issue.id, []):
            self.remote_links.pop(rid, None)
            self.store.delete("remotelink", rid)
        for lid in self.issue_links.pop(issue.id, []):
            link = self.links.pop(lid, None)
            if link is None:
                continue
            other = link.outward_id if link.inward_id == issue.id else link.inward_id
            if other in self.issue_links:
                self.issue_links[other] = [x for x in self.issue_links[other] if x != lid]
            self.store.delete("link", lid)

    def set_property(self, issue: Issue, key: str, value: Any) -> bool:
        if len(key) > 255:
            raise JiraError(400, ["The property key cannot be longer than 255 characters."])
        created = key not in issue.properties
        with self._tx():
            issue.properties[key] = value
            self._save_issue(issue)
        return created

    def delete_property(self, issue: Issue, key: str) -> None:
        if key not in issue.properties:
            raise JiraError(404, [f"The property with key '{key}' does not exist."])
        with self._tx():
            del issue.properties[key]
            self._save_issue(issue)

    # --- workflow --------------------------------------------------------------------------------

    def available_transitions(self, issue: Issue) -> list[cat.Transition]:
        return [t for t in cat.workflow_for(issue.type_id) if issue.status_id in t.sources]

    def transition(self, issue: Issue, body: Any, notify_users: bool = True) -> None:
        tr = body.get("transition") if isinstance(body, dict) else None
        tid = str(tr.get("id")) if isinstance(tr, dict) and tr.get("id") is not None else None
        if tid is None:
            raise JiraError(400, ["Missing 'transition' identifier"])
        chosen = next((t for t in self.available_transitions(issue) if t.id == tid), None)
        if chosen is None:
            raise JiraError(400, [f"Transition id '{tid}' is not valid for this issue."])
        fields = body.get("fields") or {}
        update = body.get("update") or {}
        out: dict[str, Any] = {}
        if fields or update:
            out, messages, errors = self._validate(fields, update, issue)
            if errors or messages:
                raise JiraError(400, messages, errors)
        with self._tx():
            before = issue.status_id
            issue.status_id = chosen.to
            issue.status_changed = self.now()
            self._apply(issue, out)
            self._save_issue(issue)
            status = {"field": "status", "fieldtype": "jira", "from": str(before), "to": str(chosen.to)}
            self.record_change(issue, [status, *({"field": f, "fieldtype": "jira"} for f in sorted(out))])
            self.notify(GENERIC_EVENT, issue, notify_users)
