"""html_to_adf on a corpus of ADO-like HTML: always schema-valid, and what a reader sees survives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

try:
    from test_adf_schema import assert_valid
except ImportError:  # tests/unit turned into a package
    from .test_adf_schema import assert_valid

from migrayt.connectors.adf import (
    DROP_IMAGE,
    MAX_LIST_DEPTH,
    AdfContext,
    AdfImage,
    adf_to_text,
    html_to_adf,
    plain_text_to_adf,
    work_item_refs,
)

CORPUS = Path(__file__).parent / "adf_corpus"
CORPUS_FILES = sorted(CORPUS.glob("*.html"))

JIRA_ATTACHMENT = "https://fabrikam.atlassian.net/rest/api/3/attachment/content/{}"
ACCOUNTS = {"6d5e4c3b-2a19-4f8e-9d7c-1b2a3c4d5e6f": "5b10ac8d82e05b22cc7d4ef5"}
KEYS = {12: "FAB-112", 34: "FAB-134", 56: "FAB-156", 4512: "FAB-4512"}


def engine_context(**overrides: Any) -> AdfContext:
    """The hooks as the run engine wires them: mapped users, migrated items, re-hosted images."""

    def image(src: str, alt: str) -> AdfImage | None:
        if "fileName=image.png" in src or "fileName=cell.png" in src:
            return AdfImage(url=JIRA_ATTACHMENT.format(10001), alt=alt)
        return None

    ctx = AdfContext(
        mention=lambda identity, name: ACCOUNTS.get(identity),
        work_item_key=KEYS.get,
        image=image,
        drop_source_host="dev.azure.com",
    )
    for name, value in overrides.items():
        setattr(ctx, name, value)
    return ctx


@cache
def _converted(name: str) -> str:
    html = (CORPUS / name).read_text(encoding="utf-8")
    return json.dumps(html_to_adf(html, engine_context()))


def convert(name: str) -> dict:
    """Each corpus file converted once per session (the big ones are not free to validate)."""
    return json.loads(_converted(name))


def nodes(doc: Any, kind: str | None = None) -> Iterator[dict]:
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if kind is None or node.get("type") == kind:
                yield node
            stack.extend(reversed(node.get("content") or []))


def texts(doc: dict) -> list[dict]:
    return list(nodes(doc, "text"))


def marks_of(node: dict) -> dict[str, dict]:
    return {m["type"]: m.get("attrs", {}) for m in node.get("marks", [])}


def text_with(doc: dict, fragment: str) -> dict:
    for node in texts(doc):
        if fragment in node["text"]:
            return node
    raise AssertionError(f"{fragment!r} not in {adf_to_text(doc)!r}")


def max_list_depth(doc: dict) -> int:
    best = 0
    stack = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        if node.get("type") in ("bulletList", "orderedList"):
            depth += 1
            best = max(best, depth)
        stack.extend((child, depth) for child in node.get("content") or [] if isinstance(child, dict))
    return best


# --- every corpus file -----------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_file_converts_to_schema_valid_adf(path: Path) -> None:
    doc = convert(path.name)
    assert doc["type"] == "doc" and doc["version"] == 1
    assert_valid(doc)


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_file_without_hooks_is_valid_too(path: Path) -> None:
    if path.stat().st_size > 50_000:
        pytest.skip("the big files are covered with hooks; no hook-specific output in them")
    assert_valid(html_to_adf(path.read_text(encoding="utf-8")))


def test_the_corpus_covers_every_construct() -> None:
    names = {p.stem for p in CORPUS_FILES}
    assert {
        "ado_bug_repro",
        "ado_table_merged",
        "nested_lists_10",
        "broken_markup",
        "word_pasted",
        "emoji_rtl",
        "control_chars",
        "long_description_100kb",
        "table_10000_cells",
        "deep_nesting",
        "code_blocks",
        "mentions_refs",
        "images",
        "scripts_styles",
        "formatting",
        "whitespace",
        "empty",
    } <= names
    assert (CORPUS / "long_description_100kb.html").stat().st_size >= 100_000


# --- what a reader sees ------------------------------------------------------------


def test_ado_bug_description_keeps_its_structure() -> None:
    doc = convert("ado_bug_repro.html")
    steps = next(nodes(doc, "orderedList"))
    assert len(steps["content"]) == 3
    assert marks_of(text_with(doc, "Save")) == {"strong": {}}
    assert marks_of(text_with(doc, "Fabrikam Fiber")) == {"em": {}}
    assert marks_of(text_with(doc, "User Story"))["textColor"] == {"color": "#0078d4"}
    assert marks_of(text_with(doc, "Ctrl+S")) == {"code": {}}
    link = marks_of(text_with(doc, "long-title.txt"))["link"]
    assert link["href"].startswith("https://dev.azure.com/contoso/Fabrikam/_git/web")
    # Known reference mapped, unknown ones left alone.
    assert "see FAB-4512 and #4513 (maybe related to #99)" in adf_to_text(doc)
    # "Expected:" and "Actual:" stay on separate lines of one paragraph.
    para = next(p for p in nodes(doc, "paragraph") if "hardBreak" in json.dumps(p))
    assert [n["type"] for n in para["content"]].count("hardBreak") == 1
    # The javascript: link keeps its text, loses its href.
    assert "javascript" not in json.dumps(doc)
    assert "Logs: click me" in adf_to_text(doc)
    # Blank lines (<div><br></div>) stay blank lines.
    assert {"type": "paragraph", "content": []} in doc["content"]


def test_table_with_merged_cells_and_ragged_rows_is_a_rectangle() -> None:
    doc = convert("ado_table_merged.html")
    table = next(nodes(doc, "table"))
    rows = table["content"]
    assert len(rows) == 6
    widths = {len(r["content"]) for r in rows}
    assert widths == {5}, "ragged rows padded to the widest (the 'extra cell' row has 5)"
    assert [c["type"] for c in rows[0]["content"]] == ["tableHeader"] * 5
    assert all(c["type"] == "tableCell" for r in rows[1:] for c in r["content"])
    cell_text = [[adf_to_text(c) for c in r["content"]] for r in rows]
    assert cell_text[1][:4] == ["Checkout", "Card payment", "Pass", "Pass"]
    # rowspan=3: "Checkout" once, the slots below it empty, neighbours in their columns.
    assert cell_text[2][:4] == ["", "PayPal", "Blocked by sandbox outage", ""]
    assert cell_text[3][:3] == ["", "Gift card", "Fail"]
    assert cell_text[4] == ["Refunds", "Partial refund", "Pass", "Pass", "extra cell"]
    assert cell_text[5][0] == "Signed off by QA on 2024-03-02"
    assert "Release 24.2 sign-off" in adf_to_text(doc)
    # A table inside a cell cannot be a table in ADF: its rows become text, nothing lost.
    nested = list(nodes(doc, "table"))[1]
    assert "inner A | inner B" in adf_to_text(nested)
    assert next(nodes(nested, "bulletList"))["content"][1]["content"][0]["content"][0]["text"] == "two"


def test_nested_lists_ten_deep_stay_nested() -> None:
    doc = convert("nested_lists_10.html")
    assert max_list_depth(doc) >= 10
    text = adf_to_text(doc)
    for level in range(1, 11):
        assert f"Level {level} item A" in text and f"Level {level} item B" in text
    ordered = next(nodes(doc, "orderedList"))
    assert ordered["attrs"] == {"order": 5}
    items = ordered["content"]
    # Every listItem starts with a paragraph (ADF's rule), even when the HTML began with a list.
    for item in nodes(doc, "listItem"):
        assert item["content"][0]["type"] in ("paragraph", "codeBlock", "mediaSingle")
    assert items[1]["content"][1]["type"] == "bulletList"
    # Heading and table inside an item flattened to what a list item may hold.
    third = items[2]["content"]
    assert third[0]["content"][0]["marks"] == [{"type": "strong"}]
    assert "t1 | t2" in adf_to_text({"type": "doc", "content": third})
    assert third[-1]["type"] == "codeBlock"
    # Stray <li>s outside any list become one list.
    stray = [b for b in doc["content"] if b["type"] == "bulletList"][-1]
    assert [adf_to_text(i) for i in stray["content"]] == ["stray item one", "stray item two"]


def test_deep_nesting_is_flattened_not_a_crash() -> None:
    doc = convert("deep_nesting.html")
    text = adf_to_text(doc)
    for words in ("bottom of the well", "deeply formatted", "quoted deep", "cell deep"):
        assert words in text
    assert max_list_depth(doc) <= MAX_LIST_DEPTH
    # Output stays shallow enough for any JSON consumer.
    json.dumps(doc)


def test_thousands_of_levels_of_any_element() -> None:
    for tag in ("div", "span", "b", "ul", "ol", "li", "blockquote", "table", "td", "a", "h1", "pre", "p"):
        html = f"<{tag}>" * 5000 + "core" + f"</{tag}>" * 5000
        doc = html_to_adf(html)
        assert "core" in adf_to_text(doc), tag
        assert_valid(doc)


def test_word_pasted_html_reads_cleanly() -> None:
    doc = convert("word_pasted.html")
    text = adf_to_text(doc)
    assert "Meeting notes – sprint review" in text
    assert "Attendees: Ana, Björn, Chloé" in text
    for junk in ("font-family", "mso-", "shapedefaults", "Font Definitions", "hidden", "·"):
        assert junk not in text, junk
    # Word list paragraphs become a real list, without Word's typed bullets.
    bullets = next(nodes(doc, "bulletList"))
    assert [adf_to_text(i) for i in bullets["content"]] == ["Velocity dropped to 21 points", "Carry over PBI 7781"]
    assert marks_of(text_with(doc, "21 points"))["textColor"] == {"color": "#ff0000"}
    assert marks_of(text_with(doc, "italic by style")) == {"em": {}}
    assert "strong" not in marks_of(text_with(doc, "bold cancelled"))
    assert "strong" in marks_of(text_with(doc, "Meeting notes"))


def test_emoji_and_right_to_left_text_survive_as_text() -> None:
    doc = convert("emoji_rtl.html")
    text = adf_to_text(doc)
    for piece in (
        "✅",
        "🚀",
        "👩🏽‍💻",
        "🇳🇴",
        "1️⃣",
        "שלום עולם",
        "مرحبا بالعالم",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "漢字かなカナ",
        "\u202ereversed\u202c",
    ):
        assert piece in text


def test_control_characters_are_removed() -> None:
    doc = convert("control_chars.html")
    dumped = json.dumps(doc, ensure_ascii=False)
    for ch in ["\x00", "\x01", "\x02", "\x07", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9f", "\ufffe"]:
        assert ch not in dumped, repr(ch)
    text = adf_to_text(doc)
    assert "Bell escape[31m verticaltab formfeed del c1 end" in text
    code = next(nodes(doc, "codeBlock"))
    assert code["content"][0]["text"] == "codewithcontrols\nand CRLF"
    assert marks_of(text_with(doc, "link with control"))["link"]["href"] == "https://example.com/path"


def test_nul_and_unpaired_surrogates() -> None:
    doc = html_to_adf("a\x00b <b>\ud800lone</b> pair:\ud83d\ude00 \udfff")
    assert_valid(doc)
    text = adf_to_text(doc)
    assert text == "ab \ufffdlone pair:😀 \ufffd"
    json.dumps(doc, ensure_ascii=False).encode("utf-8")  # encodable: no surrogates left


def test_code_blocks_keep_language_and_whitespace() -> None:
    doc = convert("code_blocks.html")
    blocks = list(nodes(doc, "codeBlock"))
    assert [b.get("attrs", {}).get("language") for b in blocks] == ["python", "csharp", None, "sql", "bash"]
    assert blocks[0]["content"][0]["text"].splitlines()[2] == '        raise ValueError("empty <event>")   # & more'
    assert blocks[1]["content"][0]["text"] == 'public void Run()\n{\n    Console.WriteLine("hi");\n}'
    assert blocks[2]["content"][0]["text"] == "plain   preformatted\n\ttab indented"
    assert blocks[3].get("content") in (None, [])
    assert blocks[4]["content"][0]["text"] == "echo #123 stays literal"
    for block in blocks:
        for node in block.get("content") or []:
            assert "marks" not in node
    # Inline code cannot carry other marks in ADF: bold inside <code> is dropped, link kept.
    assert marks_of(text_with(doc, "install")) == {"code": {}}
    assert marks_of(text_with(doc, "docs")) == {"code": {}, "link": {"href": "https://docs.npmjs.com/"}}


def test_mentions_and_work_item_references() -> None:
    doc = convert("mentions_refs.html")
    mentions = list(nodes(doc, "mention"))
    assert mentions == [{"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Jane Doe"}}]
    text = adf_to_text(doc)
    assert "cc @Unmapped Person" in text
    assert "Blocks FAB-112, duplicates FAB-134." in text
    # Not references: inside words, code, links, C#, entities.
    assert "issue#12, #12, see #12, C#12 and &#12." in text
    assert marks_of(text_with(doc, "FAB-156")) == {"strong": {}}
    assert "unknown ref #999999 stays" in text


def test_work_item_references_as_inline_cards_when_the_site_is_known() -> None:
    ctx = engine_context(jira_site_url="https://fabrikam.atlassian.net/")
    doc = html_to_adf("<div>Blocked by #12, see #13.</div>", ctx)
    assert_valid(doc)
    assert list(nodes(doc, "inlineCard")) == [
        {"type": "inlineCard", "attrs": {"url": "https://fabrikam.atlassian.net/browse/FAB-112"}}
    ]
    assert adf_to_text(doc) == "Blocked by https://fabrikam.atlassian.net/browse/FAB-112, see #13."


def test_mentions_without_context_are_plain_names() -> None:
    doc = html_to_adf('<a href="#" data-vss-mention="version:2.0,6d5e4c3b">@Jane Doe</a> said #12')
    assert not list(nodes(doc, "mention"))
    assert adf_to_text(doc) == "@Jane Doe said #12"


def test_work_item_refs_lists_what_needs_a_second_pass() -> None:
    html = (CORPUS / "mentions_refs.html").read_text(encoding="utf-8")
    assert work_item_refs(html) == {12, 34, 56, 999999}
    assert work_item_refs('<a href="https://dev.azure.com/c/p/_workitems/edit/77">Bug 77</a> #5') == {5, 77}


def test_links_to_migrated_work_items_point_at_jira() -> None:
    ctx = engine_context(jira_site_url="https://fabrikam.atlassian.net")
    html = (
        '<a href="https://dev.azure.com/contoso/Fabrikam/_workitems/edit/12/">Bug 12</a> '
        '<a href="https://contoso.visualstudio.com/Fabrikam/_workitems?_a=edit&amp;id=34">Task</a> '
        '<a href="https://dev.azure.com/contoso/Fabrikam/_workitems/edit/777">not migrated</a>'
    )
    doc = html_to_adf(html, ctx)
    assert_valid(doc)
    hrefs = [marks_of(n)["link"]["href"] for n in texts(doc) if "link" in marks_of(n)]
    assert hrefs == [
        "https://fabrikam.atlassian.net/browse/FAB-112",
        "https://fabrikam.atlassian.net/browse/FAB-134",
        "https://dev.azure.com/contoso/Fabrikam/_workitems/edit/777",
    ]


def test_images_rehosted_inline_and_never_pointing_at_the_source() -> None:
    doc = convert("images.html")
    media = [n["attrs"] for n in nodes(doc, "media")]
    assert media[0] == {
        "type": "external",
        "url": JIRA_ATTACHMENT.format(10001),
        "alt": "Error dialog",
        "width": 640,
        "height": 480,
    }
    assert len(media) == 2  # the screenshot and the one in the table cell
    table = next(nodes(doc, "table"))
    assert next(nodes(table, "mediaSingle"))["attrs"] == {"layout": "center"}
    dumped = json.dumps(doc)
    assert "dev.azure.com" not in dumped
    assert "data:image" not in dumped
    assert "/relative/icon.png" not in dumped
    text = adf_to_text(doc)
    # Not re-hosted: the alt text (or ADO's fileName) stays, the URL does not.
    assert "Diagram inline [image: flow.png] in the middle of a sentence." in text
    assert "[image: in a list]" in text and "[image: tiny]" in text
    # Images elsewhere that the engine did not re-host remain reachable as links.
    assert marks_of(text_with(doc, "build status"))["link"]["href"].startswith("https://img.shields.io/")


def test_image_hook_can_drop_an_image_explicitly() -> None:
    ctx = AdfContext(image=lambda src, alt: DROP_IMAGE)
    doc = html_to_adf('<p>see <img src="https://cdn.example/x.png" alt="chart"></p>', ctx)
    assert adf_to_text(doc) == "see [image: chart]"
    assert "cdn.example" not in json.dumps(doc)


def test_scripts_styles_comments_and_unsafe_links_do_not_leak() -> None:
    doc = convert("scripts_styles.html")
    text = adf_to_text(doc)
    for leaked in (
        "Should not appear",
        "css text",
        "script text",
        "noscript text",
        "iframe text",
        "internal comment",
        "svg text",
        "template text",
        "alert",
        "steal",
    ):
        assert leaked not in text, leaked
    assert "Visible paragraph with handlers." in text
    hrefs = [m["link"]["href"] for n in texts(doc) if (m := marks_of(n)).get("link")]
    assert hrefs == ["https://example.com/ok?a=1&b=2", "mailto:team@example.com", "http://www.example.org/page"]
    assert "js link spaced js tab js vb data link" in text
    assert "relative" in text


def test_formatting_marks_headings_quotes_rules_breaks() -> None:
    doc = convert("formatting.html")
    headings = list(nodes(doc, "heading"))
    assert [h["attrs"]["level"] for h in headings] == [1, 2, 3, 4, 5, 6]
    expected = {
        "bold": {"strong": {}},
        "italic": {"em": {}},
        "underline": {"underline": {}},
        "strike": {"strike": {}},
        "deleted": {"strike": {}},
        "all three": {"strong": {}, "em": {}, "underline": {}},
        "code wins": {"code": {}},
        "both decorations": {"underline": {}, "strike": {}},
        "red hex": {"textColor": {"color": "#ff0000"}},
        "short hex": {"textColor": {"color": "#00ff00"}},
        "rgb blue": {"textColor": {"color": "#0000ff"}},
        "font purple": {"textColor": {"color": "#800080"}},
    }
    for fragment, marks in expected.items():
        assert marks_of(text_with(doc, fragment)) == marks, fragment
    subs = [marks_of(n).get("subsup") for n in texts(doc) if n["text"] == "2"]
    assert subs == [{"type": "sub"}, {"type": "sup"}]
    assert "textColor" not in marks_of(text_with(doc, "black ignored"))
    # As in a browser, a child's text-decoration:none cannot undo its parent's underline.
    assert marks_of(html_to_adf('<u><span style="text-decoration:none">x</span></u>')["content"][0]["content"][0]) == {
        "underline": {}
    }
    quote = next(nodes(doc, "blockquote"))
    assert [b["type"] for b in quote["content"]] == ["paragraph", "paragraph", "paragraph", "bulletList"]
    assert any(b["type"] == "rule" for b in doc["content"])
    lines = next(p for p in nodes(doc, "paragraph") if "Line one" in adf_to_text(p))
    assert [n["type"] for n in lines["content"]] == ["text", "hardBreak", "text", "hardBreak", "hardBreak", "text"]
    trailing = next(p for p in nodes(doc, "paragraph") if "Trailing break" in adf_to_text(p))
    assert trailing["content"][-1]["type"] == "text"


def test_whitespace_collapses_like_a_browser_except_in_pre() -> None:
    doc = convert("whitespace.html")
    paragraphs = [adf_to_text(p) for p in doc["content"] if p["type"] == "paragraph"]
    assert paragraphs == ["Lots of whitespace here", "bold italic", "a\xa0\xa0\xa0b (non-breaking spaces survive)"]
    assert next(nodes(doc, "codeBlock"))["content"][0]["text"] == "  keep   this\n    exactly  "
    assert all(n["text"] for n in texts(doc))


def test_broken_markup_is_repaired_like_a_browser() -> None:
    doc = convert("broken_markup.html")
    text = adf_to_text(doc)
    for piece in (
        "Unclosed bold and italic",
        "Misnested one two three four",
        "item without close",
        "second item",
        "block in item",
        "unquoted attr",
        "nested anchor",
        "<script>alert(1)</script>",
        "<<<>>>",
    ):
        assert piece in text, piece
    table = next(nodes(doc, "table"))
    assert [len(r["content"]) for r in table["content"]] == [2, 2]
    assert "\x00" not in json.dumps(doc)


def test_large_inputs_convert_completely() -> None:
    doc = convert("table_10000_cells.html")
    table = next(nodes(doc, "table"))
    assert len(table["content"]) == 100
    assert {len(r["content"]) for r in table["content"]} == {100}
    assert sum(len(r["content"]) for r in table["content"]) == 10_000
    assert table["content"][0]["content"][0]["type"] == "tableHeader"
    assert adf_to_text(table["content"][-1]["content"][-1]) == "R98C99"

    long_doc = convert("long_description_100kb.html")
    html = (CORPUS / "long_description_100kb.html").read_text(encoding="utf-8")
    assert adf_to_text(long_doc).count("Section ") == html.count("<h2>Section ")
    assert len(list(nodes(long_doc, "table"))) == html.count("<table>")


@pytest.mark.parametrize(
    "html", ["", "   ", "\n\t", "<!-- nothing -->", "<script>x</script>", "<p></p>", None, b"<b>bytes</b>"]
)
def test_empty_input_gives_an_empty_valid_doc(html: Any) -> None:
    doc = html_to_adf(html)
    assert_valid(doc)
    if html != b"<b>bytes</b>":
        assert doc == {"type": "doc", "version": 1, "content": []}
    else:
        assert adf_to_text(doc) == "bytes"


def test_even_an_unprintable_object_gives_a_valid_doc() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert html_to_adf(Unprintable()) == {"type": "doc", "version": 1, "content": []}


def test_hook_errors_propagate_instead_of_silently_losing_a_mention() -> None:
    def broken(identity: str, name: str) -> str:
        raise ConnectionError("mapping store unavailable")

    with pytest.raises(ConnectionError):
        html_to_adf('<a data-vss-mention="version:2.0,abc">@X</a>', AdfContext(mention=broken))


def test_plain_text_to_adf() -> None:
    doc = plain_text_to_adf("First line\nsecond  line\n\n\nNew paragraph \x07with bell\r\n")
    assert_valid(doc)
    assert [b["type"] for b in doc["content"]] == ["paragraph", "paragraph"]
    assert [n["type"] for n in doc["content"][0]["content"]] == ["text", "hardBreak", "text"]
    assert doc["content"][0]["content"][2]["text"] == "second  line"
    assert adf_to_text(doc) == "First line\nsecond  line\nNew paragraph with bell"
    assert plain_text_to_adf("") == {"type": "doc", "version": 1, "content": []}
    assert_valid(plain_text_to_adf("\ud800\x00"))


def test_ado_work_item_mention_becomes_the_jira_key_not_a_person():
    from migrayt.connectors.adf import AdfContext, adf_to_text, html_to_adf

    html = '<p>See <a href="https://dev.azure.com/acme/_workitems/edit/12" data-vss-mention="version:1.0">#12</a> and '
    html += '<a href="https://dev.azure.com/acme/_workitems/edit/99" data-vss-mention="version:1.0">#99</a></p>'
    doc = html_to_adf(html, AdfContext(work_item_key=lambda n: {12: "PHX-7"}.get(n)))
    text = adf_to_text(doc)
    assert "PHX-7" in text and "#99" in text
    assert "@#" not in text
