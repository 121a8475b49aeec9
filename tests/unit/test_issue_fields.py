"""ADO work item → Jira create fields, and plan checks: pure functions."""

from __future__ import annotations

import pytest

from migrayt.activities.execution.preflight import plan_problems
from migrayt.connectors.adf import adf_char_count, adf_to_text
from migrayt.mapping.plan import default_plan
from migrayt.translation.issue_fields import (
    IssueTypeRef,
    ItemRejected,
    Lookups,
    TargetCatalog,
    build_issue_fields,
    to_label,
)

CATALOG = TargetCatalog(
    project_id="10000",
    project_key="PHX",
    issue_types={
        "Epic": IssueTypeRef(id="1", name="Epic", hierarchy_level=1),
        "Story": IssueTypeRef(id="2", name="Story"),
        "Task": IssueTypeRef(id="3", name="Task"),
        "Bug": IssueTypeRef(id="4", name="Bug"),
        "Test": IssueTypeRef(id="5", name="Test"),
        "Sub-task": IssueTypeRef(id="6", name="Sub-task", hierarchy_level=-1, subtask=True),
    },
    priorities={"Highest": "1", "High": "2", "Medium": "3", "Low": "4"},
    field_ids={"summary", "description", "customfield_10016", "customfield_10020"},
    statuses={"To Do", "In Progress", "In Review", "Done"},
    sprint_field="customfield_10020",
    story_points_field="customfield_10016",
)


def story(**extra):
    fields = {
        "System.WorkItemType": "User Story",
        "System.Title": "Login page",
        "System.Description": "<p>As a <b>user</b></p>",
        "System.Tags": "frontend; needs review",
        "Microsoft.VSTS.Common.Priority": 2,
        "Microsoft.VSTS.Scheduling.StoryPoints": 5,
        "System.AreaPath": "Phoenix\\Web",
        "System.IterationPath": "Phoenix\\Sprint 3",
        "System.AssignedTo": {"uniqueName": "Ana@Example.com", "id": "guid-ana"},
    }
    fields.update(extra)
    return fields


def lookups():
    return Lookups(
        users_by_unique_name={"ana@example.com": "acc-ana"},
        components={"Phoenix\\Web": "200"},
        sprints={"Phoenix\\Sprint 3": 7},
    )


def test_story_maps_type_label_priority_points_component_sprint_assignee():
    draft = build_issue_fields(42, story(), default_plan(), CATALOG, lookups())
    f = draft.fields
    assert f["issuetype"] == {"id": "2"}
    assert f["labels"][0] == "ado-id-42"
    assert "needs-review" in f["labels"]  # Jira labels cannot hold spaces
    assert f["priority"] == {"id": "2"}
    assert f["customfield_10016"] == 5.0
    assert f["components"] == [{"id": "200"}]
    assert f["customfield_10020"] == 7
    assert f["assignee"] == {"accountId": "acc-ana"}
    assert f["description"]["type"] == "doc"


def test_a_user_without_an_account_is_left_out_and_named_so_a_later_run_can_set_them():
    no_account = {"uniqueName": "Morgan@Partner.example", "id": "guid-morgan"}
    draft = build_issue_fields(42, story(**{"System.CreatedBy": no_account}), default_plan(), CATALOG, lookups())
    assert "reporter" not in draft.fields and draft.fields["assignee"] == {"accountId": "acc-ana"}
    assert draft.users_left_out == {"reporter": ["morgan@partner.example", "guid-morgan"]}
    # With a fallback user nobody is left out.
    with_fallback = Lookups(users_by_unique_name={"ana@example.com": "acc-ana"}, fallback_account="acc-fallback")
    draft = build_issue_fields(42, story(**{"System.CreatedBy": no_account}), default_plan(), CATALOG, with_fallback)
    assert draft.fields["reporter"] == {"accountId": "acc-fallback"} and draft.users_left_out == {}


def test_long_title_is_cut_and_kept_in_description():
    title = "x" * 300
    draft = build_issue_fields(1, story(**{"System.Title": title}), default_plan(), CATALOG, lookups())
    assert len(draft.fields["summary"]) == 255
    assert title in str(draft.fields["description"])


def test_control_characters_and_newlines_leave_the_summary():
    draft = build_issue_fields(1, story(**{"System.Title": "a\x00b\nc\x07"}), default_plan(), CATALOG, lookups())
    assert draft.fields["summary"] == "ab c"


def test_huge_description_fits_jira_limit_and_says_so():
    html = "<p>" + ("word " * 20000) + "</p>"
    draft = build_issue_fields(9, story(**{"System.Description": html}), default_plan(), CATALOG, lookups())
    assert draft.description_truncated
    assert adf_char_count(draft.fields["description"]) <= 32767


@pytest.mark.parametrize("broken", ["<!-- unterminated comment", "<script>never closed", '<a href="open quote'])
def test_broken_html_in_one_field_does_not_swallow_the_next(broken):
    # Seen with chaos seed 961148: a description ending in an open comment hid the acceptance criteria.
    fields = story(
        **{
            "System.Description": "<p>Intro</p>" + broken,
            "Microsoft.VSTS.Common.AcceptanceCriteria": "<p>Done when @Olu Anders signs off</p>",
        }
    )
    draft = build_issue_fields(3, fields, default_plan(), CATALOG, lookups())
    text = adf_to_text(draft.fields["description"])
    assert "Intro" in text and "AcceptanceCriteria" in text and "Done when @Olu Anders signs off" in text


def test_unmapped_type_is_rejected_with_reason():
    with pytest.raises(ItemRejected, match="not mapped"):
        build_issue_fields(1, story(**{"System.WorkItemType": "Impediment"}), default_plan(), CATALOG, lookups())


def test_subtask_needs_parent():
    task = story(**{"System.WorkItemType": "Task"})
    draft = build_issue_fields(5, task, default_plan(), CATALOG, lookups(), as_subtask=True, parent_key="PHX-1")
    assert draft.fields["issuetype"] == {"id": "6"}
    assert draft.fields["parent"] == {"key": "PHX-1"}
    assert "customfield_10020" not in draft.fields  # sprints belong to the parent
    with pytest.raises(ItemRejected):
        build_issue_fields(5, task, default_plan(), CATALOG, lookups(), as_subtask=True, parent_key=None)


def test_bad_story_points_fail_the_item_alone():
    with pytest.raises(ItemRejected, match="not a number"):
        build_issue_fields(
            1, story(**{"Microsoft.VSTS.Scheduling.StoryPoints": "lots"}), default_plan(), CATALOG, lookups()
        )


def test_to_label():
    assert to_label("  needs  review ") == "needs-review"
    assert to_label("   ") is None


def test_default_plan_fits_sandbox_like_project():
    assert plan_problems(default_plan(), CATALOG) == []


def test_plan_problems_name_what_is_wrong():
    plan = default_plan()
    plan.types["Feature"] = "Initiative"
    plan.states["*"]["Closed"] = "Shipped"
    problems = plan_problems(plan, CATALOG)
    assert any("Initiative" in p and "Feature" in p for p in problems)
    assert any("Shipped" in p for p in problems)
