"""ADF <-> plain text: previews and checkers read ADF as text; plain fields become ADF."""

from __future__ import annotations

import re
from typing import Any

from .nodes import Node, clean_text, hard_break, paragraph, text_node

_BLOCKS = frozenset(
    {
        "paragraph",
        "heading",
        "codeBlock",
        "blockquote",
        "rule",
        "table",
        "tableRow",
        "bulletList",
        "orderedList",
        "listItem",
        "mediaSingle",
        "mediaGroup",
        "panel",
        "expand",
        "nestedExpand",
        "taskList",
        "taskItem",
        "decisionList",
        "decisionItem",
        "blockCard",
        "embedCard",
        "layoutSection",
        "layoutColumn",
        "bodiedExtension",
        "extension",
    }
)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_NEWLINES = re.compile(r"\n{2,}")


class _Prefix(str):
    """A list marker: the block that follows starts on the marker's line."""


_NL = object()  # "start a new line unless already at the start of one"


def adf_to_text(doc: Any) -> str:
    """Readable plain text of an ADF document: one line per block, list items "- "/"N. ",
    table cells separated by " | ". Iterative, so any depth is fine."""
    out: list[str] = []
    after_prefix = False
    # Stack entries: a node, _NL, or a literal string to emit when popped.
    stack: list[Any] = [doc]
    while stack:
        item = stack.pop()
        if item is _NL:
            if out and not out[-1].endswith("\n") and not after_prefix:
                out.append("\n")
            continue
        if isinstance(item, str):
            if item:
                out.append(item)
                after_prefix = isinstance(item, _Prefix)
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        raw_attrs = item.get("attrs")
        attrs: dict[str, Any] = raw_attrs if isinstance(raw_attrs, dict) else {}
        if kind == "text":
            stack.append(str(item.get("text", "")))
            continue
        if kind == "hardBreak":
            stack.append("\n")
            continue
        if kind == "mention":
            stack.append(str(attrs.get("text") or "@" + str(attrs.get("id", ""))))
            continue
        if kind == "emoji":
            stack.append(str(attrs.get("text") or attrs.get("shortName") or ""))
            continue
        if kind == "inlineCard":
            stack.append(str(attrs.get("url") or ""))
            continue
        if kind in ("blockCard", "embedCard"):
            stack.extend([_NL, str(attrs.get("url") or ""), _NL])
            continue
        if kind == "media":
            stack.append(str(attrs.get("alt") or attrs.get("url") or "[attachment]"))
            continue
        if kind in ("status", "placeholder", "date"):
            stack.append(str(attrs.get("text") or attrs.get("timestamp") or ""))
            continue
        if kind == "rule":
            stack.extend([_NL, "---", _NL])
            continue
        content = item.get("content")
        children = content if isinstance(content, list) else []
        if kind in ("bulletList", "orderedList"):
            start = _int(attrs.get("order", 1)) if kind == "orderedList" else None
            entries: list[Any] = []
            for i, child in enumerate(children):
                entries.extend([_NL, _Prefix("- " if start is None else f"{start + i}. "), child])
            entries.append(_NL)
            stack.extend(reversed(entries))
            continue
        if kind == "tableRow":
            entries = [_NL]
            for i, child in enumerate(children):
                if i:
                    entries.append(" | ")
                entries.append(_inline_cell(child))
            entries.append(_NL)
            stack.extend(reversed(entries))
            continue
        if kind in _BLOCKS:
            stack.append(_NL)
            stack.extend(reversed(children))
            stack.append(_NL)
            continue
        stack.extend(reversed(children))
    lines = [line.rstrip() for line in "".join(out).split("\n")]
    return _NEWLINES.sub("\n", "\n".join(lines)).strip("\n")


def _inline_cell(cell: Any) -> str:
    return " ".join(adf_to_text(cell).split("\n"))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1


def plain_text_to_adf(text: Any) -> Node:
    """Plain text -> ADF: blank lines separate paragraphs, single newlines are hard breaks,
    spaces are kept as typed."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else str(text)
    text = clean_text(text).replace("\r\n", "\n").replace("\r", "\n")
    content: list[Node] = []
    for chunk in _PARAGRAPH_BREAK.split(text):
        inlines: list[Node] = []
        for line in chunk.split("\n"):
            if inlines:
                inlines.append(hard_break())
            if line:
                inlines.append(text_node(line))
        while inlines and inlines[-1]["type"] == "hardBreak":
            inlines.pop()
        while inlines and inlines[0]["type"] == "hardBreak":
            inlines.pop(0)
        if inlines:
            content.append(paragraph(inlines))
    return {"type": "doc", "version": 1, "content": content}
