"""The web pages' shaping of plans and progress (pure functions)."""

from __future__ import annotations

from migrayt.api.web import views
from migrayt.contracts.runs import PhaseCounters, PhaseSchedule, RunStatus
from migrayt.intake.catalog import Catalog, FieldUsage
from migrayt.mapping.plan import EntryOrigin, FieldMapping, default_plan
from migrayt.mapping.schema import TargetField, TargetIssueType, TargetSchema, TargetStatus

FLOW = [TargetStatus(name=n) for n in ("To Do", "In Progress", "In Review", "Done")]
OPTIONS = TargetSchema(
    project_key="PHX",
    issue_types=[
        TargetIssueType(name="Epic", hierarchy_level=1, statuses=FLOW),
        TargetIssueType(name="Story", statuses=FLOW),
        TargetIssueType(name="Task", statuses=FLOW),
        TargetIssueType(name="Bug", statuses=[*FLOW, TargetStatus(name="Won't Fix")]),
        TargetIssueType(name="Test", statuses=FLOW),
        TargetIssueType(name="Sub-task", hierarchy_level=-1, subtask=True, statuses=FLOW),
    ],
    fields=[
        TargetField(id="summary", name="Summary"),
        TargetField(id="customfield_10104", name="Sprint", custom_type="com.pyxis.greenhopper.jira:gh-sprint"),
        TargetField(id="customfield_10133", name="Story point estimate"),
        TargetField(id="customfield_10200", name="Severity"),
    ],
    priorities=["Highest", "High", "Medium", "Low", "Lowest"],
    link_types=["Blocks", "Duplicate", "Relates"],
    sprint_field="customfield_10104",
    story_points_field="customfield_10133",
)


def test_plan_rows_carry_each_entrys_origin_and_confidence():
    plan = default_plan()
    plan.provenance["types/Bug"] = EntryOrigin(origin="ai", confidence=0.72, note="similar name")
    rows = {row.name: row for row in views.plan_rows(plan)}
    assert rows["e:types/Bug"].origin == "ai" and rows["e:types/Bug"].confidence == 0.72
    assert rows["e:types/Task"].origin == "rule"
    assert rows["e:states/*/Active"].jira == "In Progress"
    total = sum(len(getattr(plan, s)) for s, _ in views.DICT_SECTIONS) + sum(len(v) for v in plan.states.values())
    assert len(rows) == total


def test_the_edit_form_changes_removes_and_leaves_entries():
    plan = default_plan()
    plan.fields.append(FieldMapping(source="Custom.Points", target="customfield_10016", transform="number"))
    form = {
        "base_version": "1",
        "e:types/Bug": "Task",
        "e:priorities/4": "",
        "e:states/*/Active": " In Review ",
        "f:0:target": "customfield_10020",
        "f:0:transform": "no-such-transform",
        "skip_phases_shown": "1",
        "skip:comments": "on",
    }
    edited = views.apply_form(plan, form)
    assert edited.types["Bug"] == "Task" and "4" not in edited.priorities
    assert edited.states["*"]["Active"] == "In Review"
    assert edited.fields[0].target == "customfield_10020" and edited.fields[0].transform == plan.fields[0].transform
    assert edited.skip_phases == ["comments"]
    assert plan.types["Bug"] == "Bug"  # the base is not touched
    # A form without the phase boxes leaves the skipped phases as they were.
    assert views.apply_form(edited, {"e:types/Bug": "Bug"}).skip_phases == ["comments"]


def test_the_edit_form_switches_provenance_fields_each_on_its_own():
    plan = default_plan()
    assert all(plan.provenance_fields.model_dump().values())  # on by default
    form = {"provenance_shown": "1", **{f"prov:{k}": "on" for k in ("ado_id", "original_created", "link_back")}}
    edited = views.apply_form(plan, form).provenance_fields
    assert {k for k, on in edited.model_dump().items() if on} == {"ado_id", "original_created", "link_back"}
    # A form without the provenance boxes leaves them as they were.
    assert views.apply_form(plan, {"e:types/Bug": "Bug"}).provenance_fields == plan.provenance_fields


def test_the_edit_form_switches_muting_notifications_off_and_on():
    plan = default_plan()
    assert plan.mute_notifications  # on by default
    off = views.apply_form(plan, {"notifications_shown": "1"})
    assert off.mute_notifications is False
    assert views.apply_form(off, {"notifications_shown": "1", "mute_notifications": "on"}).mute_notifications
    # A form without the switch leaves it as it was.
    assert views.apply_form(off, {"e:types/Bug": "Bug"}).mute_notifications is False


def test_the_mapping_form_picks_the_phase_schedule():
    plan = default_plan()
    assert plan.phase_schedule == PhaseSchedule.SIDE_BY_SIDE  # new plans run side by side
    sequential = views.apply_form(plan.model_copy(deep=True), {"phase_schedule": "sequential"})
    assert sequential.phase_schedule == PhaseSchedule.SEQUENTIAL
    # A form without the choice (or with one Migrayt does not know) leaves it as it was.
    assert views.apply_form(sequential, {"phase_schedule": "fastest"}).phase_schedule == PhaseSchedule.SEQUENTIAL


def test_phase_bars_follow_the_run():
    counters = {"create_items": PhaseCounters(total=40, created=30, failed=2), "hierarchy": PhaseCounters(total=40)}
    bars = {b.phase: b for b in views.phase_bars(RunStatus.RUNNING, "create_items", counters)}
    assert bars["preflight"].state == "done" and bars["preflight"].percent == 100
    assert (
        bars["create_items"].state == "active"
        and bars["create_items"].done == 32
        and bars["create_items"].percent == 80
    )
    assert bars["hierarchy"].state == "waiting" and bars["hierarchy"].percent == 0
    finished = {b.phase: b for b in views.phase_bars(RunStatus.COMPLETED, "plugins", counters)}
    assert all(b.state == "done" for b in finished.values())


def test_durations_and_sizes_read_well():
    assert views.duration(None) == "—"
    assert views.duration(42.4) == "42 s"
    assert views.duration(125) == "2 min 05 s"
    assert views.duration(3 * 3600 + 60) == "3 h 01 min"
    assert views.size(512) == "512 B" and views.size(3 * 1024 * 1024) == "3.0 MiB"


def test_audit_details_name_the_phase_and_message_only():
    assert views.event_detail({"status": "RUNNING", "phase": "create_items"}) == "Create issues"
    assert views.event_detail({"version": 3, "origin": "human"}) == "version 3"
    assert views.event_detail(None) == ""


def test_rows_offer_what_the_project_has_and_flag_what_it_lacks():
    plan = default_plan()
    plan.types["User Story"] = "Tset"
    rows = {row.name: row for row in views.plan_rows(plan, OPTIONS, {"Bug": ["New", "Active", "Closed"]})}
    story = rows["e:types/User Story"]
    assert story.choices == ["Epic", "Story", "Task", "Bug", "Test"] and story.unknown
    assert not rows["e:types/Bug"].unknown
    assert rows["e:subtask_types/Task"].choices == ["Sub-task"]
    assert rows["e:priorities/1"].choices == OPTIONS.priorities
    # Bug's workflow differs from the others': its states are offered per type, with its own statuses,
    # empty (as any type) until someone picks one.
    closed = rows["e:states/Bug/Closed"]
    assert "Won't Fix" in closed.choices and closed.jira == "" and closed.inherit == "Done"
    assert "Won't Fix" not in rows["e:states/*/Closed"].choices  # any type: statuses every type's workflow has
    assert not any(name.startswith("e:states/Task/") for name in rows)


def test_per_type_state_form_entries_override_and_an_empty_one_inherits():
    plan = default_plan()
    edited = views.apply_form(plan, {"e:states/Bug/Closed": "Won't Fix", "e:states/Bug/Active": ""})
    assert edited.states["Bug"] == {"Closed": "Won't Fix"}
    assert edited.target_status("Bug", "Closed") == "Won't Fix" and edited.target_status("Task", "Closed") == "Done"
    assert edited.target_status("Bug", "Active") == "In Progress"


def test_every_field_in_use_is_shown_by_name_with_where_it_goes():
    plan = default_plan()
    plan.fields.append(FieldMapping(source="Custom.Severity", target="customfield_10200", transform="picklist"))
    catalog = Catalog(
        fields=[
            FieldUsage(reference_name="System.Title", name="Title", filled=40),
            FieldUsage(reference_name="System.IterationPath", name="Iteration Path", filled=40),
            FieldUsage(reference_name="Microsoft.VSTS.Scheduling.StoryPoints", name="Story Points", type="double"),
            FieldUsage(reference_name="Custom.Severity", name="Severity", picklist=True),
            FieldUsage(reference_name="Custom.Risk", name="Risk", type="double", filled=3),
        ]
    )
    rows = {r.source: r for r in views.field_rows(plan, OPTIONS, catalog)}
    assert (rows["Custom.Severity"].how, rows["Custom.Severity"].target_name) == ("plan", "Severity")
    assert (rows["System.Title"].how, rows["System.Title"].target_name) == ("built-in", "Summary")
    assert rows["System.IterationPath"].target_name == "Sprint"  # the sprint field found by schema
    assert rows["Microsoft.VSTS.Scheduling.StoryPoints"].target_name == "Story point estimate"
    risk = rows["Custom.Risk"]
    assert (risk.how, risk.transform, risk.source_name) == ("not migrated", "number", "Risk")
    added = views.apply_form(plan, {"nf:Custom.Risk": "customfield_10133", "nt:Custom.Risk": "number"})
    assert added.fields[-1] == FieldMapping(source="Custom.Risk", target="customfield_10133", transform="number")
