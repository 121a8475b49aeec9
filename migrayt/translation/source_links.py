"""What an ADO work item's relations become in Jira: issue links (each once) and remote links.

Pure functions: no I/O. ADO stores every work item link at both ends (A `Dependency-Forward` B
on A, B `Dependency-Reverse` A on B); both ends must turn into the same record key and the same
Jira link, whichever batch reads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

HIERARCHY_PREFIX = "System.LinkTypes.Hierarchy"  # parent/child: phase 3's job, not a link here
FORWARD, REVERSE = "-Forward", "-Reverse"

# ADO forward link names read "source <name> target": Successor (target is the source's successor),
# Duplicate (target is a duplicate of the source), Tested By (target tests the source), Affects.
# Jira link types read "subject <outward verb> object": blocks, duplicates, tests, relates to.
# These forward types put the Jira subject at the ADO *target* end; every other type at the source.
SUBJECT_IS_TARGET = frozenset(
    {
        "System.LinkTypes.Duplicate-Forward",  # the duplicate (target) duplicates the original
        "Microsoft.VSTS.Common.TestedBy-Forward",  # the test case (target) tests the story
    }
)
# Jira types without a direction: either end may be the subject, and one link either way is the link.
SYMMETRIC_JIRA_TYPES = frozenset({"relates"})

REMOTE_GLOBAL_ID_MAX = 255


@dataclass(frozen=True)
class SourceLink:
    """One ADO work item link, in its forward (or undirected) form."""

    rel: str  # the forward name, e.g. System.LinkTypes.Dependency-Forward; Related as is
    source: int
    target: int

    @property
    def directed(self) -> bool:
        return self.rel.endswith(FORWARD)

    @property
    def ends(self) -> tuple[int, int]:
        return (min(self.source, self.target), max(self.source, self.target))

    @property
    def record_key(self) -> str:
        """`low:high:rel-as-seen-from-low`: both ADO ends give the same key, and A→B differs from B→A."""
        low, high = self.ends
        rel = self.rel
        if self.directed and self.source != low:
            rel = rel[: -len(FORWARD)] + REVERSE
        return f"{low}:{high}:{rel}"


def canonical_link(item_id: int, rel: str, other_id: int) -> SourceLink:
    """The link as stored on `item_id`, turned to its forward form."""
    if rel.endswith(REVERSE):
        return SourceLink(rel[: -len(REVERSE)] + FORWARD, other_id, item_id)
    if rel.endswith(FORWARD):
        return SourceLink(rel, item_id, other_id)
    low, high = sorted((item_id, other_id))
    return SourceLink(rel, low, high)


def work_item_links(item_id: int, relations: Iterable[tuple[str, int | None]]) -> list[SourceLink]:
    """The non-hierarchy work item links of one item, each once (ADO may repeat a relation)."""
    out: dict[str, SourceLink] = {}
    for rel, other in relations:
        if other is None or other == item_id or rel.startswith(HIERARCHY_PREFIX):
            continue
        link = canonical_link(item_id, rel, other)
        out.setdefault(link.record_key, link)
    return list(out.values())


def owned_by(item_id: int, link: SourceLink, in_work_list: set[int]) -> bool:
    """Exactly one batch writes each link: the lowest end that is in the run's work list.

    An end outside the work list (deleted, or a type the plan skips) never reads the link,
    so the other end owns it.
    """
    owners = [end for end in link.ends if end in in_work_list]
    return bool(owners) and min(owners) == item_id


@dataclass(frozen=True)
class JiraLinkPlan:
    """The Jira link to write for a source link: `subject <outward verb of type> object`."""

    type_name: str
    subject: int  # ADO id of the end Jira shows as the outward side
    object: int
    symmetric: bool


def jira_link_for(link: SourceLink, link_types: Mapping[str, str]) -> JiraLinkPlan | None:
    """The plan's Jira link type for this ADO relation, with the direction turned the right way.

    The plan may name a relation by its forward or its reverse name; None when it names neither.
    """
    type_name = link_types.get(link.rel)
    subject, obj = (link.target, link.source) if link.rel in SUBJECT_IS_TARGET else (link.source, link.target)
    if type_name is None and link.directed:
        reverse = link.rel[: -len(FORWARD)] + REVERSE
        type_name = link_types.get(reverse)
        if type_name is not None:
            # Named by its reverse only: the end that stores the reverse relation is the subject.
            subject, obj = link.target, link.source
    if type_name is None:
        return None
    symmetric = type_name.lower() in SYMMETRIC_JIRA_TYPES or not link.directed
    if symmetric:
        subject, obj = link.ends
    return JiraLinkPlan(type_name, subject, obj, symmetric)


def linked_in_jira(
    issue_links: Iterable[Mapping[str, Any]], type_name: str, other_key: str, *, symmetric: bool
) -> bool:
    """Whether the subject issue's `issuelinks` already hold `subject <type> other` (either way if symmetric).

    In an issue's `issuelinks`, an entry with `outwardIssue` X means "this issue <outward verb> X".
    """
    for entry in issue_links:
        if ((entry.get("type") or {}).get("name") or "").lower() != type_name.lower():
            continue
        outward = (entry.get("outwardIssue") or {}).get("key")
        inward = (entry.get("inwardIssue") or {}).get("key")
        if outward == other_key or (symmetric and inward == other_key):
            return True
    return False


# ------------------------------------------------------------------ remote links


@dataclass(frozen=True)
class RemoteLinkPlan:
    item_id: int
    url: str
    title: str
    global_id: str
    relationship: str

    @property
    def record_key(self) -> str:
        return f"{self.item_id}:{hashlib.sha1(self.global_id.encode()).hexdigest()[:20]}"


class UnknownArtifact(ValueError):
    """An ADO artifact link with no web address Migrayt knows how to build."""


def remote_link_for(
    item_id: int, rel: str, url: str, attributes: Mapping[str, Any], organization_url: str
) -> RemoteLinkPlan | None:
    """A hyperlink or an artifact link as a Jira remote link; None for relations that are not one.

    Raises UnknownArtifact for artifact kinds without a browsable address (the caller reports it).
    """
    if rel == "Hyperlink":
        title = str(attributes.get("comment") or "").strip() or url
        return RemoteLinkPlan(item_id, url, title[:255], _global_id("ado-hyperlink:", url), "Azure DevOps link")
    if rel != "ArtifactLink":
        return None
    web_url, title = artifact_web_link(url, str(attributes.get("name") or ""), organization_url)
    return RemoteLinkPlan(
        item_id, web_url, title[:255], _global_id("", url), "Azure DevOps " + (attributes.get("name") or "artifact")
    )


def artifact_web_link(uri: str, name: str, organization_url: str) -> tuple[str, str]:
    """vstfs:///Git/Commit/{project}%2F{repo}%2F{sha} and friends → (web URL, title)."""
    org = organization_url.rstrip("/")
    prefix = "vstfs:///"
    if not uri.lower().startswith(prefix):
        raise UnknownArtifact(f"artifact link {uri!r} is not a vstfs URI")
    tool, _, rest = uri[len(prefix) :].partition("/")
    kind, _, ident = rest.partition("/")
    parts = unquote(ident).split("/")
    tool, kind = tool.lower(), kind.lower()
    if tool == "git" and kind == "commit" and len(parts) == 3:
        project, repo, sha = parts
        return f"{org}/{project}/_git/{repo}/commit/{sha}", f"{name or 'Commit'} {sha[:10]}"
    if tool == "git" and kind == "pullrequestid" and len(parts) == 3:
        project, repo, pr = parts
        return f"{org}/{project}/_git/{repo}/pullrequest/{pr}", f"{name or 'Pull Request'} {pr}"
    if tool == "git" and kind == "ref" and len(parts) >= 3:
        project, repo, ref = parts[0], parts[1], "/".join(parts[2:])
        branch = ref[2:] if ref.startswith("GB") else ref
        return f"{org}/{project}/_git/{repo}?version=GB{branch}", f"{name or 'Branch'} {branch}"
    if tool == "build" and kind == "build" and parts and parts[-1].isdigit():
        return f"{org}/_build/results?buildId={parts[-1]}", f"{name or 'Build'} {parts[-1]}"
    raise UnknownArtifact(f"artifact link of kind {tool}/{kind} has no web address Migrayt knows how to build")


def _global_id(prefix: str, url: str) -> str:
    """Stable per source link, so posting it again updates the same remote link instead of adding one."""
    candidate = prefix + url
    if len(candidate) <= REMOTE_GLOBAL_ID_MAX:
        return candidate
    return f"{prefix}sha256:{hashlib.sha256(url.encode()).hexdigest()}"
