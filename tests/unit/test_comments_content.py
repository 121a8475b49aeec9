"""Pure helpers of phase 7: the header that attributes a comment and marks it, the cap split, the
overflow files and their split under Jira's upload limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from migrayt.connectors.adf import adf_to_text, html_to_adf
from migrayt.contracts.record_kinds import COMMENT_OVERFLOW
from migrayt.sandbox.jira.adf import adf_validator
from migrayt.translation.content_text import (
    SourceComment,
    comment_header,
    marker_of,
    overflow_file,
    overflow_file_name,
    overflow_record_key,
    split_at_cap,
    split_overflow,
    with_header,
)


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


MARKER = re.compile(r"Azure DevOps comment id (\d+)")


def pages(ado_id: int, over: list[SourceComment], first_number: int, limit: int) -> list[str]:
    parts = split_overflow(over, first_number, limit)
    return [
        overflow_file(ado_id, over[s:e], first_number + s, part=k, parts=len(parts), cap=first_number - 1).decode()
        for k, (s, e) in enumerate(parts, start=1)
    ]


def test_overflow_is_split_into_parts_under_the_limit_in_order_numbered():
    # 600 comments of 1–2 KB (multi-byte text too) against a 64 KiB limit.
    over = [comment(i, author=f"Pérson {i}", html="<p>" + "é✓x" * (300 + (i * 37) % 400) + "</p>") for i in range(600)]
    limit = 64 * 1024
    parts = split_overflow(over, 41, limit)
    assert len(parts) >= 10
    assert parts[0][0] == 0 and parts[-1][1] == len(over)
    assert all(
        a[1] == b[0] and a[0] < a[1] for a, b in zip(parts, parts[1:] + [(len(over), len(over) + 1)], strict=True)
    )
    texts = pages(9, over, 41, limit)
    assert all(len(t.encode()) <= limit for t in texts)
    # Parts are filled, not one comment each: the page margin is a margin, not the bulk.
    assert all(len(t.encode()) > limit * 0.8 for t in texts[:-1])
    # Every comment exactly once, in the original order, numbered on from the cap.
    assert [int(m) for t in texts for m in MARKER.findall(t)] == [c.id for c in over]
    n = len(parts)
    for k, (t, (s, e)) in enumerate(zip(texts, parts, strict=True), start=1):
        assert f"Part {k} of {n}</strong>: comments #{41 + s:,} to #{41 + e - 1:,} ({e - s} comments)" in t
        assert f"(overflow, part {k} of {n})" in t and "beyond Jira's limit of 40 per issue" in t
        assert t.rstrip().endswith("</html>")
        assert f"<h3>#{41 + s} · Pérson {s} ·" in t


def test_a_comment_bigger_than_a_part_goes_alone_into_its_part():
    limit = 20_000
    giant = comment(5, html="<p>" + "g" * 50_000 + "</p>")
    over = (
        [comment(i, html="<p>" + "x" * 1500 + "</p>") for i in range(5)]
        + [giant]
        + [comment(i, html="<p>y</p>") for i in range(6, 9)]
    )
    parts = split_overflow(over, 5001, limit)
    alone = [p for p in parts if over[p[0]] is giant]
    assert alone == [(5, 6)]
    assert [over[i].id for s, e in parts for i in range(s, e)] == [c.id for c in over]
    texts = pages(3, over, 5001, limit)
    assert [len(t.encode()) <= limit for t in texts] == [p != (5, 6) for p in parts]
    # A limit smaller than the page margin still gives one comment per part, never an empty part.
    assert split_overflow(over[:3], 1, 10) == [(0, 1), (1, 2), (2, 3)]
    assert split_overflow([], 1, limit) == []


def test_a_small_overflow_is_one_part_with_the_single_files_name_and_key():
    over = [comment(i) for i in range(30)]
    assert split_overflow(over, 41, 10 * 1024 * 1024) == [(0, 30)]
    page = overflow_file(9, over, 41).decode()
    assert "Part 1" not in page and "30 comments (#41 to #70)" in page
    assert overflow_file_name(9) == overflow_file_name(9, 1) == "ado-9-comments-overflow.html"
    assert overflow_file_name(9, 3) == "ado-9-comments-overflow-3.html"
    assert (overflow_record_key(9), overflow_record_key(9, 2)) == ("9", "9:2")


def test_preview_predicts_each_overflow_part_and_the_one_jira_will_refuse():
    from migrayt.activities.preview.later_phases import (
        CreatedIssues,
        LaterPhases,
        too_large,
    )

    limit = 20_000
    over = [comment(i, html="<p>" + "x" * 1500 + "</p>") for i in range(20)]
    over[12] = comment(12, html="<p>" + "g" * 50_000 + "</p>")
    parts = split_overflow(over, 41, limit)
    giant_part = next(k for k, (s, _) in enumerate(parts, start=1) if s == 12)
    preview = LaterPhases(None, None, [], {}, CreatedIssues(keys={}), lambda _: None)
    preview._limit = limit
    preview._done = {COMMENT_OVERFLOW: {overflow_record_key(9, 1)}}  # part 1 attached by an earlier run

    outcomes = preview._overflow_parts(9, over, 40)

    assert len(outcomes) == len(parts) >= 3
    assert outcomes[0] == "skipped" and outcomes[giant_part - 1] == "failed"
    assert [o for k, o in enumerate(outcomes, start=1) if k not in (1, giant_part)] == ["created"] * (len(parts) - 2)
    [failure] = preview.failures
    assert (failure.kind, failure.source_key) == (COMMENT_OVERFLOW, f"9:{giant_part}")
    assert failure.reason == too_large(f"ado-9-comments-overflow-{giant_part}.html", limit)
