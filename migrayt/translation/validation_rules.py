"""What a validation compares and how it classes a difference. Pure: no I/O.

The expected side of every check is what the migration writes for an ADO item (the same rules:
issue_fields, source_links, content_text); the actual side is the Jira issue as bulkfetch returns it.
A difference is missing, extra, different — or changed in Jira after the migration, when the issue's
changelog (or a comment's update stamp) shows someone other than the migration's user changed that
very thing after the migration wrote it: not a migration error.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from migrayt.contracts.validation import CHECKS, Counts, Difference, DifferenceKind, ValidationStatus
from migrayt.translation.provenance import FACTS
from migrayt.translation.test_steps import STEPS_TABLE_HEADING

_SPACE = re.compile(r"\s+")
_COMMENT_NOTE = re.compile(r"ADO comment (\d+)")

# Changelog field (id or name, lower-case) → the check it can explain.
CHANGELOG_FIELDS: dict[str, frozenset[str]] = {
    "type": frozenset({"issuetype"}),
    "summary": frozenset({"summary"}),
    "description": frozenset({"description"}),
    "status": frozenset({"status"}),
    "assignee": frozenset({"assignee"}),
    "reporter": frozenset({"reporter"}),
    "priority": frozenset({"priority"}),
    "components": frozenset({"components", "component"}),
    "sprint": frozenset({"sprint"}),  # Jira names the field "Sprint" in changelogs, whatever its id
    "parent": frozenset({"parent", "ihierarchy", "parent link", "epic link"}),
    "links": frozenset({"link", "issuelinks"}),
    "remote_links": frozenset({"remoteissuelink", "remote link"}),
    "attachments": frozenset({"attachment"}),
    "comments": frozenset({"comment"}),
    "provenance": frozenset(f.name.lower() for f in FACTS),  # Jira's changelog names a custom field by its name
}


# Work item references: ADO writes #48, the migration turns it into the issue key, which Jira may show as a
# smart link with no text at all. Where a reference points is the links check's business, not the text's.
# An image ADF could not embed is written as a placeholder; the file itself is the attachments check's business.
# Image file names likewise: an inline image is text until its file is attached, then media (no text).
_REFERENCE = re.compile(
    r"#\d+\b|\b[A-Z][A-Z0-9_]+-\d+\b|\[image(?:: [^\]]*)?\]|\S+\.(?:png|jpe?g|gif|svg|bmp|webp)\b", re.IGNORECASE
)


def normalise_text(text: str | None) -> str:
    return _SPACE.sub(" ", text or "").strip()


def where_they_differ(expected: str, actual: str, around: int = 120) -> tuple[str, str]:
    """Both texts around their first difference (after normalising), so a report shows what differs."""
    e, a = comparable_text(expected), comparable_text(actual)
    at = next((i for i, (x, y) in enumerate(zip(e, a, strict=False)) if x != y), min(len(e), len(a)))
    start = max(0, at - around)

    def cut(text: str) -> str:
        part = text[start : at + around]
        return ("…" if start else "") + part + ("…" if at + around < len(text) else "")

    return cut(e), cut(a)


# Where the migration cut a description at Jira's limit it says so; the full original is attached.
CUT_NOTE = "Description cut at Jira's"


def same_description(expected: str, actual: str) -> bool:
    """Equal as text; a cut description (the migration's note ends it) equal as far as it goes. A test case's
    steps table (no Xray on the site) is the Xray plugin's own check, so the text above it is compared."""
    if STEPS_TABLE_HEADING in actual and STEPS_TABLE_HEADING not in expected:
        actual = actual.split(STEPS_TABLE_HEADING, 1)[0]
    if CUT_NOTE in actual or CUT_NOTE in expected:
        # Each side may be cut at its own point (rendering changes lengths): the shorter must begin the longer,
        # compared in whole words, since a cut falls between blocks that normalising may join differently.
        a, b = (_whole_words(comparable_text(t.split(CUT_NOTE, 1)[0])) for t in (expected, actual))
        return a.startswith(b) or b.startswith(a)
    return comparable_text(expected) == comparable_text(actual)


def _whole_words(text: str) -> str:
    return text.rsplit(" ", 1)[0] if " " in text else text


def comparable_text(text: str | None) -> str:
    """Text as two renderings of one source are compared: references and whitespace set aside."""
    return normalise_text(_REFERENCE.sub(" ", text or ""))


def adf_text(doc: Any) -> str:
    """The words of an ADF document (text, mentions, emoji, dates as written), whitespace collapsed."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind == "text":
            out.append(str(node.get("text", "")))
        elif kind in ("mention", "emoji", "status"):
            attrs = node.get("attrs") or {}
            out.append(str(attrs.get("text") or attrs.get("shortName") or ""))
        elif kind in ("hardBreak", "paragraph", "heading", "listItem", "tableCell", "tableHeader", "codeBlock"):
            out.append(" ")
        walk(node.get("content"))
        if kind in ("paragraph", "heading", "listItem", "tableCell", "tableHeader", "codeBlock"):
            out.append(" ")

    walk(doc)
    return normalise_text("".join(out))


# ------------------------------------------------------------------ the two sides of one item


@dataclass(frozen=True)
class LinkEnd:
    """A link as one issue sees it: type, direction (outward: "this <outward verb> other"), the other issue."""

    type: str
    direction: str  # outward | inward | both (symmetric types)
    other: str

    def describe(self) -> str:
        return f"{self.type} {self.direction} {self.other}"


@dataclass(frozen=True)
class FileRef:
    name: str
    size: int | None
    sha256: str | None = None

    def describe(self) -> str:
        return f"{self.name} ({self.size} bytes)" if self.size is not None else self.name


@dataclass(frozen=True)
class CommentRef:
    source_id: int | None  # the ADO comment id (the marker in a migrated comment's header)
    text: str  # normalised, header included
    update_author: str | None = None
    updated: datetime | None = None
    id: str | None = None


@dataclass
class ExpectedIssue:
    ado_id: int
    types: frozenset[str]  # the mapped type, or its sub-task type where the plan nests it
    summary: str
    description: str  # normalised text
    status: str | None
    priority: str | None
    assignee: str | None = None  # accountId; None: not checked (unresolved user, nobody)
    reporter: str | None = None
    components: frozenset[str] | None = None  # component ids; None: not checked
    sprint: int | None = None
    parent: str | None = None  # the ADO parent's issue key, when it has one
    children: frozenset[str] = frozenset()  # the ADO children's issue keys
    links: frozenset[LinkEnd] = frozenset()
    remote_links: frozenset[str] | None = None  # urls; None: not read
    # None: not checked (the plan leaves the phase out, e.g. a structure-only move).
    attachments: tuple[FileRef, ...] | None = ()
    comments: tuple[CommentRef, ...] | None = ()
    # Attachment names the migration writes itself (description original, history, comment files).
    own_file_prefix: str = ""
    # Provenance field id → the value the migration writes; None: not checked (kept in the description panel).
    provenance: dict[str, Any] | None = None


@dataclass
class ActualIssue:
    key: str
    type: str | None
    summary: str
    description: str
    status: str | None
    priority: str | None
    assignee: str | None
    reporter: str | None
    components: frozenset[str]
    sprints: frozenset[int]
    parent: str | None
    links: tuple[LinkEnd, ...]
    attachments: tuple[FileRef, ...]
    comments: tuple[CommentRef, ...]
    remote_links: tuple[str, ...] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)


def _name(value: Any) -> str | None:
    return value.get("name") if isinstance(value, dict) else None


def _account(value: Any) -> str | None:
    return value.get("accountId") if isinstance(value, dict) else None


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value)
    # Jira writes +0000; fromisoformat wants +00:00.
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def link_ends(issuelinks: Iterable[Mapping[str, Any]], symmetric_types: Iterable[str]) -> tuple[LinkEnd, ...]:
    symmetric = {t.lower() for t in symmetric_types}
    out = []
    for entry in issuelinks:
        type_name = (entry.get("type") or {}).get("name") or ""
        if entry.get("outwardIssue"):
            direction, other = "outward", entry["outwardIssue"].get("key")
        elif entry.get("inwardIssue"):
            direction, other = "inward", entry["inwardIssue"].get("key")
        else:
            continue
        if type_name.lower() in symmetric:
            direction = "both"
        out.append(LinkEnd(type_name, direction, str(other)))
    return tuple(out)


def actual_issue(
    key: str,
    fields: Mapping[str, Any],
    *,
    symmetric_types: Iterable[str] = (),
    marker_of: Any = None,
    comments: Sequence[Mapping[str, Any]] | None = None,
    sprint_field: str | None = None,
) -> ActualIssue:
    """A bulkfetch issue as the checks read it. `comments`: every comment, when the field held only a page."""
    sprints = (fields.get(sprint_field) if sprint_field else None) or []
    sprint_ids = frozenset(int(s["id"]) for s in sprints if isinstance(s, dict) and s.get("id") is not None)
    raw_comments = comments if comments is not None else (fields.get("comment") or {}).get("comments") or []
    return ActualIssue(
        key=key,
        type=_name(fields.get("issuetype")),
        summary=str(fields.get("summary") or ""),
        description=adf_text(fields.get("description")),
        status=_name(fields.get("status")),
        priority=_name(fields.get("priority")),
        assignee=_account(fields.get("assignee")),
        reporter=_account(fields.get("reporter")),
        components=frozenset(str(c.get("id")) for c in fields.get("components") or [] if isinstance(c, dict)),
        sprints=sprint_ids,
        parent=(fields.get("parent") or {}).get("key"),
        links=link_ends(fields.get("issuelinks") or [], symmetric_types),
        attachments=tuple(
            FileRef(str(a.get("filename")), a.get("size"))
            for a in fields.get("attachment") or []
            if isinstance(a, dict)
        ),
        comments=tuple(
            CommentRef(
                source_id=marker_of(c.get("body")) if marker_of else None,
                text=adf_text(c.get("body")),
                update_author=_account(c.get("updateAuthor")) or _account(c.get("author")),
                updated=parse_time(c.get("updated") or c.get("created")),
                id=str(c.get("id")) if c.get("id") is not None else None,
            )
            for c in raw_comments
        ),
    )


# ------------------------------------------------------------------ comparing


def compare_issue(expected: ExpectedIssue, actual: ActualIssue, *, deep: bool = False) -> list[Difference]:
    """Every difference between what the migration writes for one item and its Jira issue."""
    out: list[Difference] = []
    at = {"ado_id": expected.ado_id, "jira_key": actual.key}

    def diff(check: str, kind: DifferenceKind, exp: Any, act: Any, note: str | None = None) -> None:
        out.append(
            Difference(
                check=check,
                kind=kind,
                expected=None if exp is None else str(exp),
                actual=None if act is None else str(act),
                note=note,
                **at,
            )
        )

    if actual.type not in expected.types:
        diff("type", DifferenceKind.DIFFERENT, " or ".join(sorted(expected.types)), actual.type)
    if actual.summary != expected.summary:
        diff("summary", DifferenceKind.DIFFERENT, expected.summary, actual.summary)
    if not same_description(expected.description, actual.description):
        diff("description", DifferenceKind.DIFFERENT, *where_they_differ(expected.description, actual.description))
    if expected.status is not None and actual.status != expected.status:
        diff("status", DifferenceKind.DIFFERENT, expected.status, actual.status)
    if expected.priority is not None and actual.priority != expected.priority:
        diff("priority", DifferenceKind.DIFFERENT, expected.priority, actual.priority)
    if expected.assignee is not None and actual.assignee != expected.assignee:
        diff("assignee", DifferenceKind.DIFFERENT, expected.assignee, actual.assignee)
    if expected.reporter is not None and actual.reporter != expected.reporter:
        diff("reporter", DifferenceKind.DIFFERENT, expected.reporter, actual.reporter)
    if expected.components is not None and actual.components != expected.components:
        diff("components", DifferenceKind.DIFFERENT, sorted(expected.components), sorted(actual.components))
    if expected.sprint is not None and expected.sprint not in actual.sprints:
        diff("sprint", DifferenceKind.MISSING, expected.sprint, sorted(actual.sprints) or None)
    out += _parent(expected, actual, diff)
    out += [d for d in _links(expected, actual)]
    out += _remote_links(expected, actual)
    out += _files(expected, actual, deep)
    out += _comments(expected, actual)
    out += _provenance(expected, actual)
    return out


def _provenance(expected: ExpectedIssue, actual: ActualIssue) -> list[Difference]:
    out: list[Difference] = []
    for fid, want in sorted((expected.provenance or {}).items()):
        have = actual.provenance.get(fid)
        if same_value(want, have):
            continue
        kind = DifferenceKind.MISSING if have in (None, "") else DifferenceKind.DIFFERENT
        out.append(
            _d("provenance", kind, expected, actual, f"{fid}: {want}", None if have is None else f"{fid}: {have}")
        )
    return out


def same_value(want: Any, have: Any) -> bool:
    """Equal as a field shows it: date-times to the second in UTC, numbers as numbers."""
    if want in (None, "") or have in (None, ""):
        return want in (None, "") and have in (None, "")
    when, then = parse_time(want), parse_time(have)
    if when is not None and then is not None and when.tzinfo and then.tzinfo:
        return when.astimezone(UTC).replace(microsecond=0) == then.astimezone(UTC).replace(microsecond=0)
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        try:
            return float(want) == float(have)
        except (TypeError, ValueError):
            return False
    return str(want) == str(have)


def _parent(expected: ExpectedIssue, actual: ActualIssue, diff: Any) -> list[Difference]:
    if actual.parent is not None and actual.parent != expected.parent:
        diff("parent", DifferenceKind.DIFFERENT, expected.parent, actual.parent)
    elif expected.parent is not None and actual.parent is None:
        # Where Jira cannot nest the two, the migration links them instead.
        if not any(link.other == expected.parent for link in actual.links):
            diff("parent", DifferenceKind.MISSING, expected.parent, None)
    return []


def _links(expected: ExpectedIssue, actual: ActualIssue) -> list[Difference]:
    out = []
    have = Counter(actual.links)
    wanted = set(expected.links)
    # The link that stands in for a parent (or child) Jira cannot nest is expected too.
    family = {expected.parent, *expected.children} - {None}
    allowed = wanted | {link for link in have if link.other in family}
    for link in sorted(wanted - set(have), key=LinkEnd.describe):
        out.append(_d("links", DifferenceKind.MISSING, expected, actual, link.describe(), None))
    for link in sorted(set(have) - allowed, key=LinkEnd.describe):
        out.append(_d("links", DifferenceKind.EXTRA, expected, actual, None, link.describe()))
    for link, n in sorted(have.items(), key=lambda kv: kv[0].describe()):
        if n > 1:
            out.append(_d("links", DifferenceKind.EXTRA, expected, actual, link.describe(), f"{n} times"))
    return out


def _remote_links(expected: ExpectedIssue, actual: ActualIssue) -> list[Difference]:
    if expected.remote_links is None or actual.remote_links is None:
        return []
    out = []
    have = Counter(actual.remote_links)
    for url in sorted(expected.remote_links - set(have)):
        out.append(_d("remote_links", DifferenceKind.MISSING, expected, actual, url, None))
    for url in sorted(set(have) - expected.remote_links):
        out.append(_d("remote_links", DifferenceKind.EXTRA, expected, actual, None, url))
    return out


def _files(expected: ExpectedIssue, actual: ActualIssue, deep: bool) -> list[Difference]:
    if expected.attachments is None:
        return []
    out = []
    unmatched = list(actual.attachments)
    for want in expected.attachments:
        same_name = [a for a in unmatched if a.name == want.name]
        exact = [a for a in same_name if want.size is None or a.size == want.size]
        if deep and want.sha256:
            exact = [a for a in exact if a.sha256 == want.sha256]
        if exact:
            unmatched.remove(exact[0])
        elif same_name:
            unmatched.remove(same_name[0])
            got = same_name[0]
            note = "sha-256 differs" if deep and got.size == want.size else None
            out.append(
                _d("attachments", DifferenceKind.DIFFERENT, expected, actual, want.describe(), got.describe(), note)
            )
        else:
            out.append(_d("attachments", DifferenceKind.MISSING, expected, actual, want.describe(), None))
    for extra in unmatched:
        if expected.own_file_prefix and extra.name.startswith(expected.own_file_prefix):
            continue  # a file the migration writes itself (description original, history, comments)
        out.append(_d("attachments", DifferenceKind.EXTRA, expected, actual, None, extra.describe()))
    return out


def _comments(expected: ExpectedIssue, actual: ActualIssue) -> list[Difference]:
    if expected.comments is None:
        return []
    out = []
    by_source: dict[int | None, CommentRef] = {c.source_id: c for c in actual.comments if c.source_id is not None}
    # A comment whose header (and so its ADO id) was edited away is the same comment changed, not one lost.
    unmarked = [c for c in actual.comments if c.source_id is None]
    for want in expected.comments:
        got = by_source.get(want.source_id)
        if got is None and unmarked:
            got = unmarked.pop(0)
            by_source[want.source_id] = got
        if got is None:
            out.append(_d("comments", DifferenceKind.MISSING, expected, actual, f"ADO comment {want.source_id}", None))
        elif comparable_text(got.text) != comparable_text(want.text):
            out.append(
                _d(
                    "comments",
                    DifferenceKind.DIFFERENT,
                    expected,
                    actual,
                    *where_they_differ(want.text, got.text),
                    f"ADO comment {want.source_id}" + (f", Jira comment {got.id}" if got.id else ""),
                )
            )
    known = {w.source_id for w in expected.comments if w.source_id is not None}
    order_wanted = [c.source_id for c in expected.comments if c.source_id is not None and c.source_id in by_source]
    order_have = [c.source_id for c in actual.comments if c.source_id is not None and c.source_id in known]
    if order_wanted != order_have and sorted(order_wanted) == sorted(order_have):
        out.append(_d("comments", DifferenceKind.DIFFERENT, expected, actual, order_wanted, order_have, "order"))
    for c in actual.comments:
        if c.source_id is not None and c.source_id not in known:
            out.append(_d("comments", DifferenceKind.EXTRA, expected, actual, None, f"ADO comment {c.source_id}"))
    return out


def _d(
    check: str,
    kind: DifferenceKind,
    expected: ExpectedIssue,
    actual: ActualIssue,
    exp: Any,
    act: Any,
    note: str | None = None,
) -> Difference:
    return Difference(
        check=check,
        kind=kind,
        ado_id=expected.ado_id,
        jira_key=actual.key,
        expected=None if exp is None else str(exp),
        actual=None if act is None else str(act),
        note=note,
    )


# ------------------------------------------------------------------ the files that carry what Jira cannot hold

# The migration's own files: a cut description's original (a delta sync's later text gets a -revN file) and the
# comments past Jira's per-issue cap (split into numbered parts when one file would pass the upload limit).
DESCRIPTION_ORIGINAL_NAME = re.compile(r"ado-(\d+)-description(?:-rev\d+)?\.html")
OVERFLOW_NAME = re.compile(r"ado-(\d+)-comments-overflow(?:-\d+)?\.html")


def own_files(ado_id: int, attachments: Iterable[Mapping[str, Any]], pattern: re.Pattern[str]) -> list[Mapping]:
    """The item's attachments (bulkfetch entries) named as the migration names the files `pattern` matches."""
    out = []
    for a in attachments:
        match = pattern.fullmatch(str(a.get("filename") or ""))
        if match and int(match.group(1)) == ado_id:
            out.append(a)
    return out


def cut_description_differences(
    ado_id: int, jira_key: str, original: bytes, attached: Mapping[str, bytes | None], file_name: str
) -> list[Difference]:
    """A cut description is whole only with its original attached, byte for byte as the migration writes it.

    `attached`: the item's original files by name, their bytes (None: not read, its size already differs)."""
    at = {"check": "description", "ado_id": ado_id, "jira_key": jira_key}
    if not attached:
        return [
            Difference(
                **at,
                kind=DifferenceKind.MISSING,
                expected=file_name,
                note="the description was cut at Jira's limit and its original is not attached",
            )
        ]
    if any(data == original for data in attached.values()):
        return []
    return [
        Difference(
            **at,
            kind=DifferenceKind.DIFFERENT,
            expected=f"{file_name} ({len(original)} bytes)",
            actual=", ".join(sorted(attached)),
            note="the description was cut at Jira's limit and the attached original differs from the ADO text",
        )
    ]


def overflow_differences(
    ado_id: int,
    jira_key: str,
    blocks: Sequence[tuple[int, str]],
    attached: Mapping[str, bytes],
    cap: int,
    file_name: str,
) -> list[Difference]:
    """Comments past the per-issue cap are whole when each one's block (id, html) is in the attached overflow files:
    one difference for a file not attached at all, else one per comment it does not hold as written."""
    if not blocks:
        return []
    at = {"check": "comments", "ado_id": ado_id, "jira_key": jira_key}
    past_cap = f"past Jira's cap of {cap:,} comments per issue"
    if not attached:
        return [
            Difference(
                **at,
                kind=DifferenceKind.MISSING,
                expected=f"{len(blocks)} comments in {file_name}",
                note=f"{past_cap}: no overflow file attached",
            )
        ]
    text = "\n".join(data.decode("utf-8", "replace") for data in attached.values())
    return [
        Difference(
            **at,
            kind=DifferenceKind.DIFFERENT,
            expected=f"comment {comment_id} in the overflow file",
            actual=", ".join(sorted(attached)),
            note=f"{past_cap}: not in the attached overflow file as the ADO comment reads",
        )
        for comment_id, block in blocks
        if block not in text
    ]


# ------------------------------------------------------------------ changed in Jira after the migration


@dataclass(frozen=True)
class Change:
    """One changelog entry, as far as the classification needs it."""

    author: str | None
    created: datetime | None
    fields: frozenset[str]  # field ids and names, lower-case


def changes_from_changelog(values: Iterable[Mapping[str, Any]]) -> list[Change]:
    out = []
    for entry in values:
        names: set[str] = set()
        for item in entry.get("items") or []:
            for key in ("fieldId", "field"):
                if item.get(key):
                    names.add(str(item[key]).lower())
        out.append(Change(_account(entry.get("author")), parse_time(entry.get("created")), frozenset(names)))
    return out


def changed_by_others(
    check: str, changes: Iterable[Change], migration_account: str | None, written_at: datetime | None
) -> bool:
    """Whether someone other than the migration's user changed what `check` compares after `written_at`."""
    fields = CHANGELOG_FIELDS.get(check, frozenset())
    for change in changes:
        if change.author is None or change.author == migration_account:
            continue
        if written_at is not None and change.created is not None and change.created <= written_at:
            continue
        if change.fields & fields:
            return True
    return False


def classify(
    differences: Iterable[Difference],
    changes: Iterable[Change],
    migration_account: str | None,
    written_at: datetime | None,
    comments: Iterable[CommentRef] = (),
) -> list[Difference]:
    """The differences, those explained by someone else's later edit re-classed as changed after."""
    changes = list(changes)
    by_source = {c.source_id: c for c in comments if c.source_id is not None}
    out = []
    for d in differences:
        other = changed_by_others(d.check, changes, migration_account, written_at)
        if not other and d.check == "comments" and d.kind == DifferenceKind.DIFFERENT:
            # Jira's changelog does not log comment edits; the comment's own update stamp does.
            match = _COMMENT_NOTE.match(d.note or "")
            edited = by_source.get(int(match.group(1))) if match else None
            other = bool(
                edited
                and edited.update_author not in (None, migration_account)
                and (written_at is None or edited.updated is None or edited.updated > written_at)
            )
        out.append(d.model_copy(update={"kind": DifferenceKind.CHANGED_AFTER}) if other else d)
    return out


# ------------------------------------------------------------------ the verdict


def count(differences: Iterable[Difference]) -> Counts:
    out: Counts = {}
    for d in differences:
        kinds = out.setdefault(d.check, {})
        kinds[d.kind.value] = kinds.get(d.kind.value, 0) + 1
    return out


def errors_of(kinds: Mapping[str, int]) -> int:
    """Differences of a check that are migration errors (a later edit by someone else is not one)."""
    return sum(n for kind, n in kinds.items() if kind != DifferenceKind.CHANGED_AFTER.value)


def verdict(counts: Counts, tolerances: Mapping[str, int]) -> ValidationStatus:
    """PASSED when every check's errors are within its tolerance (0 unless set), as ScyllaDB Migrator's validator."""
    for check, kinds in counts.items():
        if errors_of(kinds) > tolerances.get(check, 0):
            return ValidationStatus.FAILED
    return ValidationStatus.PASSED


def parse_tolerances(pairs: Iterable[str]) -> dict[str, int]:
    """`check=N` pairs (the CLI's --tolerance) → {check: N}; unknown checks and bad numbers are errors."""
    out: dict[str, int] = {}
    for pair in pairs:
        check, sep, number = pair.partition("=")
        check = check.strip()
        if not sep or check not in CHECKS or not number.strip().isdigit():
            raise ValueError(f"tolerance {pair!r}: expected CHECK=N with CHECK one of {', '.join(CHECKS)}")
        out[check] = int(number)
    return out


@dataclass
class SideBySide:
    """Helper for the item check: what the records and the identity say about one ADO id."""

    ado_id: int
    record_key: str | None = None
    identity_keys: list[str] = field(default_factory=list)


def item_differences(side: SideBySide, fetched: set[str]) -> tuple[str | None, list[Difference]]:
    """(the Jira key to compare the item with, item-level differences) for one in-scope ADO item."""
    out = []
    present = [k for k in side.identity_keys if k in fetched]
    key = side.record_key if side.record_key in fetched else None
    if key is None and present:
        key = present[0]
    if key is None:
        expected = side.record_key or "an issue"
        note = "recorded as migrated, gone from Jira" if side.record_key else "never migrated"
        out.append(
            Difference(
                check="items",
                kind=DifferenceKind.MISSING,
                ado_id=side.ado_id,
                jira_key=side.record_key,
                expected=expected,
                note=note,
            )
        )
        return None, out
    for other in present:
        if other != key:
            out.append(
                Difference(
                    check="items",
                    kind=DifferenceKind.EXTRA,
                    ado_id=side.ado_id,
                    jira_key=other,
                    expected=key,
                    actual=other,
                    note="a second issue for the same ADO item",
                )
            )
    return key, out


__all__ = [
    "CHECKS",
    "ActualIssue",
    "Change",
    "CommentRef",
    "ExpectedIssue",
    "FileRef",
    "LinkEnd",
    "SideBySide",
    "actual_issue",
    "adf_text",
    "changes_from_changelog",
    "classify",
    "compare_issue",
    "count",
    "item_differences",
    "parse_tolerances",
    "verdict",
]
