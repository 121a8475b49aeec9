"""The sandbox's WIQL engine as a plain function: grammar, precedence, literals, cost on big projects."""

from __future__ import annotations

import pytest

from migrayt.sandbox.ado.app import AdoSandboxConfig
from migrayt.sandbox.ado.wiql import BoolOp, Condition, Not, Parser, WiqlError, run_query, tokenize
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec

TODAY = AdoSandboxConfig().today


@pytest.fixture(scope="module")
def project() -> GeneratedProject:
    return GeneratedProject(ProjectSpec(seed=13, items=300))


def ids(project, where: str, top: int | None = None) -> list[int]:
    return run_query(project, f"SELECT [System.Id] FROM WorkItems WHERE {where}", top, TODAY)[1]


def parse(where: str):
    return Parser(f"select [System.Id] from workitems where {where}", "Phoenix", TODAY).parse().where


def test_and_binds_tighter_than_or():
    e = parse("[System.Id] = 1 OR [System.Id] = 2 AND [System.State] = 'New'")
    assert isinstance(e, BoolOp) and e.op == "OR"
    assert isinstance(e.parts[1], BoolOp) and e.parts[1].op == "AND"


def test_parentheses_and_not_group():
    e = parse("NOT ([System.Id] = 1 OR [System.Id] = 2) AND [System.Id] < 5")
    assert isinstance(e, BoolOp) and e.op == "AND" and isinstance(e.parts[0], Not)


def test_display_names_keywords_in_any_case_and_escaped_quotes():
    e = parse("[Work Item Type] in ('Bug', 'User Story') and [state] <> 'It''s done'")
    assert isinstance(e, BoolOp)
    first, second = e.parts
    assert isinstance(first, Condition) and first.field.reference_name == "System.WorkItemType"
    assert first.op == "IN" and first.values == ("Bug", "User Story")
    assert isinstance(second, Condition) and second.values == ("It's done",)


def test_tokenizer_reports_the_position_of_garbage():
    with pytest.raises(WiqlError, match="position 7"):
        tokenize("SELECT ` FROM")


def test_same_answers_as_the_generator(project):
    cores = [project.core(i) for i in project.item_ids()]
    assert ids(project, "[System.WorkItemType] NOT IN ('Task', 'Bug')") == [
        c.id for c in cores if c.type not in ("Task", "Bug")
    ]
    assert ids(project, "[System.State] = 'closed'") == [c.id for c in cores if c.state == "Closed"]
    assert ids(project, "[System.Parent] = 1") == [c.id for c in cores if c.parent_id == 1]
    area = project.area_path_of(2).rsplit("\\", 1)[0]
    under = ids(project, f"[System.AreaPath] UNDER '{area}'")
    assert under and all(project.area_path_of(i).startswith(area) for i in under)
    assert ids(project, f"[System.AreaPath] NOT UNDER '{area}'") == sorted(set(range(1, 301)) - set(under))


def test_today_macro_and_date_literals(project):
    recent = ids(project, "[System.ChangedDate] >= @Today - 90")
    cutoff = TODAY.date().toordinal() - 90
    assert recent == [i for i in project.item_ids() if project.core(i).changed.date().toordinal() >= cutoff]
    with pytest.raises(WiqlError, match="TF51002"):
        ids(project, "[System.ChangedDate] > 'yesterday-ish'")


def test_top_and_ordering(project):
    q, got = run_query(
        project, "SELECT [System.Id] FROM WorkItems ORDER BY [System.CreatedDate] DESC, [System.Id]", 4, TODAY
    )
    assert got == sorted(project.item_ids(), key=lambda i: project.core(i).created, reverse=True)[:4]
    assert q.order[0].descending and not q.order[1].descending


def test_unsupported_things_fail_loudly_not_wrongly(project):
    with pytest.raises(WiqlError):
        ids(project, "[System.Title] CONTAINS 'login'")
    with pytest.raises(WiqlError, match="TF51005"):
        ids(project, "[Nope] = 1")
    with pytest.raises(WiqlError):
        run_query(project, "SELECT [System.Id] FROM WorkItemLinks", None, TODAY)
    with pytest.raises(WiqlError):
        ids(project, "[System.Id] = 1 AND")


def test_id_ranges_on_100k_items_touch_only_the_range():
    big = GeneratedProject(ProjectSpec(seed=2, items=100_000))
    got = ids(big, "[System.Id] >= 99000 AND [System.Id] < 99040 AND [System.WorkItemType] = 'Task'")
    assert got and all(99_000 <= i < 99_040 for i in got)
    assert big.core.cache_info().misses <= 40  # type: ignore[attr-defined]
    assert big.work_item.cache_info().misses == 0  # type: ignore[attr-defined]
