"""The Catalog: what a source project holds, counted from one read of every work item.

`CatalogBuilder` is fed batches of work items (in any order, from concurrent fetches) and the
project's metadata, and keeps only counts and the ids a limit lint needs, never ticket text.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from pydantic import BaseModel, Field

from migrayt.connectors.adf import adf_char_count, html_to_adf
from migrayt.plugins.contract import PluginScan
from migrayt.translation.issue_fields import SUMMARY_LIMIT, TEXT_LIMIT, clean_line

HIERARCHY_REVERSE = "System.LinkTypes.Hierarchy-Reverse"
HIERARCHY_FORWARD = "System.LinkTypes.Hierarchy-Forward"
REMOTE_RELATIONS = ("Hyperlink", "ArtifactLink")
ATTACHMENT_RELATION = "AttachedFile"
TEST_CASE_TYPE = "Test Case"
# Ids listed per finding; the count is always complete.
MAX_LISTED = 1000
# Distinct values kept per pick list; beyond it the field is reported as open-ended.
MAX_PICKLIST_VALUES = 200


class TargetLimits(BaseModel):
    """The target's caps a lint checks; read from Jira where it says, else the documented defaults."""

    summary_chars: int = SUMMARY_LIMIT
    text_chars: int = TEXT_LIMIT
    attachment_bytes: int = 1024**3  # per file: the site's uploadLimit, else Jira Cloud's default
    # The Jira plan's attachment storage, where known (a setting: Jira's REST API does not report it).
    attachment_storage_bytes: int | None = None
    attachments_per_issue: int = 2000
    comments_per_issue: int = 5000
    # Jira Cloud's per-issue caps on issue links, remote links and worklogs.
    issue_links_per_issue: int = 2000
    remote_links_per_issue: int = 2000
    worklogs_per_issue: int = 5000
    hierarchy_levels: int = 3  # epic, standard, sub-task
    custom_fields_cap: int = 700
    custom_fields_existing: int = 0
    # Provenance fields (migrayt/translation/provenance.py) the site lacks: preflight would create them.
    provenance_fields_missing: int = 0


class IdList(BaseModel):
    """Items concerned by one finding: the full count and the first MAX_LISTED ids (with a figure each)."""

    count: int = 0
    items: list[int] = Field(default_factory=list)
    figures: dict[int, int] = Field(default_factory=dict)  # id → size, count or depth

    def add(self, item_id: int, figure: int | None = None) -> None:
        self.count += 1
        if len(self.items) < MAX_LISTED:
            self.items.append(item_id)
            if figure is not None:
                self.figures[item_id] = figure


class FieldUsage(BaseModel):
    reference_name: str
    name: str | None = None
    type: str | None = None
    picklist: bool = False
    identity: bool = False
    custom: bool = False
    filled: int = 0
    eligible: int = 0  # items of the types that carry this field
    fill_rate: float = 0.0
    values: dict[str, int] = Field(default_factory=dict)  # pick lists only: value → items


class TreeNode(BaseModel):
    name: str
    path: str
    children: list[TreeNode] = Field(default_factory=list)

    def count(self) -> int:
        return 1 + sum(c.count() for c in self.children)


class UserSummary(BaseModel):
    display_name: str | None = None
    unique_name: str | None = None
    has_email: bool = False


class AttachmentStats(BaseModel):
    count: int = 0
    total_bytes: int = 0
    largest_bytes: int = 0
    largest_item: int | None = None
    max_per_item: int = 0


class CountStats(BaseModel):
    count: int = 0
    max_per_item: int = 0
    max_item: int | None = None


class LimitFacts(BaseModel):
    """Raw ids behind the lint, measured against the limits the scan was given."""

    long_titles: IdList = Field(default_factory=IdList)
    long_texts: dict[str, IdList] = Field(default_factory=dict)
    large_attachments: IdList = Field(default_factory=IdList)
    # The files over the upload limit by name, each with its item and size (the first MAX_LISTED).
    large_attachment_files: list[str] = Field(default_factory=list)
    many_attachments: IdList = Field(default_factory=IdList)
    many_comments: IdList = Field(default_factory=IdList)
    too_deep: IdList = Field(default_factory=IdList)
    many_issue_links: IdList = Field(default_factory=IdList)
    many_remote_links: IdList = Field(default_factory=IdList)
    many_worklogs: IdList = Field(default_factory=IdList)


class StateInfo(BaseModel):
    name: str
    category: str | None = None  # Proposed, InProgress, Resolved, Completed, Removed


class Catalog(BaseModel):
    items_total: int = 0
    # The process: each work item type's states in workflow order, with ADO's state category.
    type_states: dict[str, list[StateInfo]] = Field(default_factory=dict)
    by_type: dict[str, int] = Field(default_factory=dict)
    by_type_state: dict[str, dict[str, int]] = Field(default_factory=dict)
    fields: list[FieldUsage] = Field(default_factory=list)
    areas: TreeNode | None = None
    iterations: TreeNode | None = None
    area_count: int = 0
    iteration_count: int = 0
    users: list[UserSummary] = Field(default_factory=list)
    users_with_email: int = 0
    users_without_email: int = 0
    link_types: dict[str, int] = Field(default_factory=dict)  # relation ends as ADO stores them
    links: int = 0  # each non-hierarchy work item link once
    hierarchy_links: int = 0  # child → parent, once each
    remote_links: int = 0
    attachments: AttachmentStats = Field(default_factory=AttachmentStats)
    comments: CountStats = Field(default_factory=CountStats)
    revisions: CountStats = Field(default_factory=CountStats)
    test_cases: int = 0
    time_logs: int = 0
    time_logs_present: bool = False
    hierarchy_depth: int = 0
    # Items whose state is not the first of their type: each needs at least one transition.
    transitions: int = 0
    limits: TargetLimits = Field(default_factory=TargetLimits)
    facts: LimitFacts = Field(default_factory=LimitFacts)
    # Phase 8: what each plugin's scan found, by its registry phase name (migrayt/plugins/contract.py).
    plugins: dict[str, PluginScan] = Field(default_factory=dict)

    def field(self, reference_name: str) -> FieldUsage | None:
        return next((f for f in self.fields if f.reference_name == reference_name), None)


class FieldMeta(BaseModel):
    reference_name: str
    name: str | None = None
    type: str | None = None
    picklist: bool = False
    identity: bool = False


def _link_key(item_id: int, rel: str, other: int) -> tuple[int, int, str]:
    """One key per link whichever end reports it: directional links by their forward end."""
    if rel.endswith("-Reverse"):
        return (other, item_id, rel[: -len("-Reverse")])
    if rel.endswith("-Forward"):
        return (item_id, other, rel[: -len("-Forward")])
    return (min(item_id, other), max(item_id, other), rel)


def _tree(node: Any, strip: str) -> TreeNode:
    parts = str(node.path or node.name).strip("\\").split("\\")
    if len(parts) > 1 and parts[1] == strip:
        del parts[1]
    return TreeNode(name=node.name, path="\\".join(parts), children=[_tree(c, strip) for c in node.children])


class CatalogBuilder:
    def __init__(
        self, limits: TargetLimits, fields: list[FieldMeta], type_states: dict[str, list[StateInfo]] | None = None
    ) -> None:
        self.limits = limits
        self._meta = {f.reference_name: f for f in fields}
        self._initial = {t: s[0].name for t, s in (type_states or {}).items() if s}
        self.catalog = Catalog(limits=limits, type_states=type_states or {})
        self._by_type: Counter[str] = Counter()
        self._states: dict[str, Counter[str]] = defaultdict(Counter)
        self._filled: Counter[str] = Counter()
        self._type_fields: dict[str, set[str]] = defaultdict(set)
        self._values: dict[str, Counter[str]] = defaultdict(Counter)
        self._rel_ends: Counter[str] = Counter()
        self._links: set[tuple[int, int, str]] = set()
        self._parent: dict[int, int] = {}
        self._seen: set[int] = set()

    # --- one work item at a time -------------------------------------------------------------

    def add(self, item: Any) -> None:
        """`item`: a connectors.ado.WorkItem fetched with relations."""
        if item.id in self._seen:  # a retried batch must not count twice
            return
        self._seen.add(item.id)
        c = self.catalog
        f = item.fields
        wit = str(f.get("System.WorkItemType") or "")
        state = str(f.get("System.State") or "")
        self._by_type[wit] += 1
        self._states[wit][state] += 1
        if wit == TEST_CASE_TYPE:
            c.test_cases += 1
        if self._initial.get(wit) and state != self._initial[wit]:
            c.transitions += 1

        for ref, value in f.items():
            if value is None or value == "":
                continue
            self._filled[ref] += 1
            self._type_fields[wit].add(ref)
            meta = self._meta.get(ref)
            if meta is not None and meta.picklist:
                counts = self._values[ref]
                if len(counts) < MAX_PICKLIST_VALUES or str(value) in counts:
                    counts[str(value)] += 1
            if (
                meta is not None
                and meta.type == "html"
                and isinstance(value, str)
                and len(value) > self.limits.text_chars
            ):
                # Text is never longer than its HTML; only long HTML is worth converting to measure.
                length = adf_char_count(html_to_adf(value))
                if length > self.limits.text_chars:
                    c.facts.long_texts.setdefault(ref, IdList()).add(item.id, length)

        title = clean_line(str(f.get("System.Title") or ""))
        if len(title) > self.limits.summary_chars:
            c.facts.long_titles.add(item.id, len(title))

        comments = int(f.get("System.CommentCount") or 0)
        _bump(c.comments, comments, item.id)
        if comments > self.limits.comments_per_issue:
            c.facts.many_comments.add(item.id, comments)
        _bump(c.revisions, int(f.get("System.Rev") or item.rev or 0), item.id)

        attachments = remote = issue_links = 0
        for rel in item.relations:
            self._rel_ends[rel.rel] += 1
            if rel.rel == ATTACHMENT_RELATION:
                attachments += 1
                size = int((rel.attributes or {}).get("resourceSize") or 0)
                a = c.attachments
                a.count += 1
                a.total_bytes += size
                if size > a.largest_bytes:
                    a.largest_bytes, a.largest_item = size, item.id
                if size > self.limits.attachment_bytes:
                    c.facts.large_attachments.add(item.id, size)
                    if len(c.facts.large_attachment_files) < MAX_LISTED:
                        name = (rel.attributes or {}).get("name") or "unnamed file"
                        c.facts.large_attachment_files.append(f"{name} (#{item.id}, {size:,} bytes)")
            elif rel.rel in REMOTE_RELATIONS:
                c.remote_links += 1
                remote += 1
            elif (other := rel.target_id) is not None:
                if rel.rel == HIERARCHY_REVERSE:
                    self._parent[item.id] = other
                elif rel.rel != HIERARCHY_FORWARD:
                    self._links.add(_link_key(item.id, rel.rel, other))
                    issue_links += 1  # each end of a link is on its issue's list in Jira too
        c.attachments.max_per_item = max(c.attachments.max_per_item, attachments)
        if attachments > self.limits.attachments_per_issue:
            c.facts.many_attachments.add(item.id, attachments)
        if issue_links > self.limits.issue_links_per_issue:
            c.facts.many_issue_links.add(item.id, issue_links)
        if remote > self.limits.remote_links_per_issue:
            c.facts.many_remote_links.add(item.id, remote)

    # --- project metadata ----------------------------------------------------------------------

    def set_trees(self, areas: Any | None, iterations: Any | None) -> None:
        if areas is not None:
            self.catalog.areas = _tree(areas, "Area")
            self.catalog.area_count = self.catalog.areas.count()
        if iterations is not None:
            self.catalog.iterations = _tree(iterations, "Iteration")
            self.catalog.iteration_count = self.catalog.iterations.count()

    def set_users(self, users: list[Any]) -> None:
        out = []
        for u in users:
            email = u.mail_address if u.mail_address and "@" in u.mail_address else None
            out.append(
                UserSummary(
                    display_name=u.display_name, unique_name=u.principal_name or email, has_email=email is not None
                )
            )
        self.catalog.users = out
        self.catalog.users_with_email = sum(u.has_email for u in out)
        self.catalog.users_without_email = len(out) - self.catalog.users_with_email

    def set_time_logs(self, count: int, present: bool, per_item: dict[int, int] | None = None) -> None:
        self.catalog.time_logs = count
        self.catalog.time_logs_present = present
        for item_id, n in sorted((per_item or {}).items()):
            if n > self.limits.worklogs_per_issue:
                self.catalog.facts.many_worklogs.add(item_id, n)

    # --- the end -------------------------------------------------------------------------------

    def finish(self) -> Catalog:
        c = self.catalog
        c.items_total = len(self._seen)
        c.by_type = dict(sorted(self._by_type.items()))
        c.by_type_state = {t: dict(sorted(s.items())) for t, s in sorted(self._states.items())}
        c.link_types = dict(sorted(self._rel_ends.items()))
        c.links = len(self._links)
        c.hierarchy_links = len(self._parent)
        fields = []
        for ref in sorted(set(self._filled) | set(self._meta)):
            meta = self._meta.get(ref) or FieldMeta(reference_name=ref)
            eligible = sum(n for t, n in self._by_type.items() if ref in self._type_fields[t])
            filled = self._filled.get(ref, 0)
            if not filled:
                continue
            fields.append(
                FieldUsage(
                    reference_name=ref,
                    name=meta.name,
                    type=meta.type,
                    picklist=meta.picklist,
                    identity=meta.identity,
                    custom=not ref.startswith(("System.", "Microsoft.VSTS.")),
                    filled=filled,
                    eligible=eligible,
                    fill_rate=round(filled / eligible, 4) if eligible else 0.0,
                    values=dict(self._values[ref].most_common()) if meta.picklist else {},
                )
            )
        c.fields = fields
        depth = self._depths()
        c.hierarchy_depth = max(depth.values(), default=0)
        for item_id in sorted(depth):
            if depth[item_id] > self.limits.hierarchy_levels:
                c.facts.too_deep.add(item_id, depth[item_id])
        for ids in (
            c.facts.long_titles,
            c.facts.large_attachments,
            c.facts.many_attachments,
            c.facts.many_comments,
            c.facts.many_issue_links,
            c.facts.many_remote_links,
        ):
            ids.items.sort()
        return c

    def _depths(self) -> dict[int, int]:
        """Depth of every item in its parent chain (a root is 1); cycles are cut where they close."""
        depth: dict[int, int] = {}
        for start in self._seen:
            chain = []
            node: int | None = start
            while node is not None and node not in depth and node not in chain:
                chain.append(node)
                node = self._parent.get(node)
            base = depth.get(node, 0) if node is not None else 0
            for n in reversed(chain):
                base += 1
                depth[n] = base
        return {i: d for i, d in depth.items() if i in self._seen}


def _bump(stats: CountStats, n: int, item_id: int) -> None:
    stats.count += n
    if n > stats.max_per_item:
        stats.max_per_item, stats.max_item = n, item_id
