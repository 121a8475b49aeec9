"""Item records as a customer reads them: which ADO item, which phase, what it is, why it failed, what to do.

Pure: the run report, the per-item trace and the failure lists all name records through here, so a failed
attachment reads "#48 · attachment spec.pdf", never a bare GUID.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from migrayt.contracts import record_kinds as K

PHASE_OF_KIND: dict[str, str] = {
    K.USER: "preflight",
    K.COMPONENT: "preflight",
    K.SPRINT: "preflight",
    K.PROVENANCE_FIELD: "preflight",
    K.ISSUE: "create_items",
    K.HIERARCHY: "hierarchy",
    K.LINK: "links",
    K.REMOTE_LINK: "links",
    K.ATTACHMENT: "attachments",
    K.INLINE_IMAGE: "attachments",
    K.HISTORY: "attachments",
    K.DESCRIPTION: "attachments",
    K.DESCRIPTION_ORIGINAL: "attachments",
    K.TRANSITION: "transitions",
    K.COMMENT: "comments",
    K.COMMENT_ORIGINAL: "comments",
    K.COMMENT_OVERFLOW: "comments",
    K.SOURCE_CHANGE: "source_changes",
    K.WORKLOG: "7pace",
    K.WORKLOG_OVERFLOW: "7pace",
    K.XRAY_TEST: "xray",
    K.XRAY_CONTAINER: "xray",
    K.XRAY_MEMBERSHIP: "xray",
    K.STEPS_TABLE: "xray",
    K.STEPS_FILE: "xray",
}

# Migration-wide lookups (not one work item's): written by preflight with this run id for every run.
PREFLIGHT_RUN_ID = "preflight"
LOOKUP_KINDS = frozenset({K.USER, K.COMPONENT, K.SPRINT, K.PROVENANCE_FIELD})


def phase_of(kind: str) -> str:
    return PHASE_OF_KIND.get(kind, "plugins")


def kinds_of_phase(phase: str) -> list[str]:
    return [k for k, p in PHASE_OF_KIND.items() if p == phase]


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def ado_items_of(kind: str, source_key: str, detail: dict[str, Any] | None) -> list[int]:
    """The ADO work items a record belongs to: a link belongs to both its ends, a lookup to none."""
    if kind in LOOKUP_KINDS:
        return []
    detail = detail or {}
    head, _, rest = source_key.partition(":")
    if kind == K.LINK:
        second = rest.partition(":")[0]
        return [i for i in (_int(head), _int(second)) if i is not None]
    if kind == K.XRAY_MEMBERSHIP:  # "suite:N:testcase" / "plan:N:testcase"
        return [i for i in (_int(source_key.rpartition(":")[2]),) if i is not None]
    if kind == K.XRAY_CONTAINER:  # a Test Set or Test Plan belongs to no one work item
        return []
    if kind == K.ATTACHMENT:
        item = detail.get("ado_item")
        return [int(item)] if isinstance(item, int) or (isinstance(item, str) and item.isdigit()) else []
    first = _int(head)
    return [first] if first is not None else []


def ado_item_of(kind: str, source_key: str, detail: dict[str, Any] | None) -> int | None:
    items = ado_items_of(kind, source_key, detail)
    return items[0] if items else None


def describe(kind: str, source_key: str, detail: dict[str, Any] | None) -> str:
    """What the record is about, in the customer's words (the ADO item is named beside it)."""
    detail = detail or {}
    head, _, rest = source_key.partition(":")
    if kind == K.ISSUE:
        return "work item"
    if kind == K.HIERARCHY:
        return "parent"
    if kind == K.LINK:
        second, _, rel = rest.partition(":")
        return f"link #{head} → #{second} ({rel.rsplit('.', 1)[-1] or rel})"
    if kind == K.REMOTE_LINK:
        return f"web link {detail.get('url') or rest}"
    if kind == K.XRAY_MEMBERSHIP:
        return f"Xray {'Test Plan of ADO plan' if head == 'plan' else 'Test Set of ADO suite'} {rest.partition(':')[0]}"
    if kind == K.XRAY_CONTAINER:
        return f"Xray {'Test Plan for ADO plan' if head == 'plan' else 'Test Set for ADO suite'} {rest}"
    if kind == K.XRAY_TEST:
        return "Xray test steps"
    if kind == K.STEPS_TABLE:
        return "test steps table"
    if kind == K.ATTACHMENT:
        name = detail.get("filename") or detail.get("name")
        return f"attachment {name}" if name else f"attachment (ADO file id {source_key})"
    if kind == K.INLINE_IMAGE:
        return f"inline image {rest}"
    if kind == K.HISTORY:
        return "revision history file"
    if kind == K.DESCRIPTION:
        return "description"
    if kind == K.DESCRIPTION_ORIGINAL:
        return "original description file"
    if kind == K.COMMENT:
        return f"comment {rest}" if rest else "comment"
    if kind == K.COMMENT_ORIGINAL:
        return f"original of comment {rest}" if rest else "original comment file"
    if kind == K.COMMENT_OVERFLOW:
        return f"comments overflow file part {rest or 1}"
    if kind == K.TRANSITION:
        return "status"
    if kind == K.WORKLOG:
        return f"7pace work log {rest}" if rest else "7pace work log"
    if kind == K.WORKLOG_OVERFLOW:
        return "7pace work logs past Jira's cap (file)"
    if kind == K.STEPS_FILE:
        return "test steps past Jira's description limit (file)"
    if kind == K.USER:
        return f"user {source_key}"
    if kind == K.COMPONENT:
        return f"area {source_key}"
    if kind == K.SPRINT:
        return f"iteration {source_key}"
    if kind == K.PROVENANCE_FIELD:
        return f"provenance field {source_key}"
    if kind == K.SOURCE_CHANGE:
        return f"source change rev {rest}" if rest else "source change"
    return f"{kind} {source_key}"


# (pattern on the error text, reason, remedy): the first that matches names the error's class.
ERROR_CLASSES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), reason, remedy)
    for p, reason, remedy in (
        (
            r"has no Jira issue",
            "Other item not migrated",
            "The item at the other end failed to migrate: fix its failure first, then re-run.",
        ),
        (
            # Before "Unmapped user": inviting someone who has an account (deactivated) is no remedy.
            r"deactivated in Jira",
            "Deactivated Jira user",
            "Pick another Jira user for them in the plan's user table or set a fallback user (or have a Jira "
            "administrator reactivate the account), then re-run.",
        ),
        (
            r"no Jira account|user table|unmapped user|accountId",
            "Unmapped user",
            "Map the ADO user to a Jira account in the plan's user table (or invite them to Jira), then re-run.",
        ),
        (
            r"too large|HTTP 413.*(bytes|attachment limit)|larger than",
            "File too large for Jira",
            "Raise the Jira site's attachment size limit (System › Attachments) or attach the file by hand, "
            "then re-run.",
        ),
        (
            r"reached the limit of",
            "Jira per-issue limit reached",
            "Jira allows no more on this issue: remove old attachments or comments from it, then re-run.",
        ),
        (
            r"no Jira status for ADO state|not in the workflow|cannot be reached|not reached after|transition",
            "Status not reachable",
            "Map the ADO state to a status of that issue type's Jira workflow in the plan's status table, then re-run.",
        ),
        (
            r"too long|must be less than|exceeds|maximum length|characters",
            "Field too long",
            "Shorten the value in ADO, or map the field to a Jira field that holds more text in the plan's field "
            "table, then re-run.",
        ),
        (
            r"not a (valid )?number|must be a number|invalid number|Operation value must be|is not valid|"
            r"not an allowed value|option",
            "Field value Jira does not accept",
            "Fix the field mapping (or its value transform) for this field in the plan's field table, then re-run.",
        ),
        (
            r"parent",
            "Parent not migrated",
            "The parent item did not migrate: fix the parent's failure first, then re-run.",
        ),
        (
            r"gone from ADO|not found in ADO|could not read|source unavailable|HTTP 404",
            "Source item or file unavailable",
            "Check the item or file still exists in Azure DevOps and the PAT may read it, then re-run.",
        ),
        (
            r"Jira refused",
            "Jira refused the write",
            "Read Jira's reason in the error; fix the mapping in the plan accordingly, then re-run.",
        ),
    )
)
OTHER_REASON = "Other error"
OTHER_REMEDY = "Re-run the migration; if the item fails again, send this report to support."


def classify(error: str | None) -> tuple[str, str]:
    """(reason, remedy) of a failure's error text."""
    text = error or ""
    for pattern, reason, remedy in ERROR_CLASSES:
        if pattern.search(text):
            return reason, remedy
    return OTHER_REASON, OTHER_REMEDY


def ado_item_url(source: dict[str, Any], ado_id: int) -> str:
    org = str(source.get("organization_url") or "").rstrip("/")
    project = quote(str(source.get("project") or ""), safe="")
    return f"{org}/{project}/_workitems/edit/{ado_id}"


def jira_issue_url(target: dict[str, Any], key: str | None) -> str | None:
    if not key:
        return None
    return f"{str(target.get('base_url') or '').rstrip('/')}/browse/{quote(key, safe='')}"


class RecordLine(BaseModel):
    """One item record, named by its ADO item and phase."""

    ado_id: int | None
    phase: str
    kind: str
    what: str
    source_key: str
    state: str  # pending | done | failed
    jira_key: str | None = None  # the ADO item's issue
    target_key: str | None = None  # what the record wrote (an issue key, attachment id, link id…)
    run_id: str | None = None
    attempts: int = 0
    updated_at: datetime | None = None
    error: str | None = None
    reason: str | None = None
    remedy: str | None = None
    adopted: bool = False

    @property
    def ado_label(self) -> str:
        return f"#{self.ado_id}" if self.ado_id is not None else "—"


def record_line(
    *,
    kind: str,
    source_key: str,
    state: str,
    detail: dict[str, Any] | None,
    target_key: str | None,
    run_id: str | None,
    attempts: int,
    updated_at: datetime | None,
    error: str | None,
    issue_keys: dict[int, str],
) -> RecordLine:
    ado_id = ado_item_of(kind, source_key, detail)
    reason = remedy = None
    if state == "failed":
        reason, remedy = classify(error)
    return RecordLine(
        ado_id=ado_id,
        phase=phase_of(kind),
        kind=kind,
        what=describe(kind, source_key, detail),
        source_key=source_key,
        state=state,
        jira_key=issue_keys.get(ado_id) if ado_id is not None else None,
        target_key=target_key,
        run_id=run_id,
        attempts=attempts,
        updated_at=updated_at,
        error=error,
        reason=reason,
        remedy=remedy,
        adopted=bool((detail or {}).get("adopted")),
    )


class ReasonGroup(BaseModel):
    reason: str
    remedy: str
    count: int
    phases: list[str]


def group_by_reason(failures: list[RecordLine]) -> list[ReasonGroup]:
    """Failures counted per reason, most frequent first."""
    groups: dict[str, ReasonGroup] = {}
    for f in failures:
        reason, remedy = f.reason or OTHER_REASON, f.remedy or OTHER_REMEDY
        g = groups.setdefault(reason, ReasonGroup(reason=reason, remedy=remedy, count=0, phases=[]))
        g.count += 1
        if f.phase not in g.phases:
            g.phases.append(f.phase)
    return sorted(groups.values(), key=lambda g: (-g.count, g.reason))
