"""Compare a generated ADO project with what landed in the sandbox Jira, item by item.

Every function takes the generated source (GeneratedProject), the sandbox's per-issue detail
(`/_sandbox/state/issues`, e.g. harness.jira_issues) and the mapping plan, and returns a list of
human-readable mismatches; an empty list means Jira matches the source. The expectations are
written here in the user's words (a predecessor blocks its successor, a copy duplicates its
original), not derived from the engine's code, so the engine cannot agree with itself by accident.

    mismatches = check_structure(project, issues, plan, not_migrated=failed_ids, hierarchy_links=ids)
    assert mismatches == []
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from migrayt.mapping.plan import MappingPlan, default_plan
from migrayt.sandbox.generator import GeneratedProject
from migrayt.sandbox.jira import catalog as jira_catalog

ADO_LABEL = "ado-id-"
HIERARCHY_LINK_TYPE = "Relates"
UNDIRECTED_TYPES = {"relates"}
LEVELS = {t.name: t.hierarchy_level for t in jira_catalog.ISSUE_TYPES}

# ADO forward relation → which end is the subject of the Jira link ("subject <outward verb> object").
# Successor: the item whose successor the other is, is its predecessor, and a predecessor blocks.
# Duplicate: the other end is the duplicate, and the duplicate duplicates the original.
# Tested By: the other end is the test case, and the test case tests the item.
SUBJECT_END = {
    "System.LinkTypes.Dependency-Forward": "self",
    "System.LinkTypes.Duplicate-Forward": "other",
    "Microsoft.VSTS.Common.TestedBy-Forward": "other",
}


@dataclass
class JiraView:
    """The sandbox issues indexed by ADO id (via the `ado-id-N` label)."""

    issues: list[dict]
    by_ado: dict[int, list[dict]] = field(default_factory=dict)
    by_key: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for issue in self.issues:
            self.by_key[issue["key"]] = issue
            for label in issue.get("labels") or []:
                if label.startswith(ADO_LABEL) and label[len(ADO_LABEL) :].isdigit():
                    self.by_ado.setdefault(int(label[len(ADO_LABEL) :]), []).append(issue)

    def issue(self, ado_id: int) -> dict | None:
        found = self.by_ado.get(ado_id)
        return found[0] if found else None

    def key(self, ado_id: int) -> str | None:
        issue = self.issue(ado_id)
        return issue["key"] if issue else None


def in_scope(project: GeneratedProject, plan: MappingPlan) -> list[int]:
    """Source items the plan migrates (types it does not list are skipped by design)."""
    return [i for i in project.item_ids() if project.core(i).type in plan.types]


def check_items_once(project: GeneratedProject, view: JiraView, plan: MappingPlan, not_migrated: set[int]) -> list[str]:
    out = []
    scope = set(in_scope(project, plan))
    for ado_id in sorted(scope):
        found = view.by_ado.get(ado_id) or []
        if ado_id in not_migrated:
            if found:
                out.append(f"ADO #{ado_id} failed to migrate but Jira has {[i['key'] for i in found]}")
        elif not found:
            out.append(f"ADO #{ado_id} ({project.core(ado_id).type}) has no Jira issue")
        elif len(found) > 1:
            out.append(f"ADO #{ado_id} landed {len(found)} times: {[i['key'] for i in found]}")
    for ado_id in sorted(set(view.by_ado) - scope):
        out.append(f"Jira has {view.key(ado_id)} for ADO #{ado_id}, which is not a migrated source item")
    for issue in view.issues:
        if not any(label.startswith(ADO_LABEL) for label in issue.get("labels") or []):
            out.append(f"{issue['key']} carries no ado-id label")
    return out


def _expressible(child: dict, parent: dict) -> bool:
    """Whether Jira can hold this pair as `parent`: one level down, or a sub-task under a standard issue."""
    child_level, parent_level = LEVELS.get(child["type"]), LEVELS.get(parent["type"])
    if child_level is None or parent_level is None:
        return False
    if child_level == -1:
        return parent_level == 0
    return child_level + 1 == parent_level


def _linked_either_way(view: JiraView, a: str, b: str, type_name: str) -> int:
    issue = view.by_key.get(a) or {}
    return sum(1 for link in issue.get("links") or [] if link["other"] == b and link["type"] == type_name)


def check_parents(
    project: GeneratedProject, view: JiraView, plan: MappingPlan, hierarchy_links: set[int] | None = None
) -> list[str]:
    """Each item's Jira parent is its ADO parent's issue; where Jira cannot nest the two, a link instead.

    `hierarchy_links`: ADO ids whose hierarchy record says it became a link (checked when given).
    """
    out = []
    scope = set(in_scope(project, plan))
    for ado_id in sorted(scope):
        issue = view.issue(ado_id)
        if issue is None:
            continue
        parent_id = project.parent_of(ado_id)
        parent = view.issue(parent_id) if parent_id in scope else None
        if parent is None:
            if issue.get("parent"):
                out.append(
                    f"{issue['key']} (ADO #{ado_id}) has parent {issue['parent']} but its ADO parent did not migrate"
                )
            continue
        if _expressible(issue, parent):
            if issue.get("parent") != parent["key"]:
                out.append(
                    f"{issue['key']} (ADO #{ado_id}, {issue['type']}) has parent {issue.get('parent')}, "
                    f"expected {parent['key']} (ADO #{parent_id}, {parent['type']})"
                )
            continue
        if issue.get("parent"):
            out.append(
                f"{issue['key']} (ADO #{ado_id}) has parent {issue['parent']}, but a {issue['type']} cannot sit "
                f"under a {parent['type']}"
            )
        if not _linked_either_way(view, issue["key"], parent["key"], HIERARCHY_LINK_TYPE):
            out.append(
                f"{issue['key']} (ADO #{ado_id}, {issue['type']}) is not linked to its ADO parent "
                f"{parent['key']} (ADO #{parent_id}, {parent['type']}), which Jira cannot make its parent"
            )
        if hierarchy_links is not None and ado_id not in hierarchy_links:
            out.append(f"ADO #{ado_id}: parent kept as a link but its hierarchy record does not report it")
    return out


LinkKey = tuple[str, str, str] | tuple[str, frozenset[str]]


def expected_links(project: GeneratedProject, view: JiraView, plan: MappingPlan) -> tuple[set[LinkKey], list[str]]:
    """(links Jira should hold, source links that cannot exist because an end did not migrate)."""
    scope = set(in_scope(project, plan))
    expected: set[LinkKey] = set()
    unmade: list[str] = []
    for ado_id in sorted(scope):
        for rel, other in project.linked_items(ado_id):
            if rel.startswith("System.LinkTypes.Hierarchy") or rel.endswith("-Reverse"):
                continue  # parents are checked on their own; reverse ends are the same links seen from the other side
            if rel == "System.LinkTypes.Related" and other < ado_id:
                continue
            type_name = plan.link_types.get(rel)
            if type_name is None:
                unmade.append(f"ADO #{ado_id} {rel} #{other}: not in the plan's link map")
                continue
            mine, theirs = view.key(ado_id), view.key(other) if other in scope else None
            if not mine or not theirs:
                unmade.append(f"ADO #{ado_id} {rel} #{other}: an end has no Jira issue")
                continue
            if type_name.lower() in UNDIRECTED_TYPES:
                expected.add((type_name, frozenset((mine, theirs))))
            elif SUBJECT_END.get(rel, "self") == "self":
                expected.add((type_name, mine, theirs))
            else:
                expected.add((type_name, theirs, mine))
        parent_id = project.parent_of(ado_id)
        child, parent = view.issue(ado_id), view.issue(parent_id) if parent_id in scope else None
        if child is not None and parent is not None and not _expressible(child, parent):
            expected.add((HIERARCHY_LINK_TYPE, frozenset((child["key"], parent["key"]))))
    return expected, unmade


def actual_links(view: JiraView) -> Counter:
    """Every Jira link once (from its outward end), undirected types as pairs."""
    found: Counter = Counter()
    for issue in view.issues:
        for link in issue.get("links") or []:
            if link["direction"] != "outward":
                continue
            if link["type"].lower() in UNDIRECTED_TYPES:
                found[(link["type"], frozenset((issue["key"], link["other"])))] += 1
            else:
                found[(link["type"], issue["key"], link["other"])] += 1
    return found


def _describe(link: LinkKey, view: JiraView) -> str:
    def name(key: str) -> str:
        labels = [lb for lb in (view.by_key.get(key) or {}).get("labels") or [] if lb.startswith(ADO_LABEL)]
        return f"{key} (ADO #{labels[0][len(ADO_LABEL) :]})" if labels else key

    if len(link) == 2:
        a, b = sorted(link[1]) if len(link[1]) == 2 else (next(iter(link[1])),) * 2
        return f"{name(a)} {link[0].lower()} {name(b)}"
    return f"{name(link[1])} {link[0].lower()} {name(link[2])}"


def check_links(project: GeneratedProject, view: JiraView, plan: MappingPlan) -> list[str]:
    """Every source link once, by type and direction; nothing Jira holds that the source does not."""
    expected, _ = expected_links(project, view, plan)
    actual = actual_links(view)
    out = [f"missing link: {_describe(k, view)}" for k in sorted(expected - set(actual), key=str)]
    out += [f"unexpected link: {_describe(k, view)}" for k in sorted(set(actual) - expected, key=str)]
    out += [f"link {_describe(k, view)} exists {n} times" for k, n in sorted(actual.items(), key=str) if n > 1]
    return out


def check_remote_links(project: GeneratedProject, view: JiraView, plan: MappingPlan) -> list[str]:
    """Hyperlinks by URL, commits and pull requests as browsable links naming them; each once."""
    out = []
    for ado_id in in_scope(project, plan):
        issue = view.issue(ado_id)
        if issue is None:
            continue
        remote = issue.get("remote_links") or []
        urls = Counter(r["url"] for r in remote)
        for url, n in urls.items():
            if n > 1:
                out.append(f"{issue['key']} has remote link {url} {n} times")
            if not url.startswith(("http://", "https://")):
                out.append(f"{issue['key']} has a remote link that is not browsable: {url}")
        wanted = 0
        for rel in project.work_item(ado_id).relations:
            if rel.rel == "Hyperlink":
                wanted += 1
                if rel.url not in urls:
                    out.append(f"{issue['key']} (ADO #{ado_id}) lacks the hyperlink {rel.url}")
            elif rel.rel == "ArtifactLink":
                wanted += 1
                ident = rel.url.rsplit("%2F", 1)[-1]
                kind = "/commit/" if "/Git/Commit/" in rel.url else "/pullrequest/"
                if not any(kind + ident in url for url in urls):
                    out.append(f"{issue['key']} (ADO #{ado_id}) lacks a link to {rel.attributes.get('name')} {ident}")
        if plan.provenance_fields.link_back:
            wanted += 1
            back = [r for r in remote if r["url"].endswith(f"/_workitems/edit/{ado_id}")]
            if [r["title"] for r in back] != [f"ADO #{ado_id}"]:
                out.append(f"{issue['key']} (ADO #{ado_id}) lacks its one link back to ADO: {back}")
        if len(remote) != wanted:
            out.append(f"{issue['key']} (ADO #{ado_id}) has {len(remote)} remote links, expected {wanted}")
    return out


def check_statuses(
    project: GeneratedProject,
    view: JiraView,
    plan: MappingPlan,
    not_transitioned: set[int] = frozenset(),
    initial_status: str = "To Do",
) -> list[str]:
    """Each issue in its mapped status; one whose transition failed (`not_transitioned`) not moved at all."""
    out = []
    for ado_id in in_scope(project, plan):
        issue = view.issue(ado_id)
        if issue is None:
            continue
        state = project.work_item(ado_id).fields["System.State"]
        wanted = initial_status if ado_id in not_transitioned else plan.target_status(project.core(ado_id).type, state)
        if (issue.get("status") or "").casefold() != (wanted or "").casefold():
            out.append(f"{issue['key']} (ADO #{ado_id}, {state}) is {issue.get('status')!r}, expected {wanted!r}")
    return out


def check_structure(
    project: GeneratedProject,
    issues: list[dict],
    plan: MappingPlan | None = None,
    *,
    not_migrated: Iterable[int] = (),
    hierarchy_links: set[int] | None = None,
    not_transitioned: Iterable[int] = (),
    remote_links: bool = True,
) -> list[str]:
    """All structure checks: items once, parents, links, remote links, statuses."""
    plan = plan or default_plan()
    view = JiraView(issues)
    out = check_items_once(project, view, plan, set(not_migrated))
    out += check_parents(project, view, plan, hierarchy_links)
    out += check_links(project, view, plan)
    if remote_links:
        out += check_remote_links(project, view, plan)
    out += check_statuses(project, view, plan, set(not_transitioned))
    return out
