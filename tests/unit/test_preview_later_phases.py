"""The preview's per-item rules for phases 4–8, and the reasons it shares with the phases."""

from __future__ import annotations

from migrayt.activities.execution.phase_links import link_blocker, no_issue
from migrayt.activities.preview.later_phases import combined, too_large, transition_outcome
from migrayt.connectors.jira import IssueLinkType, IssueTypeStatuses
from migrayt.translation.source_links import canonical_link, jira_link_for

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
    assert (
        link_blocker(link, plan, None, {})
        == "Jira has no issue link type named 'Blocks' (mapped from System.LinkTypes.Dependency-Forward)"
    )
    assert link_blocker(link, plan, BLOCKS, {"7": "PHX-1"}) == (
        "ADO #3 has no Jira issue (not migrated or failed), so the System.LinkTypes.Dependency-Forward link #7 "
        "→ #3 cannot be made"
    )
    assert "ADO #7 and ADO #3 have no Jira issue" in link_blocker(link, plan, BLOCKS, {})
    assert link_blocker(link, plan, BLOCKS, {"7": "PHX-1", "3": "PHX-2"}) is None
    assert no_issue(5) == "ADO #5 has no Jira issue (not migrated or failed)"


STORY = IssueTypeStatuses.model_validate(
    {
        "id": "10001",
        "name": "Story",
        "statuses": [
            {"id": "10000", "name": "To Do", "statusCategory": {"key": "new"}},
            {"id": "3", "name": "In Progress", "statusCategory": {"key": "indeterminate"}},
            {"id": "10002", "name": "Done", "statusCategory": {"key": "done"}},
        ],
    }
)


def test_a_transition_is_predicted_from_the_types_statuses_and_where_the_issue_starts():
    assert transition_outcome("Done", STORY, "To Do", "PHX-(new 4)", "PHX") == ("created", None)
    assert transition_outcome("to do", STORY, "To Do", "PHX-(new 4)", "PHX") == ("skipped", None)  # no step to take
    outcome, reason = transition_outcome("Won't Fix", STORY, "To Do", "PHX-(new 4)", "PHX")
    assert outcome == "failed"
    assert reason == (
        'status "Won\'t Fix" is not in the workflow of Story issues in PHX (it has To Do, In Progress, Done); '
        "PHX-(new 4) stays 'To Do'"
    )
