"""The preview's per-item rules for phases 4–8, and the reasons it shares with the phases."""

from __future__ import annotations

from migrayt.activities.execution.phase_links import link_blocker, no_issue
from migrayt.activities.execution.source_links import canonical_link, jira_link_for
from migrayt.activities.preview.later_phases import combined, too_large
from migrayt.connectors.jira import IssueLinkType

BLOCKS = IssueLinkType.model_validate({"id": "1", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"})


def test_an_item_fails_if_any_write_fails_else_created_if_any_was_made():
    assert combined(["created", "failed", "skipped"]) == "failed"
    assert combined(["skipped", "created"]) == "created"
    assert combined(["skipped"]) == "skipped"
    assert combined([]) == "skipped"  # nothing to carry: passed over, as the phases count it


def test_a_file_over_the_limit_gets_the_phases_413_reason_with_the_name_jira_sees():
    reason = too_large('spec "v2".pdf', 10 * 1024 * 1024)
    assert reason == (
        "Jira refused the file as too large (HTTP 413): The file 'spec _v2_.pdf' is too large to attach. "
        "Attachments cannot be larger than 10485760 bytes."
    )


def test_link_blockers_name_the_cause_the_run_would_record():
    link = canonical_link(7, "System.LinkTypes.Dependency-Forward", 3)
    plan = jira_link_for(link, {"System.LinkTypes.Dependency-Forward": "Blocks"})
    assert link_blocker(link, None, None, {}) == (
        "ADO link type System.LinkTypes.Dependency-Forward (#7 → #3) is not in the mapping plan's link map"
    )
    assert link_blocker(link, plan, None, {}) == "Jira has no issue link type named 'Blocks' (mapped from System.LinkTypes.Dependency-Forward)"
    assert link_blocker(link, plan, BLOCKS, {"7": "PHX-1"}) == (
        "ADO #3 has no Jira issue (not migrated or failed), so the System.LinkTypes.Dependency-Forward link #7 → #3 cannot be made"
    )
    assert "ADO #7 and ADO #3 have no Jira issue" in link_blocker(link, plan, BLOCKS, {})
    assert link_blocker(link, plan, BLOCKS, {"7": "PHX-1", "3": "PHX-2"}) is None
    assert no_issue(5) == "ADO #5 has no Jira issue (not migrated or failed)"
