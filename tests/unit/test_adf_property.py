"""Random HTML-ish input never raises and always yields schema-valid ADF."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

try:
    from test_adf_schema import assert_valid
except ImportError:  # tests/unit turned into a package
    from .test_adf_schema import assert_valid

from migrayt.connectors.adf import AdfContext, AdfImage, adf_to_text, fit_adf, html_to_adf

TAGS = [
    "p",
    "div",
    "span",
    "b",
    "i",
    "u",
    "s",
    "em",
    "strong",
    "code",
    "pre",
    "sub",
    "sup",
    "a",
    "img",
    "br",
    "hr",
    "ul",
    "ol",
    "li",
    "table",
    "thead",
    "tbody",
    "tr",
    "td",
    "th",
    "caption",
    "h1",
    "h3",
    "h6",
    "blockquote",
    "font",
    "script",
    "style",
    "head",
    "o:p",
    "del",
    "kbd",
    "xmp",
    "textarea",
    "select",
    "svg",
    "template",
    "iframe",
    "x-custom",
]
ATTRS = st.sampled_from(
    [
        'href="https://example.com/a?b=1&amp;c"',
        'href="javascript:alert(1)"',
        'href="#"',
        "href",
        'src="https://dev.azure.com/o/_apis/wit/attachments/1?fileName=a.png"',
        'src="data:image/png;base64,AA"',
        'alt="pic"',
        'colspan="3"',
        'rowspan="2"',
        'colspan="-1"',
        'rowspan="99999"',
        'colspan="x"',
        'style="color:#f00;font-weight:bold"',
        'style="color:rgb(1,2,3)"',
        'style="display:none"',
        'style="mso-list:l0 level1 lfo1"',
        'style="mso-list:Ignore"',
        'class="language-py"',
        'start="0"',
        'start="-4"',
        'color="red"',
        'data-vss-mention="version:2.0,abc"',
        'style="vertical-align:super"',
        'style="text-decoration:underline"',
        "hidden",
        'lang="he" dir="rtl"',
    ]
)
TEXT = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()),  # any code point, surrogates included
    max_size=12,
) | st.sampled_from(
    [
        "#12",
        " ",
        "\n",
        "\x00",
        "\ud83d",
        "\ude00",
        "😀",
        "&amp;",
        "&#0;",
        "&#x1;",
        "&nbsp;",
        "<!--",
        "-->",
        "<![if !supportLists]>",
        "<",
        ">",
        "&",
        "שלום",
        "@Jane",
    ]
)


@st.composite
def html_fragments(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.integers(0, 3))
        tag = draw(st.sampled_from(TAGS))
        if kind == 0:
            attrs = " ".join(draw(st.lists(ATTRS, max_size=3)))
            parts.append(f"<{tag} {attrs}>" if attrs else f"<{tag}>")
        elif kind == 1:
            parts.append(f"</{tag}>")
        else:
            parts.append(draw(TEXT))
    return "".join(parts)


def _wrap(children: list[str], tag: str, attrs: list[str]) -> str:
    attr_text = (" " + " ".join(attrs)) if attrs else ""
    return f"<{tag}{attr_text}>{''.join(children)}</{tag}>"


# Well-formed trees: every container inside every other (lists in tables in quotes in lists...).
html_trees = st.recursive(
    TEXT,
    lambda inner: st.builds(_wrap, st.lists(inner, max_size=4), st.sampled_from(TAGS), st.lists(ATTRS, max_size=2)),
    max_leaves=40,
)


CONTEXT = AdfContext(
    mention=lambda identity, name: "acc-" + identity if identity else None,
    work_item_key=lambda ado_id: f"FAB-{ado_id}" if ado_id % 2 == 0 else None,
    image=lambda src, alt: (
        AdfImage(url="https://x.atlassian.net/rest/api/3/attachment/content/1", alt=alt) if "fileName" in src else None
    ),
    drop_source_host="dev.azure.com",
    jira_site_url="https://x.atlassian.net",
)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(html_fragments(), st.booleans())
def test_random_html_never_raises_and_always_validates(html: str, with_context: bool) -> None:
    doc = html_to_adf(html, CONTEXT if with_context else None)
    assert_valid(doc)
    json.dumps(doc, ensure_ascii=False).encode("utf-8")
    adf_to_text(doc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html_trees, st.booleans())
def test_random_nested_trees_never_raise_and_always_validate(html: str, with_context: bool) -> None:
    doc = html_to_adf(html, CONTEXT if with_context else None)
    assert_valid(doc)
    adf_to_text(doc)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_raises_and_always_validates(text: str) -> None:
    doc = html_to_adf(text)
    assert_valid(doc)


@settings(max_examples=100, deadline=None)
@given(html_fragments(), st.integers(200, 3000))
def test_fitting_random_documents_keeps_them_valid_and_under_the_limit(html: str, limit: int) -> None:
    doc = html_to_adf(html * 8, CONTEXT)
    fitted, truncated = fit_adf(doc, limit=limit, note="… truncated; full original attached as description.html")
    assert_valid(fitted)
    assert len(json.dumps(fitted, separators=(",", ":"), ensure_ascii=False)) <= limit
    assert truncated == (fitted is not doc)
