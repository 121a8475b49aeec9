"""fit_adf: over-long fields are cut at a clean boundary, with a visible note, under Jira's limit."""

from __future__ import annotations

import json
from pathlib import Path

try:
    from test_adf_schema import assert_valid
except ImportError:  # tests/unit turned into a package
    from .test_adf_schema import assert_valid

from migrayt.connectors.adf import adf_char_count, adf_to_text, fit_adf, html_to_adf

CORPUS = Path(__file__).parent / "adf_corpus"
NOTE = "… truncated; full original attached as description-4512.html"


def _size(doc: dict) -> int:
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))


def test_char_count_is_the_compact_json_length() -> None:
    doc = html_to_adf("<p>héllo 😀</p>")
    assert adf_char_count(doc) == _size(doc)
    assert "😀" in json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def test_a_document_that_fits_is_returned_untouched() -> None:
    doc = html_to_adf("<p>short</p>")
    assert fit_adf(doc, note=NOTE) == (doc, False)


def test_long_description_is_cut_at_whole_blocks_with_the_note() -> None:
    doc = html_to_adf((CORPUS / "long_description_100kb.html").read_text(encoding="utf-8"))
    assert adf_char_count(doc) > 32_767
    fitted, truncated = fit_adf(doc, note=NOTE)
    assert truncated
    assert adf_char_count(fitted) <= 32_767
    assert_valid(fitted)
    last = fitted["content"][-1]
    assert last["content"][0]["text"] == NOTE
    kept = fitted["content"][:-1]
    # Whole blocks first: everything but possibly the last kept block is the original's prefix.
    assert kept[:-1] == doc["content"][: len(kept) - 1]
    # The budget is used, not wasted: at most one block's worth left over.
    biggest = max(adf_char_count(b) for b in doc["content"])
    assert adf_char_count(fitted) > 32_767 - biggest - 200


def test_one_giant_table_is_cut_at_whole_rows() -> None:
    doc = html_to_adf((CORPUS / "table_10000_cells.html").read_text(encoding="utf-8"))
    fitted, truncated = fit_adf(doc, note=NOTE)
    assert truncated and adf_char_count(fitted) <= 32_767
    assert_valid(fitted)
    table = fitted["content"][0]
    original = doc["content"][0]
    assert 1 < len(table["content"]) < len(original["content"])
    assert table["content"] == original["content"][: len(table["content"])]
    assert adf_to_text(fitted).endswith(NOTE)


def test_one_giant_paragraph_is_cut_at_a_word() -> None:
    words = " ".join(f"word{i}" for i in range(20_000))
    doc = html_to_adf(f"<p>{words}</p>")
    fitted, truncated = fit_adf(doc, limit=5_000, note=NOTE)
    assert truncated and adf_char_count(fitted) <= 5_000
    assert_valid(fitted)
    kept = fitted["content"][0]["content"][0]["text"]
    assert words.startswith(kept) and words[len(kept)] == " "
    assert len(kept) > 4_000


def test_text_runs_are_kept_whole_before_words_are_cut() -> None:
    runs = "".join(f"<b>bold run {i}</b> plain run {i}. " for i in range(3_000))
    doc = html_to_adf(f"<p>{runs}</p>")
    fitted, _ = fit_adf(doc, limit=8_000, note=NOTE)
    assert adf_char_count(fitted) <= 8_000
    assert_valid(fitted)
    kept = fitted["content"][0]["content"]
    assert kept[:-1] == doc["content"][0]["content"][: len(kept) - 1]


def test_nested_lists_are_cut_inside_and_stay_valid() -> None:
    items = "".join(f"<li>item {i}<ul><li>child {i}a</li><li>child {i}b</li></ul></li>" for i in range(2_000))
    doc = html_to_adf(f"<ul>{items}</ul>")
    fitted, truncated = fit_adf(doc, limit=6_000, note=NOTE)
    assert truncated and adf_char_count(fitted) <= 6_000
    assert_valid(fitted)
    assert adf_to_text(fitted).startswith("- item 0\n- child 0a\n- child 0b\n- item 1")


def test_escaping_heavy_text_still_fits() -> None:
    doc = html_to_adf("<pre>" + '"\\' * 20_000 + "</pre><p>" + '"quoted" ' * 5_000 + "</p>")
    for limit in (300, 1_000, 10_000):
        fitted, truncated = fit_adf(doc, limit=limit, note=NOTE)
        assert truncated and adf_char_count(fitted) <= limit
        assert_valid(fitted)


def test_a_limit_smaller_than_the_note_still_respects_the_limit() -> None:
    doc = html_to_adf("<p>" + "x" * 1_000 + "</p>")
    fitted, truncated = fit_adf(doc, limit=60, note=NOTE)
    assert truncated and adf_char_count(fitted) <= 60
    assert_valid(fitted)
