"""Pure helpers of phase 7: the header that attributes a comment and marks it, the cap split, overflow file."""

from __future__ import annotations

from datetime import UTC, datetime

from migrayt.activities.execution.content_text import (
    SourceComment,
    comment_header,
    marker_of,
    overflow_file,
    split_at_cap,
    with_header,
)
from migrayt.connectors.adf import adf_to_text, html_to_adf
from migrayt.sandbox.jira.adf import adf_validator


def comment(n: int, author: str = "Keiko Chen", html: str = "<p>hello</p>") -> SourceComment:
    return SourceComment(id=1000 + n, author=author, created=datetime(2023, 5, 1, 10, n % 60, tzinfo=UTC), html=html)


def test_header_attributes_and_marks_the_comment_and_stays_valid_adf():
    doc = with_header(comment(7), html_to_adf("<p>See <b>this</b></p><ul><li>a</li></ul>"))
    assert adf_validator().first_error(doc) is None
    text = adf_to_text(doc)
    assert text.startswith("Keiko Chen commented on 2023-05-01 10:07 UTC (Azure DevOps comment id 1007)")
    assert "See this" in text
    assert marker_of(doc) == 1007


def test_marker_is_read_from_the_header_only():
    body = html_to_adf("<p>Intro</p><p>quoting: Azure DevOps comment id 999</p>")
    assert marker_of(body) is None
    doc = with_header(comment(1), html_to_adf("<p>Azure DevOps comment id 999</p>"))
    assert marker_of(doc) == 1001
    assert marker_of({"type": "doc", "version": 1, "content": []}) is None
    assert marker_of("not a document") is None


def test_unknown_author_and_date_still_make_a_header():
    header = comment_header(SourceComment(id=5, author="\x07", created=None, html=""))
    text = "".join(n["text"] for n in header["content"])
    assert text == "Unknown author commented on an unknown date (Azure DevOps comment id 5)"


def test_split_at_cap_keeps_order_and_loses_nothing():
    comments = [comment(i) for i in range(12)]
    posted, overflow = split_at_cap(comments, 5)
    assert [c.id for c in posted + overflow] == [c.id for c in comments]
    assert len(posted) == 5 and len(overflow) == 7
    assert split_at_cap(comments, 5000) == (comments, [])


def test_overflow_file_lists_every_comment_in_order_with_author_and_date():
    over = [comment(i, author=f"Person {i}", html=f"<p>body {i}</p>") for i in range(3)]
    page = overflow_file(9, over, first_number=5001).decode()
    positions = [page.index(f"body {i}") for i in range(3)]
    assert positions == sorted(positions)
    assert "#5001 · Person 0 · 2023-05-01 10:00 UTC" in page and "#5003 · Person 2" in page
    assert "Azure DevOps comment id 1002" in page


def test_overflow_file_states_the_cap_it_was_cut_at():
    page = overflow_file(9, [comment(0)], first_number=41).decode()
    assert "beyond Jira's limit of 40 per issue" in page
