"""The web pages' shaping of plans and progress (pure functions)."""

from __future__ import annotations

from migrayt.api.web import views
from migrayt.contracts.runs import PhaseCounters, RunStatus
from migrayt.mapping.plan import EntryOrigin, default_plan


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
