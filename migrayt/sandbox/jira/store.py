"""The one store every resource of the sandbox Jira site works over: the records, their indexes, the
search index with its lag, the id counters, and the durable SQLite copy behind them.

Handlers are `async def` and never await between reading and writing, so the event loop already
serialises writes; the lock keeps each `_tx` (and a reset) one unit should code on another thread,
such as a test driving the state directly, write at the same time. Each mutating operation commits
its records to the store before returning.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from . import catalog as cat
from .config import JiraSandboxConfig, JiraUserSeed
from .entities import (
    KINDS,
    Attachment,
    Comment,
    Component,
    Issue,
    Link,
    RemoteLink,
    Sprint,
    User,
    Worklog,
)
from .errors import JiraError, not_found_issue
from .jql import IssueView
from .persistence import Store

# The account a request acts as (None: the site's own user, the migration's); set per request by
# routes/deps.py from `X-Sandbox-Act-As`, the sandbox's stand-in for another person's credentials.
ACTING_AS: ContextVar[str | None] = ContextVar("sandbox_jira_acting_as", default=None)


class JiraStore:
    def __init__(self, config: JiraSandboxConfig, clock: Any = time.time) -> None:
        self.config = config
        self.field_ids = cat.FieldIds(dict(config.field_ids))
        self.clock = clock
        self.project_id = "10000"
        self.board_id = 1
        self.board_name = f"{config.project_key} board"
        me_id = "712020:" + str(uuid.uuid5(uuid.NAMESPACE_DNS, f"sandbox-jira/{config.email}"))
        self.me = User(me_id, "Migration Bot", config.email, True, True)
        self.lock = threading.RLock()
        self._tmp: tempfile.TemporaryDirectory | None = None
        if config.state_dir is not None:
            self.attachment_dir = Path(config.state_dir) / "jira-attachments"
            self.store = Store(Path(config.state_dir) / "jira.sqlite3")
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="sandbox-jira-")
            self.attachment_dir = Path(self._tmp.name)
            self.store = Store(None)
        self.attachment_dir.mkdir(parents=True, exist_ok=True)
        # Apps that keep state about these issues (Xray) empty theirs with the site, as ids start over.
        self.reset_listeners: list[Any] = []
        # The bulk transition routes' own bookkeeping (routes/bulk_transitions.py), made on first use.
        self.bulk_transition_log: Any = None
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
        # issue id → its changelog entries (record_change; read in removals.py); bulk task id → the task (removals.py)
        self.changelogs: dict[int, list[dict[str, Any]]] = {}
        self.bulk_tasks: dict[str, dict[str, Any]] = {}
        # custom fields created on the site (custom_fields.py), and which screen each was added to
        self.custom_fields: dict[str, Any] = {}
        self.screen_fields_added: dict[int, list[str]] = {}
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
        self._load_custom_fields()  # before the issues: their search views carry custom values
        loaded: dict[str, list] = {k: [cls(**r) for r in self.store.load(k)] for k, cls in KINDS.items()}
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

    def _load_custom_fields(self) -> None:
        """Overridden where custom fields are kept (custom_fields.py)."""

    def reset(self) -> None:
        with self.lock:
            self.store.clear()
            shutil.rmtree(self.attachment_dir, ignore_errors=True)
            self.attachment_dir.mkdir(parents=True, exist_ok=True)
            self._empty()
            for listener in self.reset_listeners:
                listener()

    def close(self) -> None:
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @contextmanager
    def _tx(self) -> Iterator[None]:
        with self.lock:
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

    def acting(self) -> str:
        """Who a write is by: the user the request acts as, else the site's own user."""
        return ACTING_AS.get() or self.me.account_id

    # Here, not beside the changelog's reader (removals.py): issues, links and attachments all record changes.
    def record_change(self, issue: Issue, items: list[dict[str, Any]]) -> None:
        """One changelog entry for an edit or a transition of `issue`, by the acting user, now."""
        if not items:
            return
        self.counters.setdefault("changelog", 10000)  # a site stored before changelogs were kept
        entry = {
            "id": str(self._next("changelog")),
            "author": self.acting(),
            "created": self.now(),
            "items": items,
        }
        self.changelogs.setdefault(issue.id, []).append(entry)

    def require_project_admin(self, message: str) -> None:
        """A 403 with `message` unless the migration's user may administer the project: it has Administer Projects
        (config.project_admin) or is a Jira administrator (config.field_admin)."""
        if not (self.config.project_admin or self.config.field_admin):
            raise JiraError(403, [message])

    def require_jira_admin(self, message: str) -> None:
        """A 403 with `message` unless the migration's user is a Jira administrator (config.field_admin)."""
        if not self.config.field_admin:
            raise JiraError(403, [message])

    def notify(self, event: int, issue: Issue, notify_users: bool = True) -> None:
        """Overridden where notification schemes are kept (notifications.py)."""

    def custom_search_value(self, fid: str, value: Any) -> Any:
        """Overridden where custom fields are kept (custom_fields.py)."""
        return value

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

    def known_user(self, account_id: str) -> User:
        """A user of the site, made up on first sight (someone a test acts as)."""
        if account_id not in self.users:
            self.users[account_id] = User(account_id, f"Someone else ({account_id[-4:]})", None, False)
        return self.users[account_id]

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
            custom={
                fid: self.custom_search_value(fid, issue.values[fid])
                for fid in self.custom_fields
                if issue.values.get(fid) is not None
            },
        )

    def _reindex(self, issue: Issue) -> None:
        """Queue the issue's new searchable state; JQL sees it once the index lag has passed."""
        self.pending_index.pop(issue.id, None)
        self.pending_index[issue.id] = (self.now(), self._view(issue))

    def _save_issue(self, issue: Issue) -> None:
        self.store.put("issue", issue.id, issue.record())
