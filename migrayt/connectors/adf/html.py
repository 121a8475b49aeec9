"""HTML (as ADO stores it) -> Atlassian Document Format.

Parsing is lexbor's (selectolax), a full HTML5 parser, so broken markup is
repaired the way a browser repairs it. The walk below then maps the DOM onto
ADF: inline elements push marks, block elements close the current paragraph,
and every container's children are coerced to what ADF lets it hold.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from selectolax.lexbor import LexborHTMLParser

from .context import DROP_IMAGE, AdfContext, AdfImage
from .nodes import (
    BLOCKQUOTE_ALLOWED,
    CELL_ALLOWED,
    DOC_ALLOWED,
    HTML_SPACE,
    MarkKey,
    Node,
    block_inlines,
    clean_text,
    coerce_blocks,
    hard_break,
    join_inlines,
    list_item,
    paragraph,
    resolve_marks,
    text_node,
    with_mark,
    without_mark,
)

log = logging.getLogger(__name__)

# Beyond this many nested elements the rest of a subtree is flattened to text
# (iteratively), so hostile nesting cannot exhaust the Python stack and the
# output stays shallow enough for any JSON consumer.
MAX_DEPTH = 80
# Lists nested deeper than this continue as paragraphs inside the deepest item.
MAX_LIST_DEPTH = 12
# Spans larger than this are treated as this (a stray colspan="1000" must not
# turn one row into a thousand cells).
MAX_SPAN = 64

SKIP = frozenset(
    {
        "script",
        "style",
        "head",
        "title",
        "meta",
        "link",
        "base",
        "template",
        "noscript",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "param",
        "applet",
        "svg",
        "math",
        "canvas",
        "audio",
        "video",
        "source",
        "track",
        "map",
        "area",
        "select",
        "datalist",
        "input",
        "xml",
        "noembed",
        "noframes",
    }
)
BLOCK = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "header",
        "footer",
        "main",
        "nav",
        "aside",
        "address",
        "center",
        "form",
        "fieldset",
        "legend",
        "figure",
        "figcaption",
        "details",
        "summary",
        "dl",
        "dt",
        "dd",
        "hgroup",
        "body",
        "html",
        "tr",
        "td",
        "th",
        "thead",
        "tbody",
        "tfoot",
        "caption",
        "colgroup",
        "col",
        "textarea",
        "option",
        "optgroup",
        "output",
        "search",
        "dialog",
    }
)
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
SIMPLE_MARKS = {
    "b": "strong",
    "strong": "strong",
    "i": "em",
    "em": "em",
    "cite": "em",
    "var": "em",
    "dfn": "em",
    "u": "underline",
    "ins": "underline",
    "s": "strike",
    "strike": "strike",
    "del": "strike",
    "code": "code",
    "tt": "code",
    "kbd": "code",
    "samp": "code",
}
PRE = frozenset({"pre", "xmp", "listing", "plaintext"})
SAFE_SCHEMES = frozenset({"http", "https", "mailto", "ftp", "ftps", "sftp", "tel"})

_WORK_ITEM_REF = re.compile(r"(?<![\w#&/])#(\d{1,9})\b")
_WORK_ITEM_URL = re.compile(r"/_(?:workitems/edit/|apis/wit/workitems/|workitems\?(?:[^#]*&)?id=)(\d{1,9})(?!\d)", re.I)
_LANG_CLASS = re.compile(r"(?:^|\s)(?:language|lang)-([\w+#.-]+)", re.I)
_BRUSH = re.compile(r"brush:\s*([\w+#.-]+)", re.I)
_HEX6 = re.compile(r"#([0-9a-f]{6})(?:[0-9a-f]{2})?$", re.I)
_HEX3 = re.compile(r"#([0-9a-f])([0-9a-f])([0-9a-f])[0-9a-f]?$", re.I)
_RGB = re.compile(r"rgba?\(\s*([\d.]+%?)[\s,]+([\d.]+%?)[\s,]+([\d.]+%?)(?:[\s,/]+([\d.]+%?))?\s*\)$", re.I)
_NAMED_COLORS = {
    "red": "#ff0000",
    "green": "#008000",
    "blue": "#0000ff",
    "yellow": "#ffff00",
    "orange": "#ffa500",
    "purple": "#800080",
    "gray": "#808080",
    "grey": "#808080",
    "white": "#ffffff",
    "maroon": "#800000",
    "olive": "#808000",
    "lime": "#00ff00",
    "aqua": "#00ffff",
    "cyan": "#00ffff",
    "teal": "#008080",
    "navy": "#000080",
    "fuchsia": "#ff00ff",
    "magenta": "#ff00ff",
    "silver": "#c0c0c0",
    "brown": "#a52a2a",
    "darkred": "#8b0000",
    "darkgreen": "#006400",
    "darkblue": "#00008b",
    "pink": "#ffc0cb",
    "gold": "#ffd700",
    "darkorange": "#ff8c00",
    "indigo": "#4b0082",
    "violet": "#ee82ee",
}
# Black is every document's default; marking it would only fight Jira's dark theme.
_DEFAULT_COLORS = frozenset({"#000000"})


class _HookError(Exception):
    """Carries an exception raised by a caller's hook past the safety net."""


def html_to_adf(html: Any, context: AdfContext | None = None) -> Node:
    """Convert HTML to an ADF document valid against full.json.

    Never raises for any input. Exceptions raised by `context` hooks propagate.
    """
    try:
        return _Converter(context or AdfContext()).convert(_as_text(html))
    except _HookError as exc:
        raise exc.__cause__ from None  # type: ignore[misc]
    except Exception as exc:  # the promise is "never an exception": degrade to text
        log.warning("html_to_adf fell back to plain text (%s)", type(exc).__name__)
        from .text import plain_text_to_adf

        try:
            tree = LexborHTMLParser(clean_text(_as_text(html)))
            body = tree.body
            return plain_text_to_adf(body.text(separator="\n") if body is not None else "")
        except Exception:
            return {"type": "doc", "version": 1, "content": []}


def html_parts_to_adf(parts: Sequence[Any], context: AdfContext | None = None) -> Node:
    """One document from several HTML fields, each parsed on its own: broken HTML in one (an unterminated
    comment, an open `<script>` or attribute quote) must not swallow the fields after it."""
    content: list[Node] = []
    for part in parts:
        content.extend(html_to_adf(part, context)["content"])
    return {"type": "doc", "version": 1, "content": content}


def work_item_refs(html: Any) -> set[int]:
    """ADO ids referenced as `#123` in `html` (so the engine knows what needs a second pass)."""
    seen: set[int] = set()

    def record(ado_id: int) -> None:
        seen.add(ado_id)
        return None

    # A site URL makes links to ADO work items (…/_workitems/edit/N) count too.
    html_to_adf(html, AdfContext(work_item_key=record, jira_site_url="https://jira.invalid"))
    return seen


def _as_text(html: Any) -> str:
    if html is None:
        return ""
    if isinstance(html, (bytes, bytearray)):
        return bytes(html).decode("utf-8", "replace")
    return html if isinstance(html, str) else str(html)


def _style(attrs: dict[str, str | None]) -> dict[str, str]:
    raw = attrs.get("style")
    if not raw:
        return {}
    out = {}
    for decl in raw.split(";"):
        name, sep, value = decl.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip().lower()
    return out


def css_color(value: str | None) -> str | None:
    """'#rgb', '#rrggbb', 'rgb()', or a common name -> '#rrggbb' (None when not a colour)."""
    if not value:
        return None
    value = value.replace("!important", "").strip().lower()
    if m := _HEX6.match(value):
        return "#" + m.group(1)
    if m := _HEX3.match(value):
        return "#" + "".join(c * 2 for c in m.groups())
    if m := _RGB.match(value):
        channels = []
        for part in m.groups()[:3]:
            number = float(part[:-1]) * 2.55 if part.endswith("%") else float(part)
            channels.append(max(0, min(255, round(number))))
        alpha = m.group(4)
        if alpha is not None:
            a = float(alpha[:-1]) / 100 if alpha.endswith("%") else float(alpha)
            if a == 0:
                return None
        return "#" + "".join(f"{c:02x}" for c in channels)
    return _NAMED_COLORS.get(value)


def safe_href(href: str | None) -> str | None:
    """An absolute URL with a harmless scheme, or None (javascript:, data:, relative...)."""
    if not href:
        return None
    # Browsers ignore whitespace and controls inside a scheme ("java\tscript:"), so must we.
    href = clean_text(href).strip()
    squeezed = HTML_SPACE.sub("", href)
    if squeezed.lower().startswith("www."):
        return "http://" + squeezed
    try:
        parts = urlsplit(squeezed)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in SAFE_SCHEMES:
        return None
    if scheme in ("http", "https", "ftp", "ftps", "sftp") and not parts.netloc:
        return None
    return href if not HTML_SPACE.search(href) else squeezed


class _Sink:
    """Collects blocks; inline content gathers into the paragraph being built."""

    __slots__ = ("blocks", "inlines", "had_break", "stray_list")

    def __init__(self) -> None:
        self.blocks: list[Node] = []
        # Text runs are [text, marks] pairs until flushed; other inlines are nodes.
        self.inlines: list[Any] = []
        self.had_break = False
        self.stray_list: Node | None = None

    def text(self, text: str, marks: MarkKey) -> None:
        """Add whitespace-collapsed text, dropping spaces a browser would not show."""
        if not text:
            return
        inlines = self.inlines
        if text[0] == " ":
            if not inlines:
                text = text[1:]
            else:
                last = inlines[-1]
                if isinstance(last, list):
                    if last[0].endswith(" "):
                        text = text[1:]
                elif last.get("type") == "hardBreak":
                    text = text[1:]
            if not text:
                return
        if inlines:
            last = inlines[-1]
            if isinstance(last, list) and last[1] == marks:
                last[0] += text
                return
        inlines.append([text, marks])

    def node(self, node: Node) -> None:
        self.inlines.append(node)

    def hard_break(self) -> None:
        self.had_break = True
        self.inlines.append(hard_break())

    def block(self, block: Node) -> None:
        self.flush()
        self.blocks.append(block)

    def flush(self) -> None:
        self.stray_list = None
        if not self.inlines:
            if self.had_break:
                # `<div><br></div>`: an intentionally blank line.
                self.blocks.append(paragraph())
                self.had_break = False
            return
        content = _finish_inlines(self.inlines)
        self.inlines = []
        if content or self.had_break:
            self.blocks.append(paragraph(content))
        self.had_break = False

    def finish(self) -> list[Node]:
        self.flush()
        return self.blocks


def _finish_inlines(items: list[Any]) -> list[Node]:
    """Trim spaces before breaks and at the end, drop trailing breaks, build nodes."""
    out: list[Node] = []
    for i, item in enumerate(items):
        if isinstance(item, list):
            text, marks = item
            nxt = items[i + 1] if i + 1 < len(items) else None
            if nxt is None or (not isinstance(nxt, list) and nxt.get("type") == "hardBreak"):
                text = text.rstrip(" ")
            if text:
                out.append(text_node(text, resolve_marks(marks)))
        else:
            out.append(item)
    while out and out[-1]["type"] == "hardBreak":
        out.pop()
    return out


class _Converter:
    def __init__(self, ctx: AdfContext) -> None:
        self.ctx = ctx

    # --- entry -----------------------------------------------------------------

    def convert(self, html: str) -> Node:
        html = clean_text(html)
        content: list[Node] = []
        if html.strip():
            tree = LexborHTMLParser(html)
            root = tree.root
            if root is not None:
                sink = _Sink()
                self._children(root, sink, (), 0, 0)
                content = coerce_blocks(sink.finish(), DOC_ALLOWED)
        return {"type": "doc", "version": 1, "content": content}

    def _hook(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            raise _HookError() from exc

    # --- walk --------------------------------------------------------------------

    def _children(self, node: Any, sink: _Sink, marks: MarkKey, depth: int, ld: int) -> None:
        child = node.first_child
        while child is not None:
            self._node(child, sink, marks, depth, ld)
            child = child.next

    def _node(self, n: Any, sink: _Sink, marks: MarkKey, depth: int, ld: int) -> None:
        tag = n.tag
        if tag == "-text":
            self._text(n.text_content or "", sink, marks)
            return
        if not tag or tag[0] in "-!_#" or tag in SKIP:
            return  # comments, doctype, and content never meant to be read
        if depth >= MAX_DEPTH:
            self._flatten(n, sink, marks)
            return
        attrs = n.attributes
        style = _style(attrs) if "style" in attrs else {}
        if style and (
            style.get("display") == "none"
            or style.get("visibility") == "hidden"
            or style.get("mso-hide") == "all"
            or style.get("mso-list") == "ignore"
        ):
            # Hidden content, and Word's typed-out bullets ("·", "1.") of list paragraphs.
            return
        if "hidden" in attrs:
            return
        depth += 1
        marks = self._style_marks(tag, attrs, style, marks)

        if tag in SIMPLE_MARKS or tag in (
            "span",
            "font",
            "sub",
            "sup",
            "small",
            "big",
            "mark",
            "abbr",
            "q",
            "bdi",
            "bdo",
            "time",
            "label",
            "nobr",
            "wbr",
            "o:p",
        ):
            self._children(n, sink, marks, depth, ld)
        elif tag == "br":
            sink.hard_break()
        elif tag == "a":
            self._anchor(n, attrs, sink, marks, depth, ld)
        elif tag == "img":
            self._image(attrs, sink, marks)
        elif tag in HEADINGS:
            self._heading(n, HEADINGS[tag], sink, marks, depth, ld)
        elif tag in ("ul", "ol", "menu", "dir"):
            sink.flush()
            self._list(n, tag == "ol", attrs, sink, marks, depth, ld)
        elif tag == "li":
            self._stray_item(n, sink, marks, depth, ld)
        elif tag == "table":
            sink.flush()
            self._table(n, sink, marks, depth, ld)
        elif tag in PRE:
            sink.block(self._code_block(n, attrs))
        elif tag == "blockquote":
            sub = _Sink()
            self._children(n, sub, marks, depth, ld)
            content = coerce_blocks(sub.finish(), BLOCKQUOTE_ALLOWED)
            if content:
                sink.block({"type": "blockquote", "content": content})
            else:
                sink.flush()
        elif tag == "hr":
            sink.block({"type": "rule"})
        elif tag == "p" and "mso-list" in style and "level" in style["mso-list"]:
            self._stray_item(n, sink, marks, depth, ld, ordered=_word_list_is_ordered(n))
        elif tag in BLOCK:
            sink.flush()
            self._children(n, sink, marks, depth, ld)
            sink.flush()
        else:
            # Unknown or custom elements (<o:p>, <st1:place>, <custom-tag>): keep their text.
            self._children(n, sink, marks, depth, ld)

    def _text(self, raw: str, sink: _Sink, marks: MarkKey) -> None:
        text = HTML_SPACE.sub(" ", clean_text(raw))
        if not text:
            return
        hook = self.ctx.work_item_key
        if hook is None or "#" not in text or any(m[0] in ("code", "link") for m in marks):
            sink.text(text, marks)
            return
        pos = 0
        for m in _WORK_ITEM_REF.finditer(text):
            key = self._hook(hook, int(m.group(1)))
            if not isinstance(key, str) or not key.strip():
                continue
            sink.text(text[pos : m.start()], marks)
            key = clean_text(key.strip())
            site = (self.ctx.jira_site_url or "").rstrip("/")
            if site:
                sink.node({"type": "inlineCard", "attrs": {"url": f"{site}/browse/{key}"}})
            else:
                sink.text(key, marks)
            pos = m.end()
        sink.text(text[pos:], marks)

    def _flatten(self, top: Any, sink: _Sink, marks: MarkKey) -> None:
        """Too deep to keep structure: emit the subtree's text, blocks as paragraph breaks."""
        stack: list[Any] = [top]
        while stack:
            n = stack.pop()
            if n is None:
                sink.flush()
                continue
            tag = n.tag
            if tag == "-text":
                self._text(n.text_content or "", sink, marks)
                continue
            if not tag or tag[0] in "-!_#" or tag in SKIP:
                continue
            if tag == "br":
                sink.hard_break()
                continue
            if tag == "img":
                self._image(n.attributes, sink, marks)
                continue
            block = (
                tag in BLOCK or tag in HEADINGS or tag in PRE or tag in ("li", "ul", "ol", "table", "blockquote", "hr")
            )
            if block:
                sink.flush()
                stack.append(None)
            children = []
            child = n.first_child
            while child is not None:
                children.append(child)
                child = child.next
            stack.extend(reversed(children))

    # --- inline ------------------------------------------------------------------

    def _style_marks(self, tag: str, attrs: dict, style: dict[str, str], marks: MarkKey) -> MarkKey:
        kind = SIMPLE_MARKS.get(tag)
        if kind:
            marks = with_mark(marks, kind)
        elif tag == "sub" or tag == "sup":
            marks = with_mark(marks, "subsup", tag)
        elif tag == "font":
            color = css_color(attrs.get("color"))
            if color and color not in _DEFAULT_COLORS:
                marks = with_mark(marks, "textColor", color)
        if not style:
            return marks
        weight = style.get("font-weight")
        if weight:
            if weight in ("bold", "bolder") or (weight.isdigit() and int(weight) >= 600):
                marks = with_mark(marks, "strong")
            elif weight in ("normal", "lighter") or weight.isdigit():
                marks = without_mark(marks, "strong")
        font_style = style.get("font-style")
        if font_style:
            if font_style in ("italic", "oblique"):
                marks = with_mark(marks, "em")
            elif font_style == "normal":
                marks = without_mark(marks, "em")
        decoration = style.get("text-decoration") or style.get("text-decoration-line")
        if decoration and tag != "a":
            if "underline" in decoration:
                marks = with_mark(marks, "underline")
            if "line-through" in decoration:
                marks = with_mark(marks, "strike")
            # "none" cannot undo an ancestor's decoration in a browser, so it does not here.
        valign = style.get("vertical-align")
        if valign in ("sub", "super"):
            marks = with_mark(marks, "subsup", "sub" if valign == "sub" else "sup")
        if "color" in style:
            color = css_color(style["color"])
            if color and color not in _DEFAULT_COLORS:
                marks = with_mark(marks, "textColor", color)
            elif color in _DEFAULT_COLORS:
                marks = without_mark(marks, "textColor")
        return marks

    def _anchor(self, n: Any, attrs: dict, sink: _Sink, marks: MarkKey, depth: int, ld: int) -> None:
        mention = attrs.get("data-vss-mention")
        text = (n.text(deep=True) or "").strip()
        if mention is not None and text.startswith("#"):
            # ADO's work item mention (`version:1.0`, text `#123`): the migrated key, not a person.
            number = text[1:].strip()
            key = (
                self._hook(self.ctx.work_item_key, int(number)) if number.isdigit() and self.ctx.work_item_key else None
            )
            sink.text(key if isinstance(key, str) and key else clean_text(text), without_mark(marks, "link"))
            return
        if mention is not None:
            identity = clean_text(mention.rsplit(",", 1)[-1]).strip()
            name = HTML_SPACE.sub(" ", clean_text(n.text(deep=True) or "")).strip().lstrip("@").strip()
            account = None
            if self.ctx.mention is not None and identity:
                account = self._hook(self.ctx.mention, identity, name)
            if isinstance(account, str) and account.strip():
                node: Node = {"type": "mention", "attrs": {"id": clean_text(account.strip())}}
                if name:
                    node["attrs"]["text"] = "@" + name
                sink.node(node)
            elif name:
                sink.text("@" + name, without_mark(marks, "link"))
            return
        href = safe_href(attrs.get("href"))
        if href:
            marks = with_mark(marks, "link", self._work_item_link(href))
        self._children(n, sink, marks, depth, ld)

    def _work_item_link(self, href: str) -> str:
        """A link to an ADO work item points at its Jira issue once that is known."""
        site = (self.ctx.jira_site_url or "").rstrip("/")
        if not site or self.ctx.work_item_key is None:
            return href
        m = _WORK_ITEM_URL.search(href)
        if not m:
            return href
        key = self._hook(self.ctx.work_item_key, int(m.group(1)))
        if not isinstance(key, str) or not key.strip():
            return href
        return f"{site}/browse/{clean_text(key.strip())}"

    def _image(self, attrs: dict, sink: _Sink, marks: MarkKey) -> None:
        src = clean_text(attrs.get("src") or "").strip()
        alt = HTML_SPACE.sub(" ", clean_text(attrs.get("alt") or attrs.get("title") or "")).strip()
        if not src:
            if alt:
                sink.text(f"[image: {alt}]", marks)
            return
        result = None
        if self.ctx.image is not None:
            result = self._hook(self.ctx.image, src, alt)
        if isinstance(result, AdfImage) and result.url:
            media_attrs: dict[str, Any] = {"type": "external", "url": clean_text(result.url)}
            if result.alt or alt:
                media_attrs["alt"] = clean_text(result.alt or alt)
            width = result.width or _int(attrs.get("width"))
            height = result.height or _int(attrs.get("height"))
            if width and height:
                media_attrs["width"] = width
                media_attrs["height"] = height
            sink.block(
                {
                    "type": "mediaSingle",
                    "attrs": {"layout": "center"},
                    "content": [{"type": "media", "attrs": media_attrs}],
                }
            )
            return
        label = alt or _file_name(src) or "image"
        href = safe_href(src)
        if result is DROP_IMAGE or href is None or self.ctx.is_source_url(src):
            sink.text(f"[image: {label}]", without_mark(marks, "link"))
        else:
            sink.text(label, with_mark(marks, "link", href))

    # --- blocks ------------------------------------------------------------------

    def _heading(self, n: Any, level: int, sink: _Sink, marks: MarkKey, depth: int, ld: int) -> None:
        sub = _Sink()
        self._children(n, sub, marks, depth, ld)
        blocks = sub.finish()
        lead: list[list[Node]] = []
        rest: list[Node] = []
        for block in blocks:
            if block["type"] in ("paragraph", "heading") and not rest:
                lead.append(block.get("content") or [])
            else:
                rest.append(block)
        inlines = join_inlines(lead)
        if inlines:
            sink.block({"type": "heading", "attrs": {"level": level}, "content": inlines})
        else:
            sink.flush()
        for block in rest:
            sink.block(block)

    def _list(self, n: Any, ordered: bool, attrs: dict, sink: _Sink, marks: MarkKey, depth: int, ld: int) -> None:
        if ld >= MAX_LIST_DEPTH:
            # Too deep for a list: each item becomes a "• " paragraph in the current container.
            for i, item_blocks in enumerate(self._items(n, marks, depth, ld)):
                prefix = f"{i + 1}. " if ordered else "• "
                inlines = join_inlines(block_inlines(b) for b in item_blocks)
                sink.block(paragraph([text_node(prefix), *inlines]))
            return
        items = [list_item(blocks) for blocks in self._items(n, marks, depth, ld + 1)]
        if not items:
            return
        node: Node = {"type": "orderedList" if ordered else "bulletList", "content": items}
        if ordered:
            start = _int(attrs.get("start"), minimum=0)
            if start is not None and start != 1:
                node["attrs"] = {"order": start}
        sink.block(node)

    def _items(self, n: Any, marks: MarkKey, depth: int, ld: int) -> list[list[Node]]:
        """Blocks of each item; stray content between items joins the item before it."""
        items: list[list[Node]] = []
        loose = _Sink()

        def take_loose() -> None:
            blocks = loose.finish()
            loose.blocks = []
            if not blocks:
                return
            if items:
                items[-1].extend(blocks)
            else:
                items.append(blocks)

        child = n.first_child
        while child is not None:
            if child.tag == "li":
                take_loose()
                sub = _Sink()
                if depth >= MAX_DEPTH:
                    self._flatten(child, sub, marks)
                else:
                    self._children(child, sub, marks, depth + 1, ld)
                items.append(sub.finish())
            else:
                # e.g. ADO's <ul><li>a</li><ul><li>nested</li></ul></ul>
                self._node(child, loose, marks, depth, ld)
            child = child.next
        take_loose()
        return items

    def _stray_item(self, n: Any, sink: _Sink, marks: MarkKey, depth: int, ld: int, ordered: bool = False) -> None:
        """An <li> outside any list (or a Word list paragraph) still reads as a list item;
        consecutive ones share a list."""
        sub = _Sink()
        self._children(n, sub, marks, depth, ld + 1)
        item = list_item(sub.finish())
        kind = "orderedList" if ordered else "bulletList"
        current = sink.stray_list if not sink.inlines else None
        if current is not None and sink.blocks and sink.blocks[-1] is current and current["type"] == kind:
            current["content"].append(item)
            return
        new_list: Node = {"type": kind, "content": [item]}
        sink.block(new_list)
        sink.stray_list = new_list

    def _code_block(self, n: Any, attrs: dict) -> Node:
        language = _language(attrs)
        parts: list[str] = []
        stack: list[Any] = [n.first_child] if n.first_child is not None else []
        # Iterative walk: code blocks keep text verbatim, <br> and block ends are newlines.
        while stack:
            node = stack.pop()
            if node is None:
                parts.append("\n")
                continue
            if node.next is not None:
                stack.append(node.next)
            tag = node.tag
            if tag == "-text":
                parts.append(node.text_content or "")
            elif not tag or tag[0] in "-!_#" or tag in SKIP:
                pass
            elif tag == "br":
                parts.append("\n")
            else:
                if language is None and tag == "code":
                    language = _language(node.attributes)
                if tag in BLOCK or tag in HEADINGS or tag == "li":
                    if parts and not parts[-1].endswith("\n"):
                        parts.append("\n")
                    stack.append(None)
                if node.first_child is not None:
                    stack.append(node.first_child)
        text = clean_text("".join(parts)).replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
        text = text.rstrip("\n")
        block: Node = {"type": "codeBlock", "content": [{"type": "text", "text": text}] if text else []}
        if language:
            block["attrs"] = {"language": language}
        return block

    def _table(self, n: Any, sink: _Sink, marks: MarkKey, depth: int, ld: int) -> None:
        rows: list[tuple[Any, bool]] = []
        caption: list[Node] = []
        child = n.first_child
        while child is not None:
            tag = child.tag
            if tag == "tr":
                rows.append((child, False))
            elif tag in ("thead", "tbody", "tfoot"):
                section_row = child.first_child
                while section_row is not None:
                    if section_row.tag == "tr":
                        rows.append((section_row, tag == "thead"))
                    section_row = section_row.next
            elif tag == "caption":
                sub = _Sink()
                self._children(child, sub, marks, depth + 1, ld)
                caption = sub.finish()
            child = child.next

        for block in caption:
            sink.block(paragraph(join_inlines([block_inlines(block)])) if block["type"] != "paragraph" else block)

        grid: list[list[Node]] = []
        header_rows: list[bool] = []
        covered_until: dict[int, tuple[int, str]] = {}  # column -> (first free row, cell type)
        for r, (tr, in_head) in enumerate(rows):
            row: list[Node] = []
            col = 0

            cell = tr.first_child
            any_cell = False
            while cell is not None:
                tag = cell.tag
                if tag in ("td", "th"):
                    any_cell = True
                    col = _fill_covered(row, col, r, covered_until)
                    cell_attrs = cell.attributes
                    kind = "tableHeader" if tag == "th" or in_head else "tableCell"
                    sub = _Sink()
                    if depth >= MAX_DEPTH:
                        self._flatten(cell, sub, marks)
                    else:
                        self._children(cell, sub, marks, depth + 2, ld)
                    content = coerce_blocks(sub.finish(), CELL_ALLOWED) or [paragraph()]
                    row.append({"type": kind, "content": content})
                    colspan = _int(cell_attrs.get("colspan"), minimum=1) or 1
                    rowspan = _int(cell_attrs.get("rowspan"), minimum=1) or 1
                    colspan, rowspan = min(colspan, MAX_SPAN), min(rowspan, MAX_SPAN, len(rows) - r)
                    for _ in range(colspan - 1):
                        row.append(_empty_cell(kind))
                    if rowspan > 1:
                        for c in range(col, col + colspan):
                            covered_until[c] = (r + rowspan, kind)
                    col += colspan
                cell = cell.next
            col = _fill_covered(row, col, r, covered_until)
            if not any_cell and not row:
                continue
            grid.append(row)
            header_rows.append(all(c["type"] == "tableHeader" for c in row) and bool(row))

        if not grid:
            return
        width = max(len(row) for row in grid)
        table_rows = []
        for row, is_header in zip(grid, header_rows, strict=True):
            kind = "tableHeader" if is_header else "tableCell"
            row.extend(_empty_cell(kind) for _ in range(width - len(row)))
            table_rows.append({"type": "tableRow", "content": row})
        sink.block(
            {
                "type": "table",
                "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
                "content": table_rows,
            }
        )


_ORDERED_MARKER = re.compile(r"^\(?[0-9a-zA-Z]{1,4}[.)]$")


def _word_list_is_ordered(p: Any) -> bool:
    """Word writes the list marker as text in a `mso-list:Ignore` span: "1." means ordered."""
    for span in p.css("span"):
        style = (span.attributes.get("style") or "").replace(" ", "").lower()
        if "mso-list:ignore" in style:
            marker = HTML_SPACE.sub(" ", (span.text(deep=True) or "").replace("\xa0", " ")).strip()
            return bool(_ORDERED_MARKER.match(marker))
    return False


def _empty_cell(kind: str) -> Node:
    return {"type": kind, "content": [paragraph()]}


def _fill_covered(row: list[Node], col: int, r: int, covered_until: dict[int, tuple[int, str]]) -> int:
    """Empty cells where a row-spanning cell above still covers row `r`; returns the next free column."""
    while col in covered_until and covered_until[col][0] > r:
        row.append(_empty_cell(covered_until[col][1]))
        col += 1
    return col


def _int(value: str | None, minimum: int = 1) -> int | None:
    if not value:
        return None
    digits = ""
    for ch in value.strip():
        if not ch.isdigit() or not ch.isascii():
            break
        digits += ch
        if len(digits) > 6:
            break
    if not digits:
        return None
    number = int(digits)
    return number if number >= minimum else None


def _language(attrs: dict) -> str | None:
    for name in ("data-lang", "data-language"):
        value = attrs.get(name)
        if value and value.strip():
            return clean_text(value).strip().lower()
    cls = attrs.get("class") or ""
    if m := _LANG_CLASS.search(cls):
        return clean_text(m.group(1)).lower()
    if m := _BRUSH.search(cls):
        return clean_text(m.group(1)).lower()
    return None


def _file_name(src: str) -> str:
    """The file name an image URL carries (ADO puts it in `?fileName=`)."""
    try:
        parts = urlsplit(src)
    except ValueError:
        return ""
    if parts.scheme.lower() == "data":
        return ""
    for key, value in parse_qsl(parts.query):
        if key.lower() == "filename" and value.strip():
            return value.strip()[:100]
    return unquote(parts.path.rsplit("/", 1)[-1])[:100]
