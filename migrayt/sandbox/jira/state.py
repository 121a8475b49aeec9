"""Everything the sandbox Jira site holds, its indexes and the rules every write must pass.

`JiraState` is the one object the routes use: the shared store (`store.JiraStore`) with each resource's
operations mixed in from its own module (issues, fields, search, links, comments, attachments, agile).
"""

from __future__ import annotations

from .agile import SPRINT_MOVE_MAX, AgileOps
from .attachments import AttachmentOps
from .comments import CommentOps
from .entities import (
    Attachment,
    Comment,
    Component,
    Issue,
    Link,
    RemoteLink,
    Sprint,
    User,
    Worklog,
    jira_time,
    sha256_file,
)
from .fields import NOT_ADF, TOO_LONG, UNSUPPORTED_CONTENT
from .issues import BULK_CREATE_MAX, IssueOps
from .links import LinkOps
from .notifications import NotificationOps
from .removals import RemovalOps
from .search import SearchOps
from .store import JiraStore

__all__ = [
    "BULK_CREATE_MAX",
    "NOT_ADF",
    "SPRINT_MOVE_MAX",
    "TOO_LONG",
    "UNSUPPORTED_CONTENT",
    "Attachment",
    "Comment",
    "Component",
    "Issue",
    "JiraState",
    "JiraStore",
    "Link",
    "RemoteLink",
    "Sprint",
    "User",
    "Worklog",
    "jira_time",
    "sha256_file",
]


class JiraState(AgileOps, LinkOps, RemovalOps, IssueOps, CommentOps, SearchOps, AttachmentOps, NotificationOps):
    """The sandbox Jira site: one store, every resource's operations."""
