"""Provenance facts of a work item → custom field values or a description panel: pure functions."""

from __future__ import annotations

from migrayt.connectors.adf import adf_to_text
from migrayt.mapping.plan import MappingPlan, default_plan
from migrayt.sandbox.jira.adf import adf_validator
from migrayt.translation.issue_fields import Lookups, build_issue_fields
from migrayt.translation.provenance import FACTS, ProvenanceTarget, chosen_facts, source_facts
from migrayt.translation.validation_rules import same_value
from tests.unit.test_issue_fields import CATALOG

ORG = "https://dev.azure.com/acme"
CLOSED_BUG = {
    "System.WorkItemType": "Bug",
    "System.Title": "Crash on save",
    "System.State": "Closed",
    "System.CreatedDate": "2019-03-04T05:06:07.89Z",
    "System.CreatedBy": {"displayName": "Jo Gone", "uniqueName": "jo@old.example", "id": "ado-jo"},
    "System.ChangedDate": "2020-01-01T00:00:00+02:00",
    "Microsoft.VSTS.Common.ResolvedDate": "2019-12-31T21:59:59.5Z",
    "Microsoft.VSTS.Common.ClosedDate": "2019-12-31T22:00:00Z",
    "System.Description": "<p>It crashes.</p>",
}


def target(mode: str = "fields", plan: MappingPlan | None = None) -> ProvenanceTarget:
    facts = chosen_facts((plan or default_plan()).provenance_fields)
    ids = {f.key: f"customfield_{10100 + n}" for n, f in enumerate(facts)} if mode == "fields" else {}
    return ProvenanceTarget(ORG, "Phoenix Web", facts, mode, ids)


def test_every_fact_is_written_in_its_field_in_utc_to_the_second_and_a_person_without_account_keeps_the_name():
    t = target()
    draft = build_issue_fields(42, CLOSED_BUG, default_plan(), CATALOG, Lookups(provenance=t))
    by_name = {f.name: draft.fields.get(t.field_ids[f.key]) for f in FACTS}
    assert by_name == {
        "ADO ID": 42,
        "ADO URL": f"{ORG}/Phoenix%20Web/_workitems/edit/42",
        "Original created": "2019-03-04T05:06:07.000+0000",
        "Original created by": "Jo Gone <jo@old.example>",
        "Original changed": "2019-12-31T22:00:00.000+0000",
        "Original resolved": "2019-12-31T21:59:59.000+0000",
        "Original closed": "2019-12-31T22:00:00.000+0000",
        "Original state": "Closed",
    }
    assert "reporter" not in draft.fields  # no Jira account and no fallback user: the name is in the field
    assert draft.fields["description"]["content"][0]["type"] != "panel"


def test_a_fact_switched_off_is_not_written_and_an_empty_one_is_left_out():
    plan = default_plan()
    plan.provenance_fields.original_state = False
    t = target(plan=plan)
    open_bug = {k: v for k, v in CLOSED_BUG.items() if "Resolved" not in k and "Closed" not in k}
    fields = build_issue_fields(7, open_bug, plan, CATALOG, Lookups(provenance=t)).fields
    assert "original_state" not in t.field_ids
    assert t.field_ids["original_resolved"] not in fields and t.field_ids["original_closed"] not in fields
    assert fields[t.field_ids["original_created"]] == "2019-03-04T05:06:07.000+0000"


def test_where_fields_are_refused_the_same_facts_head_the_description_in_a_valid_info_panel():
    draft = build_issue_fields(42, CLOSED_BUG, default_plan(), CATALOG, Lookups(provenance=target("panel")))
    description = draft.fields["description"]
    panel = description["content"][0]
    assert panel["type"] == "panel" and panel["attrs"] == {"panelType": "info"}
    assert adf_validator().first_error(description) is None
    text = adf_to_text({"type": "doc", "version": 1, "content": [panel]})
    assert "Original created: 2019-03-04 05:06:07 UTC" in text
    assert "Original created by: Jo Gone <jo@old.example>" in text
    assert "It crashes." in adf_to_text(description)
    assert not any(k.startswith("customfield_101") for k in draft.fields)


def test_no_provenance_target_writes_nothing_extra():
    with_none = build_issue_fields(42, CLOSED_BUG, default_plan(), CATALOG, Lookups())
    assert not any(k.startswith("customfield_101") for k in with_none.fields)
    assert source_facts(42, {}, ORG, "P")["original_created"] is None


def test_validation_compares_date_times_to_the_second_in_utc():
    assert same_value("2019-03-04T05:06:07.000+0000", "2019-03-04T07:06:07.000+0200")
    assert not same_value("2019-03-04T05:06:07.000+0000", "2019-03-04T05:06:08.000+0000")
    assert same_value(42, 42.0) and not same_value(42, None) and same_value(None, "")


def test_a_provenance_field_someone_else_edited_after_the_migration_is_changed_after_not_an_error():
    from datetime import UTC, datetime

    from migrayt.contracts.validation import Difference, DifferenceKind
    from migrayt.translation.validation_rules import Change, classify

    d = Difference(check="provenance", kind=DifferenceKind.DIFFERENT, ado_id=4, jira_key="PHX-4")
    later = datetime(2026, 1, 2, tzinfo=UTC)
    edit = Change(author="someone", created=later, fields=frozenset({"original created"}))
    [found] = classify([d], [edit], "migrator", datetime(2026, 1, 1, tzinfo=UTC))
    assert found.kind == DifferenceKind.CHANGED_AFTER


def test_a_hostile_name_becomes_one_clean_line_within_the_field_limit():
    from migrayt.translation.provenance import person

    name = {"displayName": "Eve\x00\x07 \n Null\ud800 " + "x" * 400, "uniqueName": "eve@example.com"}
    shown = person(name)
    assert shown is not None and len(shown) == 255 and "\x00" not in shown and "\n" not in shown
    assert shown.startswith("Eve Null")
    assert person({"displayName": "", "uniqueName": ""}) is None and person(None) is None


def test_an_address_too_long_for_the_url_field_is_left_to_the_link_back():
    t = ProvenanceTarget(ORG + "/" + "o" * 250, "Phoenix", list(FACTS), "fields", {f.key: f.key for f in FACTS})
    fields = build_issue_fields(42, CLOSED_BUG, default_plan(), CATALOG, Lookups(provenance=t)).fields
    assert "ado_url" not in fields and fields["ado_id"] == 42
