"""Pure helpers of the content phases (attachments, comments): names, markers, and the files
that carry what Jira cannot hold (revision history, truncated originals, comment overflow)."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from migrayt.connectors.adf import AdfContext, html_to_adf
from migrayt.translation.issue_fields import SUMMARY_LIMIT, clean_line

# Jira Cloud refuses comment number 5,001 on an issue; the rest go into one attached file.
JIRA_COMMENT_CAP = 5000
# Jira's own file-name limit is 255 characters.
FILENAME_LIMIT = 255

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_SEPARATORS = re.compile(r"[\\/:\"*?<>|]+")
_ATTACHMENT_PATH = re.compile(
    r"/_apis/wit/attachments/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
)
_MARKER = "Azure DevOps comment id"
_MARKER_RE = re.compile(re.escape(_MARKER) + r" (\d+)")


def sanitise_filename(name: str | None, fallback: str = "attachment") -> str:
    """A name Jira stores as given: no path separators, no control or bidi characters, ≤ 255."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = _CONTROL.sub("", text)
    text = _SEPARATORS.sub("_", text)
    text = " ".join(text.split()).strip(" .")
    if not text:
        text = fallback
    if len(text) > FILENAME_LIMIT:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            text = stem[: FILENAME_LIMIT - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            text = text[:FILENAME_LIMIT]
    return text


def attachment_guid(url: str) -> str | None:
    """The ADO attachment guid an attachment URL (relation or inline image) points at."""
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return None
    match = _ATTACHMENT_PATH.search(path)
    return match.group(1).lower() if match else None


def ado_attachment_src(src: str, organization_url: str) -> str | None:
    """The guid when `src` is an attachment on the source ADO server (absolute or relative), else None."""
    guid = attachment_guid(src)
    if guid is None:
        return None
    try:
        parts, own = urlsplit(src.strip()), urlsplit(organization_url)
    except ValueError:
        return None
    if not parts.netloc:
        return guid
    host, own_host = (parts.hostname or "").lower(), (own.hostname or "").lower()
    if host == own_host and parts.port == own.port:
        return guid
    # dev.azure.com organisations also serve from {org}.visualstudio.com and vice versa.
    if own_host == "dev.azure.com" and host.endswith(".visualstudio.com"):
        return guid
    if own_host.endswith(".visualstudio.com") and host == "dev.azure.com":
        return guid
    return None


def image_file_name(src: str, guid: str) -> str:
    """The file name an inline image carries (ADO puts it in `?fileName=`)."""
    try:
        for key, value in parse_qsl(urlsplit(src).query):
            if key.lower() == "filename" and value.strip():
                return sanitise_filename(value, f"image-{guid}.png")
    except ValueError:
        pass
    return f"image-{guid}.png"


def image_sources(html_text: str) -> list[tuple[str, str]]:
    """Every (src, alt) of an `<img>` the converter would meet, in document order."""
    found: list[tuple[str, str]] = []

    def record(src: str, alt: str) -> None:
        found.append((src, alt))
        return None

    html_to_adf(html_text, AdfContext(image=record))
    return found


# --------------------------------------------------------------------------- descriptions

DESCRIPTION_FIELDS = ("System.Description", "Microsoft.VSTS.TCM.ReproSteps", "Microsoft.VSTS.Common.AcceptanceCriteria")


def description_html(fields: dict[str, Any]) -> str:
    """The HTML the issue description is made of, composed as create-items composes it."""
    return "\n".join(description_parts(fields))


def description_parts(fields: dict[str, Any]) -> list[str]:
    """The description's HTML fields, each to be rendered on its own (see html_parts_to_adf)."""
    title = clean_line(str(fields.get("System.Title") or ""))
    parts = []
    if len(title) > SUMMARY_LIMIT:
        parts.append(f"<p><strong>Title:</strong> {html.escape(title, quote=False)}</p>")
    for name in DESCRIPTION_FIELDS:
        value = fields.get(name)
        if value:
            if name != "System.Description":
                parts.append(f"<h3>{name.rsplit('.', 1)[-1]}</h3>")
            parts.append(str(value))
    return parts


def description_note(ado_id: int, limit: int, rev: int | None = None) -> str:
    return (
        f"Description cut at Jira's {limit:,}-character limit; the full original is attached as "
        f"{description_file_name(ado_id, rev)}."
    )


def description_file_name(ado_id: int, rev: int | None = None) -> str:
    """The migration's own file has no revision; a text a delta sync brings later gets its own file."""
    return f"ado-{ado_id}-description.html" if rev is None else f"ado-{ado_id}-description-rev{rev}.html"


def history_file_name(ado_id: int) -> str:
    return f"ado-{ado_id}-history.html"


def overflow_file_name(ado_id: int, part: int = 1) -> str:
    """Part 1 keeps the name a single overflow file always had, so earlier runs' files stay valid."""
    return f"ado-{ado_id}-comments-overflow.html" if part == 1 else f"ado-{ado_id}-comments-overflow-{part}.html"


def overflow_record_key(ado_id: int, part: int = 1) -> str:
    """Source key of an overflow part's record: part 1 keeps the single file's key (the ADO id)."""
    return str(ado_id) if part == 1 else f"{ado_id}:{part}"


def comment_file_name(ado_id: int, comment_id: int) -> str:
    return f"ado-{ado_id}-comment-{comment_id}.html"


def _page(title: str, body: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
        + html.escape(title)
        + "</title><style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px;vertical-align:top}</style></head><body>\n"
        + body
        + "\n</body></html>\n"
    ).encode("utf-8")


def original_html_file(ado_id: int, source_html: str) -> bytes:
    return _page(f"Azure DevOps work item #{ado_id}: original description", source_html)


# --------------------------------------------------------------------------- revision history


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value or "")


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        name = value.get("displayName") or value.get("name") or ""
        unique = value.get("uniqueName")
        return f"{name} <{unique}>" if unique and unique != name else str(name or value)
    return str(value)


@dataclass
class HistoryEntry:
    rev: int | None
    when: Any  # the time this revision was made
    who: str
    fields: dict[str, dict[str, Any]]
    relations: dict[str, Any] | None = None


def history_file(ado_id: int, entries: Sequence[HistoryEntry]) -> bytes:
    """Who changed which field, when: one readable page, oldest change first."""
    e = lambda v: html.escape(_value(v), quote=False)  # noqa: E731
    rows = []
    for entry in entries:
        changes = [
            (name, change)
            for name, change in sorted(entry.fields.items())
            if name not in ("System.Rev", "System.RevisedDate", "System.AuthorizedDate", "System.Watermark")
        ]
        for kind in ("added", "removed", "updated"):
            for rel in (entry.relations or {}).get(kind) or []:
                label = (rel.get("attributes") or {}).get("name") or rel.get("rel") or "link"
                changes.append((f"Link {kind}", {"newValue": f"{label}: {rel.get('url', '')}"}))
        if not changes:
            changes = [("(no field change)", {})]
        span = len(changes)
        for i, (name, change) in enumerate(changes):
            head = ""
            if i == 0:
                head = (
                    f'<td rowspan="{span}">{entry.rev if entry.rev is not None else ""}</td>'
                    f'<td rowspan="{span}">{html.escape(_when(entry.when))}</td>'
                    f'<td rowspan="{span}">{html.escape(entry.who)}</td>'
                )
            rows.append(
                f"<tr>{head}<td>{html.escape(name)}</td><td>{e(change.get('oldValue'))}</td>"
                f"<td>{e(change.get('newValue'))}</td></tr>"
            )
    body = (
        f"<h1>Revision history of Azure DevOps work item #{ado_id}</h1>\n"
        f"<p>{len(entries)} revisions, oldest first. Values are shown as Azure DevOps stored them.</p>\n"
        "<table><thead><tr><th>Rev</th><th>When</th><th>Changed by</th><th>Field</th><th>Old value</th>"
        "<th>New value</th></tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )
    return _page(f"History of work item #{ado_id}", body)


# --------------------------------------------------------------------------- comments


C = TypeVar("C")  # a comment of any shape: ADO's as read, or a SourceComment


@dataclass
class SourceComment:
    id: int
    author: str
    created: datetime | None
    html: str


def split_at_cap(comments: Sequence[C], cap: int = JIRA_COMMENT_CAP) -> tuple[list[C], list[C]]:
    """(posted as Jira comments, attached as the overflow file), original order kept."""
    cap = max(0, cap)
    return list(comments[:cap]), list(comments[cap:])


def comment_marker(comment_id: int) -> str:
    return f"{_MARKER} {int(comment_id)}"


def comment_header(comment: SourceComment) -> dict[str, Any]:
    """The paragraph that heads a migrated comment: who wrote it and when (Jira stamps the
    migrating account and the migration time), plus the id that makes a re-post detectable.

    The author is plain text, not a mention: a mention would notify everyone whose old
    comments are being copied.
    """
    author = " ".join(_CONTROL.sub("", comment.author or "").split()) or "Unknown author"
    when = _when(comment.created) if comment.created else "an unknown date"
    return {
        "type": "paragraph",
        "content": [
            {"type": "text", "text": author, "marks": [{"type": "strong"}]},
            {"type": "text", "text": f" commented on {when} ({comment_marker(comment.id)})", "marks": [{"type": "em"}]},
        ],
    }


def with_header(comment: SourceComment, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": [comment_header(comment), *(body.get("content") or [])]}


def _texts(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        if node.get("type") == "text":
            yield str(node.get("text", ""))
        for child in node.get("content") or ():
            yield from _texts(child)


def marker_of(body: Any) -> int | None:
    """The ADO comment id in a migrated comment's header paragraph, or None."""
    if not isinstance(body, dict):
        return None
    content = body.get("content") or []
    if not content:
        return None
    match = _MARKER_RE.search("".join(_texts(content[0])))
    return int(match.group(1)) if match else None


# Room an overflow part leaves for its page around the comments (doctype, style, heading, counts,
# the names of the other parts): a few hundred bytes in practice, so the parts stay under the limit.
OVERFLOW_PAGE_MARGIN = 4096


def source_comment(c: Any) -> SourceComment:
    """An ADO comment (connectors.ado) as phase 7 carries it."""
    by = c.created_by
    return SourceComment(
        id=c.id,
        author=(by.display_name or by.unique_name or "") if by else "",
        created=c.created_date,
        html=c.text or "",
    )


def overflow_block(number: int, c: SourceComment) -> str:
    """One comment as the overflow file holds it: what a validation looks for in the attached parts."""
    return (
        f'<div class="comment"><h3>#{number} · {html.escape(c.author or "Unknown author")} · '
        f"{html.escape(_when(c.created))} ({html.escape(comment_marker(c.id))})</h3>\n{c.html}\n</div><hr>"
    )


def split_overflow(comments: Sequence[SourceComment], first_number: int, limit: int) -> list[tuple[int, int]]:
    """[start, end) index ranges of `comments` (numbered from first_number), one per overflow part,
    in order: as many comments as fit in a page under `limit` bytes, at least one each (a comment
    too big on its own gets a part of its own, which Jira may then refuse alone)."""
    budget = max(1, limit - OVERFLOW_PAGE_MARGIN)
    parts: list[tuple[int, int]] = []
    start, size = 0, 0
    for i, c in enumerate(comments):
        # +1: the newline that joins blocks. Measured one comment at a time: nothing is kept.
        n = len(overflow_block(first_number + i, c).encode("utf-8")) + 1
        if i > start and size + n > budget:
            parts.append((start, i))
            start, size = i, 0
        size += n
    if start < len(comments):
        parts.append((start, len(comments)))
    return parts


def overflow_file(
    ado_id: int,
    comments: Sequence[SourceComment],
    first_number: int,
    *,
    part: int = 1,
    parts: int = 1,
    cap: int | None = None,
) -> bytes:
    """Comments past Jira's per-issue cap, numbered from first_number, in original order, with author
    and date: one readable page (part `part` of `parts` when the overflow is split to fit Jira's
    upload limit). `cap`: how many were posted as comments, first_number - 1 unless given."""
    cap = first_number - 1 if cap is None else cap
    last = first_number + len(comments) - 1
    blocks = "\n".join(overflow_block(n, c) for n, c in enumerate(comments, start=first_number))
    head = f"<h1>Comments on Azure DevOps work item #{ado_id} beyond Jira's limit of {cap:,} per issue</h1>\n"
    if parts > 1:
        others = f"{overflow_file_name(ado_id, 1)}, then {overflow_file_name(ado_id, 2)}"
        if parts > 2:
            others += f" to {overflow_file_name(ado_id, parts)}"
        head += (
            f"<p><strong>Part {part} of {parts}</strong>: comments #{first_number:,} to #{last:,} "
            f"({len(comments)} comments), in their original order. The parts are attached as "
            f"{html.escape(others)}.</p>\n"
        )
        title = f"Comments of work item #{ado_id} (overflow, part {part} of {parts})"
    else:
        head += f"<p>{len(comments)} comments (#{first_number:,} to #{last:,}), in their original order.</p>\n"
        title = f"Comments of work item #{ado_id} (overflow)"
    return _page(title, head + blocks)


def comment_original_file(ado_id: int, comment: SourceComment) -> bytes:
    return _page(
        f"Azure DevOps work item #{ado_id}: comment {comment.id}",
        f"<p>{html.escape(comment.author)} · {html.escape(_when(comment.created))}</p>\n{comment.html}",
    )
