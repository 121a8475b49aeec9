from migrayt.mapping.matcher import draft_by_rules
from migrayt.mapping.schema import (
    SourceField,
    SourceSchema,
    SourceState,
    SourceType,
    TargetField,
    TargetIssueType,
    TargetSchema,
    TargetStatus,
)

STD = [
    TargetStatus(name="To Do", category="new"),
    TargetStatus(name="In Progress", category="indeterminate"),
    TargetStatus(name="In Review", category="indeterminate"),
    TargetStatus(name="Done", category="done"),
]
TARGET = TargetSchema(
    project_key="PHX",
    issue_types=[
        TargetIssueType(name="Epic", hierarchy_level=1, statuses=STD),
        TargetIssueType(name="Story", statuses=STD),
        TargetIssueType(name="Task", statuses=STD),
        TargetIssueType(name="Bug", statuses=STD + [TargetStatus(name="Won't Fix", category="done")]),
        TargetIssueType(name="Sub-task", hierarchy_level=-1, subtask=True, statuses=STD),
    ],
    fields=[
        TargetField(id="customfield_10016", name="Story point estimate", type="number"),
        TargetField(id="duedate", name="Due date", type="date"),
        TargetField(
            id="customfield_10040", name="Severity", type="option", allowed_values=["1 - Critical", "2 - High", "Minor"]
        ),
        TargetField(
            id="customfield_10031",
            name="Source URL",
            type="string",
            custom_type="com.atlassian.jira.plugin.system.customfieldtypes:textfield",
        ),
    ],
    priorities=["Highest", "High", "Medium", "Low", "Lowest"],
    link_types=["Blocks", "Cloners", "Duplicate", "Relates"],
)


def st(name, category):
    return SourceState(name=name, category=category)


SOURCE = SourceSchema(
    types=[
        SourceType(name="Epic", states=[st("New", "Proposed"), st("Closed", "Completed")]),
        SourceType(
            name="User Story",
            states=[
                st("New", "Proposed"),
                st("Active", "InProgress"),
                st("Resolved", "Resolved"),
                st("Removed", "Removed"),
            ],
        ),
        SourceType(name="Task", states=[st("Done", "Completed")]),
        SourceType(name="Impediment", states=[st("Open", "Proposed")]),
        SourceType(name="Risk", states=[]),
    ],
    fields=[
        SourceField(reference_name="Microsoft.VSTS.Scheduling.StoryPoints", name="Story Points", type="double"),
        SourceField(reference_name="Microsoft.VSTS.Scheduling.DueDate", name="Due Date", type="dateTime"),
        SourceField(
            reference_name="Microsoft.VSTS.Common.Severity",
            name="Severity",
            type="string",
            picklist=True,
            allowed_values=["1 - Critical", "2 - High", "3 - Medium"],
        ),
        SourceField(reference_name="Custom.Team", name="Team", type="string", picklist=True, allowed_values=["Falcon"]),
        SourceField(reference_name="System.Title", name="Title", type="string"),
        SourceField(reference_name="Microsoft.VSTS.TCM.ReproSteps", name="Repro Steps", type="html"),
    ],
    link_types={
        "System.LinkTypes.Related": 4,
        "System.LinkTypes.Dependency-Reverse": 2,
        "System.LinkTypes.Hierarchy-Forward": 9,
        "Microsoft.VSTS.Common.TestedBy-Forward": 1,
    },
    priorities=["1", "2", "3", "4"],
)


def test_types_by_name_then_synonym_then_fallback():
    plan, report = draft_by_rules(SOURCE, TARGET)
    assert plan.types == {"Epic": "Epic", "User Story": "Story", "Task": "Task", "Impediment": "Task", "Risk": "Task"}
    assert plan.provenance["types/Epic"].confidence == 1.0
    assert plan.provenance["types/User Story"].confidence == 0.9
    assert plan.provenance["types/Risk"].confidence < 0.5
    assert plan.subtask_types == {"Task": "Sub-task"}
    assert all(p.origin == "rule" for p in plan.provenance.values())


def test_states_by_name_or_category_onto_statuses_every_type_has():
    plan, _ = draft_by_rules(SOURCE, TARGET)
    states = plan.states["*"]
    assert states["Done"] == "Done" and plan.provenance["states/*/Done"].confidence == 1.0
    assert (states["New"], states["Open"], states["Active"], states["Resolved"]) == (
        "To Do",
        "To Do",
        "In Progress",
        "In Review",
    )
    assert states["Closed"] == "Done" and states["Removed"] == "Done"  # not Won't Fix: only Bugs have it
    assert plan.provenance["states/*/Active"].confidence < 1.0


def test_priorities_by_rank_and_link_types_by_meaning():
    plan, report = draft_by_rules(SOURCE, TARGET)
    assert plan.priorities == {"1": "Highest", "2": "High", "3": "Medium", "4": "Low"}
    assert plan.link_types == {
        "System.LinkTypes.Related": "Relates",
        "System.LinkTypes.Dependency-Forward": "Blocks",
        "Microsoft.VSTS.Common.TestedBy-Forward": "Relates",
    }
    assert plan.provenance["link_types/Microsoft.VSTS.Common.TestedBy-Forward"].confidence < 0.5


def test_fields_need_a_name_and_a_compatible_type():
    plan, report = draft_by_rules(SOURCE, TARGET)
    fields = {m.source: m for m in plan.fields}
    assert (
        fields["Microsoft.VSTS.Scheduling.StoryPoints"].target,
        fields["Microsoft.VSTS.Scheduling.StoryPoints"].transform,
    ) == ("customfield_10016", "number")
    assert (
        fields["Microsoft.VSTS.Scheduling.DueDate"].target,
        fields["Microsoft.VSTS.Scheduling.DueDate"].transform,
    ) == ("duedate", "date")
    severity = fields["Microsoft.VSTS.Common.Severity"]
    assert severity.transform == "picklist" and severity.values == {
        "1 - Critical": "1 - Critical",
        "2 - High": "2 - High",
    }
    assert severity.confidence <= 0.6  # "3 - Medium" has no counterpart
    assert "System.Title" not in fields and "Microsoft.VSTS.TCM.ReproSteps" not in fields  # the run writes these itself
    assert {u.source for u in report.unmapped if u.kind == "field"} == {"Custom.Team"}


def test_users_are_never_mapped_by_the_matcher():
    plan, _ = draft_by_rules(SOURCE, TARGET)
    assert plan.users == {}


def test_shared_steps_are_left_unmapped_since_their_steps_go_into_the_test_cases_that_use_them():
    source = SOURCE.model_copy(
        update={"types": [*SOURCE.types, SourceType(name="Shared Steps", states=[st("Active", "InProgress")])]}
    )
    plan, _ = draft_by_rules(source, TARGET)
    assert "Shared Steps" not in plan.types
    assert plan.types["Risk"] == "Task"


def test_a_state_named_like_a_status_only_its_types_workflow_has_is_mapped_per_type():
    source = SOURCE.model_copy(deep=True)
    source.types.append(
        SourceType(name="Bug", states=[st("New", "Proposed"), st("Won't Fix", "Completed"), st("Closed", "Completed")])
    )
    plan, _ = draft_by_rules(source, TARGET)
    assert plan.states["*"]["Won't Fix"] == "Done"  # any other type: a status every workflow has
    assert plan.states["Bug"] == {"Won't Fix": "Won't Fix"}
    assert plan.target_status("Bug", "Won't Fix") == "Won't Fix" and plan.target_status("Bug", "Closed") == "Done"
    assert plan.provenance["states/Bug/Won't Fix"].note == "same name, in the workflow of Bug"
