"""ADO test case steps → Xray steps: order, shared steps expanded in place, parameters → a dataset, and
hostile XML refused with a reason instead of read."""

from __future__ import annotations

import html

import pytest

from migrayt.translation.test_steps import StepsError, parse_dataset, parse_test_case, shared_step_ids


def step(action: str, expected: str = "", *, formatted: bool = True, sid: int = 2) -> str:
    def ps(text: str) -> str:
        body = html.escape(f"<DIV><P>{text}</P></DIV>") if formatted and text else html.escape(text)
        return f'<parameterizedString isformatted="{str(formatted).lower()}">{body}</parameterizedString>'

    return f'<step id="{sid}" type="ValidateStep">{ps(action)}{ps(expected)}<description/></step>'


def steps(*children: str) -> str:
    return f'<steps id="0" last="{len(children) + 1}">{"".join(children)}</steps>'


def test_steps_keep_their_order_action_and_expected_result_as_plain_text() -> None:
    parsed = parse_test_case(steps(step("Open the <B>login</B> page", "The form shows"), step("Sign in", "")))
    assert [(s.action, s.expected) for s in parsed.steps] == [
        ("Open the login page", "The form shows"),
        ("Sign in", ""),
    ]


def test_shared_steps_are_expanded_where_they_are_referenced_and_following_steps_stay_after_them() -> None:
    # ADO nests the steps after a shared steps reference inside the <compref>.
    case = steps(step("first"), f'<compref id="3" ref="501">{step("after the shared ones", sid=4)}</compref>')
    shared = {501: steps(step("shared A"), step("shared B", "B done"))}
    parsed = parse_test_case(case, shared_steps=shared)
    assert [s.action for s in parsed.steps] == ["first", "shared A", "shared B", "after the shared ones"]
    assert [s.shared_steps_id for s in parsed.steps] == [None, 501, 501, None]
    assert shared_step_ids(case) == [501]


def test_a_missing_or_looping_shared_steps_reference_is_a_reason_not_a_crash() -> None:
    case = steps('<compref id="2" ref="9"/>')
    with pytest.raises(StepsError, match="#9 were not found"):
        parse_test_case(case, shared_steps={})
    with pytest.raises(StepsError, match="refer back"):
        parse_test_case(case, shared_steps={9: steps('<compref id="2" ref="9"/>')})


def test_parameters_become_an_xray_dataset_and_step_references_use_xrays_notation() -> None:
    params = '<parameters><param name="user" bind="default"/><param name="pwd" bind="default"/></parameters>'
    data = (
        '<NewDataSet><xs:schema id="NewDataSet" xmlns:xs="http://www.w3.org/2001/XMLSchema"/>'
        "<Table1><user>ann</user><pwd>s3cret</pwd></Table1><Table1><user>bob</user></Table1></NewDataSet>"
    )
    parsed = parse_test_case(
        steps(step("Sign in as @user with @pwd", "Mail to @someone@example.com")),
        parameters_xml=params,
        data_source_xml=data,
    )
    assert parsed.steps[0].action == "Sign in as ${user} with ${pwd}"
    assert parsed.steps[0].expected == "Mail to @someone@example.com"  # not a declared parameter
    assert parsed.dataset is not None
    assert parsed.dataset.as_csv_rows() == [["user", "pwd"], ["ann", "s3cret"], ["bob", ""]]


def test_no_parameters_no_dataset_and_no_steps_no_steps() -> None:
    assert parse_dataset(None, None) is None
    assert parse_dataset("<parameters/>", None) is None
    assert parse_test_case(None).steps == []
    assert parse_test_case("").steps == []


@pytest.mark.parametrize(
    "hostile",
    [
        '<!DOCTYPE s [<!ENTITY x "boom">]><steps>&x;</steps>',
        '<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><steps>&x;</steps>',
        "<steps><step>unclosed",
        '<steps><compref ref="not-a-number"/></steps>',
    ],
)
def test_hostile_or_broken_xml_is_refused_with_a_reason(hostile: str) -> None:
    with pytest.raises(StepsError):
        parse_test_case(hostile)


def test_unformatted_text_is_kept_as_written() -> None:
    parsed = parse_test_case(steps(step("a < b and c > d", formatted=False)))
    assert parsed.steps[0].action == "a < b and c > d"
