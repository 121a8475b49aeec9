"""ADF node builders, text sanitising, and the nesting rules of the ADF schema.

The schema (specs/adf/full.json) decides what may sit where; the converter builds
freely and `coerce_blocks` rewrites whatever a container may not hold into
something it may (a heading in a list item becomes a bold paragraph, a table in
a table cell becomes one paragraph per row, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

Node = dict[str, Any]
# Marks travel as a hashable, canonically ordered tuple of (type, value) pairs.
MarkKey = tuple[tuple[str, str | None], ...]

# C0 controls except tab/newline/carriage return, DEL, C1 controls, and the two
# non-characters that break some JSON consumers.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
HTML_SPACE = re.compile("[ \t\n\r\f]+")


def clean_text(text: str) -> str:
    """Remove control characters and replace unpaired surrogates with U+FFFD."""
    if _SURROGATE.search(text):
        # Joins valid high/low pairs into their character, replaces the rest.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _CONTROL.sub("", text)


# --- marks -------------------------------------------------------------------

MARK_ORDER = ("link", "em", "strong", "strike", "subsup", "underline", "textColor", "code")
_RANK = {name: i for i, name in enumerate(MARK_ORDER)}


def with_mark(marks: MarkKey, kind: str, value: str | None = None) -> MarkKey:
    """`marks` with `kind` set (inner wins over outer)."""
    rest = [m for m in marks if m[0] != kind]
    rest.append((kind, value))
    rest.sort(key=lambda m: _RANK[m[0]])
    return tuple(rest)


def without_mark(marks: MarkKey, kind: str) -> MarkKey:
    return tuple(m for m in marks if m[0] != kind)


@lru_cache(maxsize=4096)
def resolve_marks(marks: MarkKey) -> MarkKey:
    """Apply ADF's combination rule: `code` text may carry only `link` besides."""
    if any(m[0] == "code" for m in marks):
        return tuple(m for m in marks if m[0] in ("link", "code"))
    return marks


def mark_nodes(marks: MarkKey) -> list[Node]:
    out: list[Node] = []
    for kind, value in marks:
        if kind == "link":
            out.append({"type": "link", "attrs": {"href": value}})
        elif kind == "subsup":
            out.append({"type": "subsup", "attrs": {"type": value}})
        elif kind == "textColor":
            out.append({"type": "textColor", "attrs": {"color": value}})
        else:
            out.append({"type": kind})
    return out


def text_node(text: str, marks: MarkKey = ()) -> Node:
    node: Node = {"type": "text", "text": text}
    if marks:
        node["marks"] = mark_nodes(marks)
    return node


def paragraph(content: list[Node] | None = None) -> Node:
    return {"type": "paragraph", "content": content or []}


def hard_break() -> Node:
    return {"type": "hardBreak"}


# --- nesting rules -------------------------------------------------------------

# What each container may hold, from full.json (only node types this converter emits).
DOC_ALLOWED = frozenset(
    {"paragraph", "heading", "bulletList", "orderedList", "codeBlock", "blockquote", "rule", "table", "mediaSingle"}
)
LIST_ITEM_ALLOWED = frozenset({"paragraph", "bulletList", "orderedList", "codeBlock", "mediaSingle"})
# ProseMirror's listItem content is "(paragraph | mediaSingle | codeBlock) (...)*".
LIST_ITEM_FIRST = frozenset({"paragraph", "codeBlock", "mediaSingle"})
BLOCKQUOTE_ALLOWED = frozenset({"paragraph", "bulletList", "orderedList", "codeBlock", "mediaSingle"})
CELL_ALLOWED = frozenset(
    {"paragraph", "heading", "bulletList", "orderedList", "codeBlock", "mediaSingle", "blockquote", "rule"}
)


def _bold(inlines: list[Node]) -> list[Node]:
    out = []
    for node in inlines:
        if node.get("type") == "text":
            marks = node.get("marks") or []
            kinds = {m["type"] for m in marks}
            if "code" not in kinds and "strong" not in kinds:
                marks = sorted(marks + [{"type": "strong"}], key=lambda m: _RANK.get(m["type"], 99))
                node = {**node, "marks": marks}
        out.append(node)
    return out


def coerce_blocks(blocks: Iterable[Node], allowed: frozenset[str]) -> list[Node]:
    """Rewrite blocks a container may not hold into ones it may, keeping the text."""
    out: list[Node] = []
    for block in blocks:
        kind = block["type"]
        if kind in allowed:
            out.append(block)
        elif kind == "heading":
            content = block.get("content") or []
            if content:
                out.append(paragraph(_bold(content)))
        elif kind == "blockquote":
            out.extend(coerce_blocks(block.get("content") or [], allowed))
        elif kind == "table":
            out.extend(table_as_paragraphs(block))
        elif kind == "rule":
            continue
        else:
            inlines = block_inlines(block)
            if inlines:
                out.append(paragraph(inlines))
    return out


def list_item(blocks: list[Node]) -> Node:
    content = coerce_blocks(blocks, LIST_ITEM_ALLOWED)
    if not content or content[0]["type"] not in LIST_ITEM_FIRST:
        content.insert(0, paragraph())
    return {"type": "listItem", "content": content}


def table_as_paragraphs(table: Node) -> list[Node]:
    """One paragraph per row, cells separated by ' | ' (for containers that cannot hold tables)."""
    out = []
    for row in table.get("content") or []:
        inlines: list[Node] = []
        for cell in row.get("content") or []:
            cell_inlines = join_inlines(block_inlines(b) for b in cell.get("content") or [])
            if inlines:
                inlines.append(text_node(" | "))
            inlines.extend(cell_inlines)
        if any(n.get("type") != "text" or n["text"].strip(" |") for n in inlines):
            out.append(paragraph(inlines))
    return out


def join_inlines(groups: Iterable[list[Node]]) -> list[Node]:
    out: list[Node] = []
    for group in groups:
        if not group:
            continue
        if out:
            out.append(hard_break())
        out.extend(group)
    return out


def block_inlines(block: Node) -> list[Node]:
    """The inline content of any block, flattened (lines joined by hard breaks)."""
    kind = block.get("type")
    if kind in ("paragraph", "heading"):
        return list(block.get("content") or [])
    if kind == "codeBlock":
        text = "".join(n.get("text", "") for n in block.get("content") or [])
        return join_inlines([text_node(line, (("code", None),))] if line else [] for line in text.split("\n"))
    if kind in ("bulletList", "orderedList"):
        lines = []
        for i, item in enumerate(block.get("content") or []):
            prefix = f"{i + 1}. " if kind == "orderedList" else "• "
            inner = join_inlines(block_inlines(b) for b in item.get("content") or [])
            lines.append([text_node(prefix), *inner])
        return join_inlines(lines)
    if kind == "table":
        return join_inlines(p["content"] for p in table_as_paragraphs(block))
    if kind == "blockquote":
        return join_inlines(block_inlines(b) for b in block.get("content") or [])
    if kind == "mediaSingle":
        for media in block.get("content") or []:
            attrs = media.get("attrs") or {}
            label = attrs.get("alt") or "image"
            url = attrs.get("url")
            return [text_node(label, (("link", url),) if url else ())]
        return []
    if kind == "rule":
        return []
    return list(block.get("content") or []) if kind else []
