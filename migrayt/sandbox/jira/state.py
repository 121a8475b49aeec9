"""Everything the sandbox Jira site holds, its indexes and the rules every write must pass.

Single-threaded by design: the app's handlers are all `async def` and never await between reading
and writing state, so the event loop serialises writes. Each mutating method commits its records
to the store before returning.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import catalog as cat
from .adf import CONTENT_LIMIT, adf_validator, stored_length
from .config import JiraSandboxConfig, JiraUserSeed
from .errors import JiraError, not_found_issue
from .jql import IssueView, JqlError, compile_where, narrowing, parse, sort_key
from .persistence import Store

BULK_CREATE_MAX = 50
SPRINT_MOVE_MAX = 50
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
UNSUPPORTED_CONTENT = (
    "We can't create this issue for you right now, it could be due to unsupported content you've entered "
    "into one or more of the issue fields. If this situation persists, contact your administrator as they'll "
    "be able to access more specific information in the log file."
)
TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- entities ----------------------------------------------------------------------------------


@dataclass
class User:
    account_id: str
    display_name: str
    email: str | None
    email_visible: bool = True
    active: bool = True


@dataclass
class Issue:
    id: int
    number: int
    key: str
    type_id: str
    status_id: str
    summary: str
    created: float
    updated: float
    labels: list[str] = field(default_factory=list)
    parent_id: int | None = None
    priority_id: str | None = None
    component_ids: list[str] = field(default_factory=list)
    sprint_ids: list[int] = field(default_factory=list)
    assignee_id: str | None = None
    reporter_id: str | None = None
    # description, environment, duedate and the other custom fields, as stored values
    values: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    status_changed: float = 0.0

    def record(self) -> dict:
        return asdict(self)


@dataclass
class Comment:
    id: int
    issue_id: int
    author_id: str
    body: dict
    created: float
    updated: float
    visibility: dict | None = None
    # Comment.properties (EntityProperty list): kept as given at create, served with expand=properties.
    properties: list[dict] = field(default_factory=list)


@dataclass
class Worklog:
    id: int
    issue_id: int
    author_id: str
    time_spent_seconds: int
    started: str
    created: float
    comment: dict | None = None


@dataclass
class Attachment:
    id: int
    issue_id: int
    filename: str
    size: int
    sha256: str
    mime_type: str
    author_id: str
    created: float


@dataclass
class Link:
    id: int
    type_id: str
    inward_id: int
    outward_id: int


@dataclass
class RemoteLink:
    id: int
    issue_id: int
    global_id: str | None
    object: dict
    application: dict | None = None
    relationship: str | None = None


@dataclass
class Component:
    id: str
    name: str
    description: str | None = None
    lead_account_id: str | None = None
    assignee_type: str = "PROJECT_DEFAULT"


@dataclass
class Sprint:
    id: int
    name: str
    board_id: int
    state: str = "future"
    goal: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    created: float = 0.0


_KINDS = {
    "issue": Issue,
    "comment": Comment,
    "worklog": Worklog,
    "attachment": Attachment,
    "link": Link,
    "remotelink": RemoteLink,
    "component": Component,
    "sprint": Sprint,
}


def _ref(value: Any) -> tuple[str | None, str | None]:
    """(id, name-or-key) out of `{"id": ..}`, `{"key": ..}`, `{"name": ..}` or a bare string."""
    if isinstance(value, dict):
        ident = value.get("id")
        other = value.get("key", value.get("name", value.get("value")))
        return (str(ident) if ident is not None else None, str(other) if other is not None else None)
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return (str(value), str(value))
    return (None, None)


class JiraState:
    def __init__(self, config: JiraSandboxConfig, clock: Any = time.time) -> None:
        self.config = config
        self.clock = clock
        self.project_id = "10000"
        self.board_id = 1
        self.board_name = f"{config.project_key} board"
        me_id = "712020:" + str(uuid.uuid5(uuid.NAMESPACE_DNS, f"sandbox-jira/{config.email}"))
        self.me = User(me_id, "Migration Bot", config.email, True, True)
        self._tmp: tempfile.TemporaryDirectory | None = None
        if config.state_dir is not None:
            self.attachment_dir = Path(config.state_dir) / "jira-attachments"
            self.store = Store(Path(config.state_dir) / "jira.sqlite3")
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="sandbox-jira-")
            self.attachment_dir = Path(self._tmp.name)
            self.store = Store(None)
        self.attachment_dir.mkdir(parents=True, exist_ok=True)
        self._seed_users(config.users)
        self._empty()
        self._load()

    # --- lifecycle ------------------------------------------------------------------------------

    def _seed_users(self, seeds: list[JiraUserSeed]) -> None:
        self.users: dict[str, User] = {self.me.account_id: self.me}
        for s in seeds:
            self.users[s.account_id] = User(s.account_id, s.display_name, s.email, s.email_visible, s.active)

    def _empty(self) -> None:
        self.issues: dict[int, Issue] = {}
        self.by_key: dict[str, int] = {}
        self.label_index: dict[str, set[int]] = {}
        self.children: dict[int, set[int]] = {}
        self.comments: dict[int, Comment] = {}
        self.issue_comments: dict[int, list[int]] = {}
        self.worklogs: dict[int, Worklog] = {}
        self.issue_worklogs: dict[int, list[int]] = {}
        self.attachments: dict[int, Attachment] = {}
        self.issue_attachments: dict[int, list[int]] = {}
        self.links: dict[int, Link] = {}
        self.issue_links: dict[int, list[int]] = {}
        self.remote_links: dict[int, RemoteLink] = {}
        self.issue_remote_links: dict[int, list[int]] = {}
        self.components: dict[str, Component] = {}
        self.sprints: dict[int, Sprint] = {}
        self.counters: dict[str, int] = {
            "issue_number": 0,
            "issue_id": 10000,
            "comment": 10000,
            "worklog": 10000,
            "attachment": 10000,
            "link": 10000,
            "remotelink": 10000,
            "component": 10000,
            "sprint": 0,
        }
        # search index: what JQL sees, and writes not yet visible to it
        self.index: dict[int, IssueView] = {}
        self.pending_index: OrderedDict[int, tuple[float, IssueView | None]] = OrderedDict()

    def _load(self) -> None:
        if not self.store.durable:
            return
        for rec in self.store.load("meta"):
            self.counters.update(rec)
        loaded: dict[str, list] = {k: [cls(**r) for r in self.store.load(k)] for k, cls in _KINDS.items()}
        for issue in sorted(loaded["issue"], key=lambda i: i.id):
            self._attach_issue(issue)
            self.index[issue.id] = self._view(issue)
        for c in sorted(loaded["comment"], key=lambda c: c.id):
            self.comments[c.id] = c
            self.issue_comments.setdefault(c.issue_id, []).append(c.id)
        for w in sorted(loaded["worklog"], key=lambda w: w.id):
            self.worklogs[w.id] = w
            self.issue_worklogs.setdefault(w.issue_id, []).append(w.id)
        for a in sorted(loaded["attachment"], key=lambda a: a.id):
            self.attachments[a.id] = a
            self.issue_attachments.setdefault(a.issue_id, []).append(a.id)
        for link in sorted(loaded["link"], key=lambda x: x.id):
            self._attach_link(link)
        for r in sorted(loaded["remotelink"], key=lambda x: x.id):
            self.remote_links[r.id] = r
            self.issue_remote_links.setdefault(r.issue_id, []).append(r.id)
        for comp in loaded["component"]:
            self.components[comp.id] = comp
        for sp in loaded["sprint"]:
            self.sprints[sp.id] = sp

    def reset(self) -> None:
        self.store.clear()
        shutil.rmtree(self.attachment_dir, ignore_errors=True)
        self.attachment_dir.mkdir(parents=True, exist_ok=True)
        self._empty()

    def close(self) -> None:
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @contextmanager
    def _tx(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.store.rollback()
            raise
        self.store.put("meta", "counters", self.counters)
        self.store.commit()

    def _next(self, counter: str) -> int:
        self.counters[counter] += 1
        return self.counters[counter]

    def now(self) -> float:
        return self.clock()

    # --- lookups ----------------------------------------------------------------------------------

    def issue(self, id_or_key: str) -> Issue:
        ref = str(id_or_key)
        iid = self.by_key.get(ref.upper()) if not ref.isdigit() else int(ref)
        issue = self.issues.get(iid) if iid is not None else None
        if issue is None:
            raise not_found_issue()
        return issue

    def find_issue(self, ident: str | None, key: str | None) -> Issue | None:
        if ident is not None and ident.isdigit() and int(ident) in self.issues:
            return self.issues[int(ident)]
        for candidate in (key, ident):
            if candidate is not None and candidate.upper() in self.by_key:
                return self.issues[self.by_key[candidate.upper()]]
        return None

    def user(self, account_id: str) -> User | None:
        return self.users.get(account_id)

    # --- indexes --------------------------------------------------------------------------------

    def _attach_issue(self, issue: Issue) -> None:
        self.issues[issue.id] = issue
        self.by_key[issue.key] = issue.id
        for label in issue.labels:
            self.label_index.setdefault(label, set()).add(issue.id)
        if issue.parent_id is not None:
            self.children.setdefault(issue.parent_id, set()).add(issue.id)

    def _detach_issue(self, issue: Issue) -> None:
        self.issues.pop(issue.id, None)
        self.by_key.pop(issue.key, None)
        for label in issue.labels:
            ids = self.label_index.get(label)
            if ids is not None:
                ids.discard(issue.id)
                if not ids:
                    del self.label_index[label]
        if issue.parent_id is not None:
            self.children.get(issue.parent_id, set()).discard(issue.id)

    def _attach_link(self, link: Link) -> None:
        self.links[link.id] = link
        self.issue_links.setdefault(link.inward_id, []).append(link.id)
        if link.outward_id != link.inward_id:
            self.issue_links.setdefault(link.outward_id, []).append(link.id)

    def _view(self, issue: Issue) -> IssueView:
        return IssueView(
            id=issue.id,
            key=issue.key,
            number=issue.number,
            project_key=self.config.project_key,
            labels=frozenset(issue.labels),
            type_id=issue.type_id,
            status_id=issue.status_id,
            parent_id=issue.parent_id,
            sprint_ids=frozenset(issue.sprint_ids),
            component_ids=frozenset(issue.component_ids),
            summary=issue.summary,
            created=issue.created,
            updated=issue.updated,
        )

    def _reindex(self, issue: Issue) -> None:
        """Queue the issue's new searchable state; JQL sees it once the index lag has passed."""
        self.pending_index.pop(issue.id, None)
        self.pending_index[issue.id] = (self.now(), self._view(issue))

    def _save_issue(self, issue: Issue) -> None:
        self.store.put("issue", issue.id, issue.record())

    # --- field validation ----------------------------------------------------------------------

    def _check_rich_text(self, fid: str, value: Any, errors: dict[str, str], messages: list[str]) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            errors[fid] = NOT_ADF
            return
        if adf_validator().first_error(value) is not None:
            errors[fid] = "INVALID_INPUT"
            if UNSUPPORTED_CONTENT not in messages:
                messages.append(UNSUPPORTED_CONTENT)
            return
        if stored_length(value) > CONTENT_LIMIT:
            errors[fid] = TOO_LONG
            if "CONTENT_LIMIT_EXCEEDED" not in messages:
                messages.append("CONTENT_LIMIT_EXCEEDED")

    def _user_ref(self, fid: str, value: Any, errors: dict[str, str]) -> str | None:
        if value is None:
            return None
        account = value.get("accountId", value.get("id")) if isinstance(value, dict) else None
        if not isinstance(account, str) or account not in self.users:
            errors[fid] = f"Specify a valid value for {fid}" if account is None else f"User '{account}' does not exist."
            return None
        return account

    def _validate(
        self,
        fields: dict[str, Any],
        update: dict[str, Any],
        existing: Issue | None,
    ) -> tuple[dict[str, Any], list[str], dict[str, str]]:
        """Check create/edit input; returns the normalised changes and Jira's errors."""
        errors: dict[str, str] = {}
        messages: list[str] = []
        out: dict[str, Any] = {}
        if not isinstance(fields, dict) or not isinstance(update, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        both = set(fields) & set(update)
        for fid in sorted(both):
            errors[fid] = f"Field '{fid}' cannot be set in both 'fields' and 'update'."

        # `update` operations turn into plain values against the issue's current value
        merged: dict[str, Any] = dict(fields)
        for fid, ops in update.items():
            if fid in both:
                continue
            if fid not in cat.SETTABLE_FIELDS or fid in ("project", "issuetype"):
                errors[fid] = f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."
                continue
            if not isinstance(ops, list):
                errors[fid] = f"Field '{fid}': update operations must be a list."
                continue
            current: list[Any] = []
            if fid == "labels" and existing is not None:
                current = list(existing.labels)
            elif fid == "components" and existing is not None:
                current = [{"id": c} for c in existing.component_ids]
            value: Any = current
            for op in ops:
                if not isinstance(op, dict) or len(op) != 1:
                    errors[fid] = f"Field '{fid}': each operation must have exactly one of set, add, remove."
                    break
                ((verb, arg),) = op.items()
                if verb == "set":
                    value = arg
                elif verb in ("add", "remove") and fid in ("labels", "components"):
                    items = value if isinstance(value, list) else []
                    if verb == "add":
                        value = items + [arg]
                    else:
                        gone = _ref(arg)
                        value = [x for x in items if _ref(x) != gone and x != arg and _ref(x)[0] != gone[0]]
                else:
                    errors[fid] = f"Field '{fid}' does not support operation '{verb}'."
                    break
            merged[fid] = value

        type_id = existing.type_id if existing is not None else None
        for fid, value in merged.items():
            if fid in errors:
                continue
            if fid not in cat.SETTABLE_FIELDS:
                errors[fid] = f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."
                continue
            if fid == "project":
                ident, key = _ref(value)
                if ident != self.project_id and (key or "").upper() != self.config.project_key:
                    errors["project"] = "Specify a valid project ID or key"
            elif fid == "issuetype":
                ident, name = _ref(value)
                it = cat.ISSUE_TYPES_BY_ID.get(ident or "") or cat.ISSUE_TYPES_BY_NAME.get((name or "").lower())
                if it is None:
                    errors["issuetype"] = "The issue type selected is invalid."
                elif existing is not None and it.id != existing.type_id:
                    if cat.ISSUE_TYPES_BY_ID[existing.type_id].hierarchy_level != it.hierarchy_level:
                        errors["issuetype"] = "The issue type selected is invalid."
                    else:
                        out["type_id"] = type_id = it.id
                else:
                    out["type_id"] = type_id = it.id

        if existing is None and type_id is None and "issuetype" not in errors:
            errors["issuetype"] = "Specify an issue type"
        screen = set(cat.create_fields(type_id)) if type_id else cat.SETTABLE_FIELDS

        for fid, value in merged.items():
            if fid in errors or fid in ("project", "issuetype"):
                continue
            if fid not in screen:
                errors[fid] = f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."
            elif fid == "summary":
                if not isinstance(value, str) or not value.strip():
                    errors["summary"] = "You must specify a summary of the issue."
                elif len(value) > 255:
                    errors["summary"] = "Summary must be less than 255 characters."
                elif "\n" in value or "\r" in value:
                    errors["summary"] = "The summary is invalid because it contains newline characters."
                else:
                    out["summary"] = value
            elif fid in cat.RICH_TEXT_FIELDS:
                self._check_rich_text(fid, value, errors, messages)
                out[fid] = value
            elif fid == "priority":
                if value is None:
                    out["priority_id"] = None
                    continue
                ident, name = _ref(value)
                pr = cat.PRIORITIES_BY_ID.get(ident or "") or cat.PRIORITIES_BY_NAME.get((name or "").lower())
                if pr is None:
                    errors["priority"] = "The priority selected is invalid."
                else:
                    out["priority_id"] = pr.id
            elif fid == "labels":
                labels = [] if value is None else value
                if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                    errors["labels"] = "Field 'labels' requires a list of strings."
                    continue
                bad = next((x for x in labels if not x or any(c.isspace() for c in x)), None)
                if bad is not None:
                    errors["labels"] = f"The label '{bad}' contains spaces which is invalid."
                elif any(len(x) > 255 for x in labels):
                    errors["labels"] = "The label exceeds the maximum length of 255 characters."
                else:
                    out["labels"] = list(dict.fromkeys(labels))
            elif fid == "components":
                comps = [] if value is None else value
                if not isinstance(comps, list):
                    errors["components"] = "Field 'components' requires a list."
                    continue
                ids: list[str] = []
                for c in comps:
                    ident, name = _ref(c)
                    found = self.components.get(ident or "")
                    if found is None and name is not None:
                        found = next((x for x in self.components.values() if x.name == name), None)
                    if found is None:
                        what = f"id '{ident}'" if ident is not None else f"name '{name}'"
                        errors["components"] = f"Component with {what} does not exist."
                        break
                    ids.append(found.id)
                else:
                    out["component_ids"] = list(dict.fromkeys(ids))
            elif fid == "parent":
                if value is None:
                    out["parent_id"] = None
                    continue
                ident, key = _ref(value)
                parent = self.find_issue(ident, key)
                if parent is None:
                    errors["parent"] = "Could not find issue by id or key."
                else:
                    out["parent_id"] = parent.id
            elif fid in ("assignee", "reporter"):
                out[f"{fid}_id"] = self._user_ref(fid, value, errors)
            elif fid == "duedate":
                if value is not None and (not isinstance(value, str) or not _DATE.match(value)):
                    errors["duedate"] = f"Error parsing date string: {value}"
                else:
                    out["duedate"] = value
            elif fid == cat.STORY_POINTS:
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    errors[fid] = "Operation value must be a number"
                else:
                    out[fid] = value
            elif fid == cat.SPRINT:
                raw = [] if value is None else (value if isinstance(value, list) else [value])
                sprint_ids: list[int] = []
                for s in raw:
                    sid = s.get("id") if isinstance(s, dict) else s
                    if isinstance(sid, bool) or not isinstance(sid, int):
                        errors[fid] = "Number value expected as the Sprint id."
                        break
                    if sid not in self.sprints:
                        errors[fid] = f"Sprint with id {sid} does not exist."
                        break
                    sprint_ids.append(sid)
                else:
                    out["sprint_ids"] = sprint_ids
            elif fid == cat.SOURCE_URL:
                if value is not None and not isinstance(value, str):
                    errors[fid] = "Operation value must be a string"
                elif value is not None and len(value) > 255:
                    errors[fid] = "The entered text is too long. It exceeds the allowed limit of 255 characters."
                else:
                    out[fid] = value

        # required fields and the hierarchy rules need the final issue type and parent
        if type_id is not None and "issuetype" not in errors:
            it = cat.ISSUE_TYPES_BY_ID[type_id]
            if existing is None:
                for fid in sorted(cat.required_fields(type_id)):
                    if fid in errors:
                        continue
                    if merged.get(fid) in (None, "", []):
                        errors[fid] = {
                            "summary": "You must specify a summary of the issue.",
                            "project": "Specify a valid project ID or key",
                            "priority": "Priority is required.",
                            "parent": "Parent is required for sub-task issue types.",
                        }.get(fid, f"{cat.FIELDS_BY_ID[fid].name} is required.")
            parent_id = out.get("parent_id", existing.parent_id if existing is not None else None)
            if "parent" not in errors and (parent_id is not None or "parent_id" in out):
                if it.subtask and parent_id is None:
                    errors["parent"] = "Parent is required for sub-task issue types."
                elif parent_id is not None:
                    parent = self.issues[parent_id]
                    level = cat.ISSUE_TYPES_BY_ID[parent.type_id].hierarchy_level
                    if existing is not None and parent_id == existing.id:
                        errors["parent"] = "An issue cannot be its own parent."
                    elif level != it.hierarchy_level + 1:
                        errors["parent"] = "Given parent issue does not belong to appropriate hierarchy."
        return out, messages, errors

    # --- issues -----------------------------------------------------------------------------------

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
        for fid in ("description", "environment", "duedate", cat.STORY_POINTS, cat.ACCEPTANCE_CRITERIA, cat.SOURCE_URL):
            if out.get(fid) is not None:
                issue.values[fid] = out[fid]
        for prop in body.get("properties") or []:
            if isinstance(prop, dict) and isinstance(prop.get("key"), str):
                issue.properties[prop["key"]] = prop.get("value")
        self._attach_issue(issue)
        self._save_issue(issue)
        self._reindex(issue)
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

    def edit_issue(self, issue: Issue, body: Any) -> None:
        if not isinstance(body, dict) or not ("fields" in body or "update" in body or "properties" in body):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        out, messages, errors = self._validate(body.get("fields") or {}, body.get("update") or {}, issue)
        if errors or messages:
            raise JiraError(400, messages, errors)
        with self._tx():
            self._apply(issue, out)
            for prop in body.get("properties") or []:
                if isinstance(prop, dict) and isinstance(prop.get("key"), str):
                    issue.properties[prop["key"]] = prop.get("value")
            self._save_issue(issue)

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
        for fid in ("description", "environment", "duedate", cat.STORY_POINTS, cat.ACCEPTANCE_CRITERIA, cat.SOURCE_URL):
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

    def transition(self, issue: Issue, body: Any) -> None:
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
            issue.status_id = chosen.to
            issue.status_changed = self.now()
            self._apply(issue, out)
            self._save_issue(issue)

    # --- search ---------------------------------------------------------------------------------

    def _catch_up_index(self, lag: float) -> None:
        cutoff = self.now() - lag
        while self.pending_index:
            iid, (written, view) = next(iter(self.pending_index.items()))
            if written > cutoff:
                break
            del self.pending_index[iid]
            if view is None:
                self.index.pop(iid, None)
            else:
                self.index[iid] = view

    def project_ref(self, value: str) -> str:
        if value.upper() == self.config.project_key or value == self.project_id:
            return self.config.project_key
        raise JqlError(f"The value '{value}' does not exist for the field 'project'.")

    def issue_id_ref(self, value: str, fld: str) -> int | None:
        if value.isdigit():
            return int(value)
        iid = self.by_key.get(value.upper())
        if iid is None:
            if (
                re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*-\d+", value)
                and value.split("-")[0].upper() == self.config.project_key
            ):
                raise JqlError(f"An issue with key '{value}' does not exist for field '{fld}'.")
            raise JqlError(f"The issue key '{value}' for field '{fld}' is invalid.")
        return iid

    def issue_type_ref(self, value: str) -> str:
        it = cat.ISSUE_TYPES_BY_ID.get(value) or cat.ISSUE_TYPES_BY_NAME.get(value.lower())
        if it is None:
            raise JqlError(f"The value '{value}' does not exist for the field 'issuetype'.")
        return it.id

    def status_ref(self, value: str) -> str:
        st = cat.STATUSES_BY_ID.get(value) or cat.STATUSES_BY_NAME.get(value.lower())
        if st is None:
            raise JqlError(f"The value '{value}' does not exist for the field 'status'.")
        return st.id

    def component_ref(self, value: str) -> str:
        if value in self.components:
            return value
        found = next((c for c in self.components.values() if c.name.lower() == value.lower()), None)
        if found is None:
            raise JqlError(f"The value '{value}' does not exist for the field 'component'.")
        return found.id

    def search(self, jql: str, lag: float) -> list[int]:
        """Ids of matching issues as the (lagging) search index sees them, in result order."""
        query = parse(jql)
        if query.where is None:
            raise JqlError("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")

        class _R:
            project = self.project_ref
            issue_id = self.issue_id_ref
            issue_type = self.issue_type_ref
            status = self.status_ref
            component = self.component_ref

        pred = compile_where(query.where, _R)
        self._catch_up_index(lag)
        narrow = narrowing(query.where)
        if narrow is None:
            candidates: Any = self.index.keys()
        else:
            sets: list[set[int]] = []
            for fld, values in narrow:
                ids: set[int] = set()
                for v in values:
                    if fld == "labels":
                        ids |= self.label_index.get(v, set())
                    elif fld == "key":
                        iid = self.issue_id_ref(v, "key")
                        if iid is not None:
                            ids.add(iid)
                    else:
                        iid = self.issue_id_ref(v, "parent")
                        if iid is not None:
                            ids |= self.children.get(iid, set())
                sets.append(ids)
            candidates = set.intersection(*sets)
            # writes still pending in the index may carry values the live indexes no longer have
            candidates |= set(self.pending_index)
        views = [v for v in (self.index.get(i) for i in candidates) if v is not None and pred(v)]
        views.sort(key=sort_key(query.order_by))
        return [v.id for v in views if v.id in self.issues]

    # --- links ----------------------------------------------------------------------------------

    def link_type(self, ref: Any) -> cat.LinkType:
        ident, name = _ref(ref)
        found = cat.LINK_TYPES_BY_ID.get(ident or "") or cat.LINK_TYPES_BY_NAME.get((name or "").lower())
        if found is None:
            raise JiraError(404, [f"No issue link type with name '{name or ident}' found."])
        return found

    def create_link(self, body: Any) -> None:
        if not isinstance(body, dict) or not all(k in body for k in ("type", "inwardIssue", "outwardIssue")):
            raise JiraError(400, ["Issue link type, inward issue and outward issue are required."])
        lt = self.link_type(body["type"])
        inward = self.find_issue(*_ref(body["inwardIssue"]))
        outward = self.find_issue(*_ref(body["outwardIssue"]))
        if inward is None or outward is None:
            raise JiraError(404, ["Issue does not exist or you do not have permission to see it."])
        comment = body.get("comment")
        if comment is not None:
            self._check_comment_body(comment.get("body") if isinstance(comment, dict) else None)
        with self._tx():
            exists = any(
                self.links[lid].type_id == lt.id
                and self.links[lid].inward_id == inward.id
                and self.links[lid].outward_id == outward.id
                for lid in self.issue_links.get(inward.id, ())
            )
            if not exists:  # Jira answers 201 to a duplicate link request without adding a second link
                link = Link(self._next("link"), lt.id, inward.id, outward.id)
                self._attach_link(link)
                self.store.put("link", link.id, asdict(link))
            if isinstance(comment, dict):
                self._add_comment(outward, comment)

    def delete_link(self, link_id: int) -> None:
        link = self.links.get(link_id)
        if link is None:
            raise JiraError(404, ["No issue link with id '%s' exists." % link_id])
        with self._tx():
            del self.links[link_id]
            for iid in (link.inward_id, link.outward_id):
                if iid in self.issue_links:
                    self.issue_links[iid] = [x for x in self.issue_links[iid] if x != link_id]
            self.store.delete("link", link_id)

    def upsert_remote_link(self, issue: Issue, body: Any) -> tuple[RemoteLink, bool]:
        if not isinstance(body, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        obj = body.get("object")
        errors: dict[str, str] = {}
        if not isinstance(obj, dict):
            errors["object"] = "'object' is required."
        else:
            if not obj.get("title"):
                errors["title"] = "'title' is required."
            if not obj.get("url"):
                errors["url"] = "'url' is required."
        if errors:
            raise JiraError(400, [], errors)
        gid = body.get("globalId")
        existing = None
        if gid:
            existing = next(
                (
                    self.remote_links[r]
                    for r in self.issue_remote_links.get(issue.id, ())
                    if self.remote_links[r].global_id == gid
                ),
                None,
            )
        with self._tx():
            if existing is not None:
                # fields missing from an update are cleared, as the API documents
                existing.object = obj
                existing.application = body.get("application")
                existing.relationship = body.get("relationship")
                link, created = existing, False
            else:
                link = RemoteLink(
                    self._next("remotelink"), issue.id, gid, obj, body.get("application"), body.get("relationship")
                )
                self.remote_links[link.id] = link
                self.issue_remote_links.setdefault(issue.id, []).append(link.id)
                created = True
            self.store.put("remotelink", link.id, asdict(link))
        return link, created

    # --- comments and worklogs -------------------------------------------------------------------

    def _check_comment_body(self, body: Any, fid: str = "comment") -> None:
        if body is None or body == "":
            raise JiraError(400, [], {fid: "Comment body can not be empty!"})
        errors: dict[str, str] = {}
        messages: list[str] = []
        self._check_rich_text(fid, body, errors, messages)
        if errors:
            raise JiraError(400, messages, errors)

    def _add_comment(self, issue: Issue, body: dict) -> Comment:
        now = self.now()
        props = [
            {"key": p["key"], "value": p.get("value")}
            for p in body.get("properties") or []
            if isinstance(p, dict) and isinstance(p.get("key"), str)
        ]
        c = Comment(
            self._next("comment"), issue.id, self.me.account_id, body["body"], now, now, body.get("visibility"), props
        )
        self.comments[c.id] = c
        self.issue_comments.setdefault(issue.id, []).append(c.id)
        self.store.put("comment", c.id, asdict(c))
        return c

    def add_comment(self, issue: Issue, body: Any) -> Comment:
        if not isinstance(body, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        self._check_comment_body(body.get("body"))
        if len(self.issue_comments.get(issue.id, ())) >= self.config.max_comments_per_issue:
            raise JiraError(
                413, [f"The issue has reached the limit of {self.config.max_comments_per_issue} comments per issue."]
            )
        with self._tx():
            return self._add_comment(issue, body)

    def add_worklog(self, issue: Issue, body: Any) -> Worklog:
        if not isinstance(body, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        seconds = body.get("timeSpentSeconds")
        if seconds is None and isinstance(body.get("timeSpent"), str):
            seconds = _duration_seconds(body["timeSpent"])
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
            raise JiraError(400, [], {"timeLogged": "You must indicate the time spent working."})
        started = body.get("started")
        if started is None:
            started = jira_time(self.now())
        elif not isinstance(started, str) or not _parse_jira_time(started):
            raise JiraError(
                400,
                [],
                {"started": "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."},
            )
        comment = body.get("comment")
        if comment is not None:
            self._check_comment_body(comment)
        if len(self.issue_worklogs.get(issue.id, ())) >= self.config.max_worklogs_per_issue:
            raise JiraError(
                413, [f"The issue has reached the limit of {self.config.max_worklogs_per_issue} worklogs per issue."]
            )
        with self._tx():
            w = Worklog(self._next("worklog"), issue.id, self.me.account_id, seconds, started, self.now(), comment)
            self.worklogs[w.id] = w
            self.issue_worklogs.setdefault(issue.id, []).append(w.id)
            self.store.put("worklog", w.id, asdict(w))
            return w

    # --- attachments ---------------------------------------------------------------------------

    def attachment_slots(self, issue: Issue) -> int:
        return self.config.max_attachments_per_issue - len(self.issue_attachments.get(issue.id, ()))

    def new_attachment_path(self) -> Path:
        return self.attachment_dir / f"upload-{uuid.uuid4().hex}.part"

    def add_attachment(self, issue: Issue, filename: str, mime: str, part: Path, size: int, sha256: str) -> Attachment:
        with self._tx():
            a = Attachment(
                self._next("attachment"), issue.id, filename, size, sha256, mime, self.me.account_id, self.now()
            )
            part.replace(self.attachment_dir / str(a.id))
            self.attachments[a.id] = a
            self.issue_attachments.setdefault(issue.id, []).append(a.id)
            self.store.put("attachment", a.id, asdict(a))
            return a

    def attachment_path(self, att: Attachment) -> Path:
        return self.attachment_dir / str(att.id)

    # --- components, boards, sprints -----------------------------------------------------------

    def create_component(self, body: Any) -> Component:
        if not isinstance(body, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        errors: dict[str, str] = {}
        name = body.get("name")
        project = body.get("project", body.get("projectId"))
        if not isinstance(name, str) or not name.strip():
            errors["name"] = "The component name must not be empty."
        elif len(name) > 255:
            errors["name"] = "The component name must not exceed 255 characters."
        elif any(c.name.lower() == name.lower() for c in self.components.values()):
            errors["name"] = f"A component with the name {name} already exists in this project."
        if project is None:
            errors["project"] = "The project must be specified."
        elif str(project).upper() != self.config.project_key and str(project) != self.project_id:
            raise JiraError(404, [f"No project could be found with key '{project}'."])
        lead = body.get("leadAccountId")
        if lead is not None and lead not in self.users:
            errors["leadAccountId"] = "The user does not exist."
        assignee_type = body.get("assigneeType", "PROJECT_DEFAULT")
        if assignee_type not in ("PROJECT_DEFAULT", "COMPONENT_LEAD", "PROJECT_LEAD", "UNASSIGNED"):
            errors["assigneeType"] = "The assignee type is invalid."
        if errors:
            raise JiraError(400, [], errors)
        with self._tx():
            comp = Component(str(self._next("component")), name, body.get("description"), lead, assignee_type)
            self.components[comp.id] = comp
            self.store.put("component", comp.id, asdict(comp))
            return comp

    def create_sprint(self, body: Any) -> Sprint:
        if not isinstance(body, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        errors: dict[str, str] = {}
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            errors["name"] = "Sprint name is required."
        elif len(name) > 255:
            errors["name"] = "Sprint name must be less than 255 characters."
        board = body.get("originBoardId")
        if board != self.board_id:
            errors["originBoardId"] = f"Board with id '{board}' does not exist."
        for k in ("startDate", "endDate"):
            if body.get(k) is not None and not (isinstance(body[k], str) and _parse_jira_time(body[k])):
                errors[k] = f"'{k}' is not a valid date."
        if errors:
            raise JiraError(400, [], errors)
        with self._tx():
            sp = Sprint(
                self._next("sprint"),
                name,
                self.board_id,
                "future",
                body.get("goal"),
                body.get("startDate"),
                body.get("endDate"),
                self.now(),
            )
            self.sprints[sp.id] = sp
            self.store.put("sprint", sp.id, asdict(sp))
            return sp

    def move_to_sprint(self, sprint_id: int, body: Any) -> None:
        sprint = self.sprints.get(sprint_id)
        if sprint is None:
            raise JiraError(
                404, [f"Sprint with id {sprint_id} does not exist or you do not have permission to see it."]
            )
        refs = body.get("issues") if isinstance(body, dict) else None
        if not isinstance(refs, list) or not refs:
            raise JiraError(400, ["'issues' must list at least one issue."])
        if len(refs) > SPRINT_MOVE_MAX:
            raise JiraError(400, [f"Cannot move more than {SPRINT_MOVE_MAX} issues at once."])
        if sprint.state == "closed":
            raise JiraError(400, ["Issues cannot be moved to a closed sprint."])
        issues: list[Issue] = []
        for ref in refs:
            found = self.find_issue(str(ref), str(ref))
            if found is None:
                raise JiraError(400, [f"Issue '{ref}' does not exist or you do not have permission to see it."])
            issues.append(found)
        with self._tx():
            for issue in issues:
                self._apply(issue, {"sprint_ids": [sprint_id]})
                self._save_issue(issue)


def _duration_seconds(text: str) -> int | None:
    units = {"w": 5 * 8 * 3600, "d": 8 * 3600, "h": 3600, "m": 60}
    total = 0
    parts = text.split()
    if not parts:
        return None
    for part in parts:
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([wdhm])", part)
        if m is None:
            return None
        total += int(float(m.group(1)) * units[m.group(2)])
    return total


def jira_time(ts: float) -> str:
    """Jira's timestamp format: 2021-01-17T12:34:00.000+0000."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}" + dt.strftime("%z")


def _parse_jira_time(text: str) -> bool:
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d"):
        try:
            datetime.strptime(text, fmt)
            return True
        except ValueError:
            continue
    return False


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
