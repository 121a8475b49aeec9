from migrayt.mapping.plan import FieldMapping, default_plan
from migrayt.mapping.versions import mark_human_edits


def test_a_persons_changes_are_marked_human_and_listed():
    base = default_plan()
    edited = base.model_copy(deep=True)
    edited.types["Issue"] = "Bug"
    edited.states["*"]["Removed"] = "Won't Fix"
    edited.fields.append(
        FieldMapping(
            source="Microsoft.VSTS.Scheduling.DueDate",
            target="duedate",
            transform="date",
            origin="rule",
            confidence=0.4,
        )
    )
    edited.users["ines@acme.example"] = "acc-1"
    marked, changed = mark_human_edits(base, edited)
    assert changed == ["fields/Microsoft.VSTS.Scheduling.DueDate", "states/*/Removed", "types/Issue", "users"]
    assert marked.provenance["types/Issue"].origin == "human" and marked.provenance["types/Issue"].confidence == 1.0
    due = next(m for m in marked.fields if m.source == "Microsoft.VSTS.Scheduling.DueDate")
    assert (due.origin, due.confidence) == ("human", 1.0)
    assert "types/Epic" not in marked.provenance  # untouched entries keep their origin


def test_no_change_no_marks():
    plan = default_plan()
    marked, changed = mark_human_edits(plan, plan.model_copy(deep=True))
    assert changed == [] and marked.provenance == {}
