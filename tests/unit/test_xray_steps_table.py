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
    long_description = doc(
        *({"type": "paragraph", "content": [{"type": "text", "text": "y" * 500}]} for _ in range(80))
    )
    noted = with_steps_note(long_description, parsed, "ado-7-test-steps.txt")
    assert_valid(noted)
    assert adf_char_count(noted) <= TEXT_LIMIT
    assert has_table(noted) and "ado-7-test-steps.txt" in str(noted)
    lines = steps_file(7, parsed).decode().splitlines()
    assert [line for line in lines if line.startswith("Action: ")] == [
        f"Action: step {n} " + "x" * 900 for n in range(60)
    ]
