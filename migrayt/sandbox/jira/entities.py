"""What the sandbox Jira site holds: its entities as records, and the small value helpers (references,
Jira's time format) every resource module shares.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    update_author_id: str | None = None  # who last edited it (None: its author)


@dataclass
class Worklog:
    id: int
    issue_id: int
    author_id: str
    time_spent_seconds: int
    started: str
    created: float
    comment: dict | None = None
    # Worklog.properties (EntityProperty list): kept as given at create, served with expand=properties.
    properties: list[dict] = field(default_factory=list)
    # How it was posted (query parameters Jira does not echo back), for tests through /_sandbox/state.
    adjust_estimate: str = "auto"
    notify_users: bool = True


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
    # False: a large upload of which the sandbox kept only name, size and sha-256, not the bytes.
    kept: bool = True


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


KINDS = {
    "issue": Issue,
    "comment": Comment,
    "worklog": Worklog,
    "attachment": Attachment,
    "link": Link,
    "remotelink": RemoteLink,
    "component": Component,
    "sprint": Sprint,
}


def parse_ref(value: Any) -> tuple[str | None, str | None]:
    """(id, name-or-key) out of `{"id": ..}`, `{"key": ..}`, `{"name": ..}` or a bare string."""
    if isinstance(value, dict):
        ident = value.get("id")
        other = value.get("key", value.get("name", value.get("value")))
        return (str(ident) if ident is not None else None, str(other) if other is not None else None)
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return (str(value), str(value))
    return (None, None)


def duration_seconds(text: str) -> int | None:
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


def parse_jira_time(text: str) -> bool:
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
