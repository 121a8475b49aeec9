"""Keep an ADF document under Jira's field limit by cutting at a clean boundary."""

from __future__ import annotations

import json
from typing import Any

from .nodes import Node

JIRA_TEXT_LIMIT = 32767
DEFAULT_NOTE = "… truncated; full original attached as an HTML file"

# Containers that are cut by keeping a prefix of their children, with the minimum
# number of children each needs to stay valid.
_CUTTABLE = {
    "doc": 0,
    "paragraph": 1,
    "heading": 1,
    "bulletList": 1,
    "orderedList": 1,
    "listItem": 1,
    "blockquote": 1,
    "table": 1,
    "tableCell": 1,
    "tableHeader": 1,
}


def adf_char_count(doc: Any) -> int:
    """Size of `doc` the way the Jira sandbox measures it against the 32,767 limit."""
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))


def note_paragraph(note: str) -> Node:
    return {"type": "paragraph", "content": [{"type": "text", "text": note, "marks": [{"type": "em"}]}]}


def fit_adf(doc: Node, limit: int = JIRA_TEXT_LIMIT, note: str = DEFAULT_NOTE) -> tuple[Node, bool]:
    """(doc, False) when it fits; else (a prefix of doc cut at whole blocks, else whole
    text runs, else words + a visible note paragraph, True), at most `limit` long."""
    if adf_char_count(doc) <= limit:
        return doc, False
    note = note or DEFAULT_NOTE
    tail = note_paragraph(note)
    shell = {"type": "doc", "version": 1, "content": [tail]}
    budget = limit - adf_char_count(shell)
    if budget < 0:
        # Not even the note fits: keep as much of the note as does.
        text = _cut_text(note, len(note) + budget)
        return {"type": "doc", "version": 1, "content": [note_paragraph(text)] if text else []}, True
    kept: list[Node] = []
    for block in doc.get("content") or []:
        size = adf_char_count(block) + 1  # the comma before the note
        if size <= budget:
            kept.append(block)
            budget -= size
            continue
        part = _cut(block, budget - 1)
        if part is not None:
            kept.append(part)
        break
    return {"type": "doc", "version": 1, "content": [*kept, tail]}, True


def _cut(node: Any, budget: int) -> Node | None:
    """A prefix of `node` whose serialised size is at most `budget`, or None."""
    if budget <= 0 or not isinstance(node, dict):
        return None
    if adf_char_count(node) <= budget:
        return node
    kind = node.get("type")
    if kind == "text":
        text = node.get("text") or ""
        overhead = adf_char_count({**node, "text": ""})
        cut = _cut_text(text, budget - overhead)
        # Re-check: escaping can make the serialised text longer than its length.
        while cut and adf_char_count({**node, "text": cut}) > budget:
            cut = _cut_text(cut, len(cut) - 1 - (len(cut) // 8))
        return {**node, "text": cut} if cut else None
    if kind == "codeBlock":
        content = node.get("content") or []
        if not content:
            return None
        text = "".join(c.get("text", "") for c in content)
        shell_size = adf_char_count({**node, "content": [{"type": "text", "text": ""}]})
        lines = text.split("\n")
        kept_lines: list[str] = []
        for line in lines:
            candidate = "\n".join([*kept_lines, line])
            if shell_size + len(json.dumps(candidate, ensure_ascii=False)) - 2 > budget:
                break
            kept_lines.append(line)
        kept = "\n".join(kept_lines)
        return {**node, "content": [{"type": "text", "text": kept}]} if kept else None
    minimum = _CUTTABLE.get(kind) if kind is not None else None
    children = node.get("content")
    if minimum is None or not isinstance(children, list):
        return None  # atomic: rows, media, rules, unknown nodes
    remaining = budget - adf_char_count({**node, "content": []})
    kept_children: list[Any] = []
    for child in children:
        size = adf_char_count(child) + (1 if kept_children else 0)
        if size <= remaining:
            kept_children.append(child)
            remaining -= size
            continue
        if kind != "table":  # tables are cut at whole rows only
            part = _cut(child, remaining - (1 if kept_children else 0))
            if part is not None:
                kept_children.append(part)
        break
    if len(kept_children) < max(minimum, 1):
        return None
    if kind == "listItem" and kept_children[0].get("type") not in ("paragraph", "codeBlock", "mediaSingle"):
        return None
    return {**node, "content": kept_children}


def _cut_text(text: str, length: int) -> str:
    """At most `length` characters of text, ending at a word boundary when one is near."""
    if length <= 0:
        return ""
    if len(text) <= length:
        return text
    cut = text[:length]
    space = cut.rfind(" ")
    if space >= length * 0.7:
        cut = cut[:space]
    # Never leave half of a surrogate-free but combining sequence's base: trimming
    # trailing whitespace keeps the boundary clean.
    return cut.rstrip()
