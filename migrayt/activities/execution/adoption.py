"""Source identity on Jira issues, and adoption: an item already in Jira is recorded, not created again.

Every issue Migrayt creates carries the label `ado-id-{N}` and the issue property `migrayt.source`
({organization, project, id}): ADO ids are per organisation, so the label alone cannot tell two
organisations' #48 apart. A migration adopts an issue of its target project when the label names
the item and the property names this migration's organisation and project. An issue with the label
but another source's property is never adopted. An issue with the label and no property (written by
a Migrayt that did not set it yet) is adopted only when its summary is exactly the one this item
would get; anything else is left alone and the item is created, as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.connectors.jira import JiraClient, jql_string, labels_search_jql
from migrayt.store.item_records import DONE
from migrayt.store.models import ItemRecord, Migration
from migrayt.translation.issue_fields import SUMMARY_LIMIT, clean_line, source_label

SOURCE_PROPERTY = "migrayt.source"
# Labels per JQL query; the query stays well under Jira's length limit.
LABELS_PER_QUERY = 50
SAMPLE_KEYS = 10


def organization_of(source: SourceConnection) -> str:
    """The organisation as the property names it: its URL, lower-case, without a trailing slash."""
    return str(source.organization_url).rstrip("/").lower()


def source_identity(source: SourceConnection, ado_id: int) -> dict[str, Any]:
    return {"organization": organization_of(source), "project": source.project, "id": int(ado_id)}


def source_property(source: SourceConnection, ado_id: int) -> dict[str, Any]:
    """The EntityProperty a bulk create's issueUpdate carries (IssueUpdateDetails.properties)."""
    return {"key": SOURCE_PROPERTY, "value": source_identity(source, ado_id)}


def comment_property(source: SourceConnection, ado_id: int, comment_id: int) -> dict[str, Any]:
    """The comment's own identity: which ADO comment of which item it is."""
    return {"key": SOURCE_PROPERTY, "value": {**source_identity(source, ado_id), "comment": int(comment_id)}}


def expected_summary(ado_id: int, ado_fields: Mapping[str, Any]) -> str:
    """The summary create items writes for this item (see issue_fields.build_issue_fields)."""
    title = clean_line(str(ado_fields.get("System.Title") or "")) or f"(untitled ADO work item {ado_id})"
    return title if len(title) <= SUMMARY_LIMIT else title[: SUMMARY_LIMIT - 1] + "…"


@dataclass
class FoundIssue:
    key: str
    summary: str
    identity: Any  # the migrayt.source property, None when the issue has none


@dataclass
class Identity:
    organization: str
    project: str

    @classmethod
    def of(cls, source: SourceConnection) -> Identity:
        return cls(organization_of(source), source.project)

    def verdict(self, ado_id: int, found: FoundIssue) -> str:
        """ "ours" (the property names this source), "legacy" (no property) or "foreign"."""
        value = found.identity
        if value is None:
            return "legacy"
        if not isinstance(value, dict):
            return "foreign"
        org = str(value.get("organization") or "").rstrip("/").lower()
        same = org == self.organization and str(value.get("project") or "").lower() == self.project.lower()
        return "ours" if same and str(value.get("id")) == str(ado_id) else "foreign"


@dataclass
class Adoption:
    """What the target project holds for some items: the key to adopt, by ADO id."""

    keys: dict[int, str] = field(default_factory=dict)
    duplicates: dict[int, list[str]] = field(default_factory=dict)
    legacy: dict[int, list[FoundIssue]] = field(default_factory=dict)  # label, no property: summary decides
    foreign: dict[int, list[str]] = field(default_factory=dict)


def issue_number(key: str) -> int:
    tail = key.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


async def find_by_label(jira: JiraClient, project_key: str, ado_ids: Sequence[int]) -> dict[int, list[FoundIssue]]:
    """Issues of the project carrying each item's label, with their summary and source property."""
    by_label = {source_label(i): int(i) for i in dict.fromkeys(ado_ids)}
    found: dict[int, list[FoundIssue]] = {i: [] for i in by_label.values()}
    labels = list(by_label)

    async def one(chunk: list[str]) -> None:
        jql = labels_search_jql(chunk, project_key)
        async for issue in jira.search_jql(jql, fields=("labels", "summary"), properties=(SOURCE_PROPERTY,)):
            identity = issue.properties.get(SOURCE_PROPERTY)
            for label in issue.labels:
                if label in by_label and all(f.key != issue.key for f in found[by_label[label]]):
                    summary = str(issue.fields.get("summary") or "")
                    found[by_label[label]].append(FoundIssue(issue.key, summary, identity))

    await asyncio.gather(*(one(labels[i : i + LABELS_PER_QUERY]) for i in range(0, len(labels), LABELS_PER_QUERY)))
    return found


def decide(identity: Identity, found: Mapping[int, list[FoundIssue]]) -> Adoption:
    out = Adoption()
    for ado_id, issues in found.items():
        ours = sorted((f.key for f in issues if identity.verdict(ado_id, f) == "ours"), key=issue_number)
        foreign = [f.key for f in issues if identity.verdict(ado_id, f) == "foreign"]
        legacy = [f for f in issues if identity.verdict(ado_id, f) == "legacy"]
        if foreign:
            out.foreign[ado_id] = foreign
        if ours:
            out.keys[ado_id] = ours[0]
            if len(ours) > 1:
                out.duplicates[ado_id] = ours[1:]
        elif legacy:
            out.legacy[ado_id] = sorted(legacy, key=lambda f: issue_number(f.key))
    return out


def settle_legacy(adoption: Adoption, summaries: Mapping[int, str]) -> None:
    """An issue with the label and no property is this item only if its summary is the one it would get."""
    for ado_id, issues in list(adoption.legacy.items()):
        want = summaries.get(ado_id)
        same = [f.key for f in issues if want is not None and f.summary == want]
        if same:
            adoption.keys[ado_id] = same[0]
            if len(same) > 1:
                adoption.duplicates[ado_id] = same[1:]
        del adoption.legacy[ado_id]


def adopted_detail(adoption: Adoption, ado_id: int) -> dict[str, Any]:
    detail: dict[str, Any] = {"adopted": True}
    if ado_id in adoption.duplicates:
        detail["duplicates"] = adoption.duplicates[ado_id]
    return detail


def reconcilable(identity: Identity, ado_id: int, issues: Iterable[FoundIssue]) -> list[str]:
    """For a pending record of this migration: issues that may be its own write (never another source's)."""
    return sorted((f.key for f in issues if identity.verdict(ado_id, f) != "foreign"), key=issue_number)


async def last_write_elsewhere(session: AsyncSession, migration_id: str, target: TargetConnection) -> float | None:
    """When another migration of this installation last wrote into the same Jira project (epoch s)."""
    site = str(target.base_url).rstrip("/").lower()
    rows = await session.execute(select(Migration.id, Migration.target).where(Migration.id != migration_id))
    others = [
        id_
        for id_, t in rows
        if str((t or {}).get("base_url") or "").rstrip("/").lower() == site
        and (t or {}).get("project_key") == target.project_key
    ]
    if not others:
        return None
    # Any write counts, not only creates: an edit (a parent, a transition) re-indexes the issue too.
    latest: datetime | None = await session.scalar(
        select(func.max(ItemRecord.updated_at)).where(ItemRecord.migration_id.in_(others))
    )
    if latest is None:
        return None
    if latest.tzinfo is None:
        latest = latest.replace(tzinfo=UTC)
    return latest.timestamp()


async def wait_for_index(
    session: AsyncSession, migration_id: str, target: TargetConnection, grace: float, heartbeat
) -> None:
    """Issues another migration created less than the index lag bound ago may not be searchable yet:
    wait until they are, so the adoption search does not miss them."""
    last = await last_write_elsewhere(session, migration_id, target)
    if last is None:
        return
    wait = last + grace - time.time()
    if wait > 0:
        heartbeat(f"waiting {wait:.1f}s for the search index to show another migration's issues")
        await asyncio.sleep(wait)


async def adopted_issue_keys(session: AsyncSession, migration_id: str, source_keys: Iterable[str]) -> set[str]:
    """Of these items, the ones whose issue was adopted (found in Jira, not created by this migration)."""
    keys = list(source_keys)
    if not keys:
        return set()
    rows = await session.execute(
        select(ItemRecord.source_key, ItemRecord.detail).where(
            ItemRecord.migration_id == migration_id,
            ItemRecord.kind == "issue",
            ItemRecord.state == DONE,
            ItemRecord.source_key.in_(keys),
        )
    )
    return {k for k, detail in rows if (detail or {}).get("adopted")}


@dataclass
class Present:
    """Issues of the target project that carry this source's identity (property and label agree)."""

    keys: dict[int, str] = field(default_factory=dict)  # ADO id → the first key (by number)
    duplicates: int = 0

    def sample(self, n: int = SAMPLE_KEYS) -> list[str]:
        return sorted(self.keys.values(), key=issue_number)[:n]


async def present_in_target(jira: JiraClient, project_key: str, identity: Identity) -> Present:
    """One pass over the target project's issues: those whose `migrayt.source` names this source."""
    out = Present()
    jql = f"project = {jql_string(project_key)} ORDER BY key ASC"
    async for issue in jira.search_jql(jql, fields=("labels",), properties=(SOURCE_PROPERTY,)):
        value = issue.properties.get(SOURCE_PROPERTY)
        if not isinstance(value, dict) or not str(value.get("id") or "").isdigit():
            continue
        ado_id = int(value["id"])
        if source_label(ado_id) not in issue.labels:
            continue
        if identity.verdict(ado_id, FoundIssue(issue.key, "", value)) != "ours":
            continue
        if ado_id in out.keys:
            out.duplicates += 1
            if issue_number(issue.key) < issue_number(out.keys[ado_id]):
                out.keys[ado_id] = issue.key
        else:
            out.keys[ado_id] = issue.key
    return out
