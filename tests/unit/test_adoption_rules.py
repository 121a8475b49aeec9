"""Which issue found in Jira is an item's own: the source identity rules of adoption."""

from __future__ import annotations

from migrayt.activities.execution.adoption import (
    FoundIssue,
    Identity,
    decide,
    expected_summary,
    reconcilable,
    settle_legacy,
)

ACME = Identity("https://dev.azure.com/acme", "Phoenix")


def ours(key: str, ado_id: int = 48, org: str = "https://dev.azure.com/acme/") -> FoundIssue:
    return FoundIssue(key, "Login fails", {"organization": org, "project": "phoenix", "id": ado_id})


def test_the_property_decides_and_another_organisations_issue_is_never_adopted():
    found = {48: [ours("PHX-9", org="https://dev.azure.com/globex"), ours("PHX-12"), ours("PHX-3")]}
    adoption = decide(ACME, found)
    assert adoption.keys == {48: "PHX-3"} and adoption.duplicates == {48: ["PHX-12"]}
    assert adoption.foreign == {48: ["PHX-9"]}
    only_foreign = decide(ACME, {48: [ours("PHX-9", org="https://dev.azure.com/globex")]})
    assert only_foreign.keys == {}
    # A property naming another item (a label copied by hand) is not this item either.
    assert decide(ACME, {48: [ours("PHX-5", ado_id=49)]}).keys == {}


def test_an_issue_without_the_property_is_adopted_only_with_the_very_summary_this_item_gets():
    legacy = FoundIssue("PHX-4", "Login fails", None)
    adoption = decide(ACME, {48: [legacy], 50: [FoundIssue("PHX-6", "Something else", None)]})
    assert adoption.keys == {} and set(adoption.legacy) == {48, 50}
    settle_legacy(adoption, {48: expected_summary(48, {"System.Title": " Login\nfails"}), 50: "Checkout"})
    assert adoption.keys == {48: "PHX-4"} and adoption.legacy == {}


def test_a_pending_record_never_reconciles_to_another_sources_issue():
    issues = [ours("PHX-2", org="https://dev.azure.com/globex"), FoundIssue("PHX-7", "x", None), ours("PHX-8")]
    assert reconcilable(ACME, 48, issues) == ["PHX-7", "PHX-8"]


def test_the_expected_summary_is_cut_as_create_items_cuts_it():
    assert expected_summary(3, {"System.Title": ""}) == "(untitled ADO work item 3)"
    long = expected_summary(3, {"System.Title": "x" * 300})
    assert len(long) == 255 and long.endswith("…")
