"""The Xray plugin's records in reports and traces: a membership belongs to its test case, a Test Set or Test Plan
to no one item, and each reads in the customer's words."""

from __future__ import annotations

from migrayt.core.item_records_view import ado_items_of, describe, phase_of


def test_xray_records_belong_to_their_test_case_and_read_in_plain_words() -> None:
    assert ado_items_of("xray_membership", "suite:1000002:13", {}) == [13]
    assert ado_items_of("xray_container", "plan:1000000", {}) == []
    assert ado_items_of("xray_test", "13", {}) == [13] and ado_items_of("steps_table", "13", {}) == [13]
    assert describe("xray_membership", "plan:1000000:13", {}) == "Xray Test Plan of ADO plan 1000000"
    assert describe("xray_container", "suite:1000002", {}) == "Xray Test Set for ADO suite 1000002"
    assert describe("xray_test", "13", {}) == "Xray test steps"
    assert {phase_of(k) for k in ("xray_test", "xray_membership", "xray_container", "steps_table")} == {"xray"}
