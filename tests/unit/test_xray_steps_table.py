"""Without Xray, a test case's steps go into its description as a table: valid ADF for any step text, found
again by its heading (so it is appended once), steps in order, and the dataset under it."""

from __future__ import annotations

from migrayt.plugins.xray import TABLE_HEADING, has_table, steps_table_adf
from migrayt.translation.test_steps import Dataset, TestCaseSteps, TestStep
from tests.unit.test_adf_schema import assert_valid


def doc(*nodes: dict) -> dict:
    return {"type": "doc", "version": 1, "content": list(nodes)}


def test_the_table_is_valid_adf_with_steps_in_order_and_the_dataset_after_them() -> None:
    parsed = TestCaseSteps(
        steps=[
            TestStep("Open ${url}", ""),
            TestStep("Sign in as ${user}", "Welcome 👋"),
            TestStep("Ünïcode\u202e", "x"),
        ],
        dataset=Dataset(("url", "user"), (("a.example", "ann"), ("b.example", ""))),
    )
    nodes = steps_table_adf(parsed)
    assert_valid(doc(*nodes))
    tables = [n for n in nodes if n["type"] == "table"]
    steps_rows = tables[0]["content"][1:]
    actions = [r["content"][1]["content"][0]["content"][0]["text"] for r in steps_rows]
    assert actions == ["Open ${url}", "Sign in as ${user}", "Ünïcode\u202e"]
    assert len(tables[1]["content"]) == 3  # header + two rows


def test_a_description_with_the_table_is_recognised_and_one_without_is_not() -> None:
    nodes = steps_table_adf(TestCaseSteps(steps=[TestStep("a", "b")]))
    assert has_table(doc({"type": "paragraph", "content": [{"type": "text", "text": "intro"}]}, *nodes))
    assert not has_table(doc({"type": "paragraph", "content": [{"type": "text", "text": TABLE_HEADING + "!"}]}))
    assert not has_table(None)


def test_steps_past_the_limit_leave_a_note_naming_the_file_and_the_file_holds_every_step_in_order() -> None:
    from migrayt.connectors.adf.fit import adf_char_count
    from migrayt.plugins.xray import steps_file, with_steps_note
    from migrayt.translation.issue_fields import TEXT_LIMIT

    parsed = TestCaseSteps(steps=[TestStep(f"step {n} " + "x" * 900, f"ok {n}") for n in range(60)])
    short_description = doc({"type": "paragraph", "content": [{"type": "text", "text": "intro"}]})
    noted = with_steps_note(short_description, parsed, "ado-7-test-steps.txt")
    assert_valid(noted)
    assert adf_char_count(noted) <= TEXT_LIMIT
    assert "intro" in str(noted) and has_table(noted) and "ado-7-test-steps.txt" in str(noted)
    lines = steps_file(7, parsed).decode().splitlines()
    assert [line for line in lines if line.startswith("Action: ")] == [
        f"Action: step {n} " + "x" * 900 for n in range(60)
    ]


def test_a_description_cut_by_the_migration_keeps_its_cut_note_beside_the_steps_note() -> None:
    """A 40k description was cut at create time with a note naming its attached original; the steps note must not
    push that note out (the chaos run found the description's note lost on a test case)."""
    from migrayt.connectors.adf.fit import adf_char_count, fit_adf
    from migrayt.plugins.xray import with_steps_note
    from migrayt.translation.content_text import description_note
    from migrayt.translation.issue_fields import TEXT_LIMIT

    parsed = TestCaseSteps(steps=[TestStep(f"step {n} " + "x" * 900, f"ok {n}") for n in range(60)])
    long = doc(*({"type": "paragraph", "content": [{"type": "text", "text": "y" * 500}]} for _ in range(80)))
    cut, truncated = fit_adf(long, limit=TEXT_LIMIT, note=description_note(26, TEXT_LIMIT))
    assert truncated
    noted = with_steps_note(cut, parsed, "ado-26-test-steps.txt")
    assert_valid(noted)
    assert adf_char_count(noted) <= TEXT_LIMIT
    text = str(noted)
    assert description_note(26, TEXT_LIMIT) in text and "ado-26-test-steps.txt" in text
    assert text.index("ado-26-description.html") < text.index(TABLE_HEADING)


def test_a_whole_description_with_no_room_for_the_steps_note_is_left_whole() -> None:
    """Its text exists nowhere else: cutting it to make room for a pointer to the steps file would lose it."""
    from migrayt.connectors.adf.fit import adf_char_count
    from migrayt.plugins.xray import with_steps_note
    from migrayt.translation.issue_fields import TEXT_LIMIT

    parsed = TestCaseSteps(steps=[TestStep("a", "b")])
    paragraphs = [{"type": "paragraph", "content": [{"type": "text", "text": "y" * 500}]} for _ in range(58)]
    full = doc(*paragraphs, {"type": "paragraph", "content": [{"type": "text", "text": "z" * 200}]})
    assert adf_char_count(full) <= TEXT_LIMIT
    assert with_steps_note(full, parsed, "ado-7-test-steps.txt") == full
