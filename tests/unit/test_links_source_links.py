"""Source links → Jira links: each ADO link once whichever end reads it, turned the right way."""

from __future__ import annotations

import pytest

from migrayt.mapping.plan import default_plan
from migrayt.translation.source_links import (
    UnknownArtifact,
    canonical_link,
    jira_link_for,
    linked_in_jira,
    owned_by,
    remote_link_for,
    work_item_links,
)

DEP_F, DEP_R = "System.LinkTypes.Dependency-Forward", "System.LinkTypes.Dependency-Reverse"
DUP_F, DUP_R = "System.LinkTypes.Duplicate-Forward", "System.LinkTypes.Duplicate-Reverse"
TESTED_F = "Microsoft.VSTS.Common.TestedBy-Forward"
RELATED = "System.LinkTypes.Related"
LINK_TYPES = default_plan().link_types


@pytest.mark.parametrize(
    ("a_side", "b_side"),
    [
        ((5, DEP_F, 9), (9, DEP_R, 5)),
        ((5, DUP_R, 9), (9, DUP_F, 5)),
        ((5, RELATED, 9), (9, RELATED, 5)),
    ],
)
def test_both_ado_ends_give_one_record_key(a_side, b_side):
    assert canonical_link(*a_side).record_key == canonical_link(*b_side).record_key
    assert canonical_link(*a_side) == canonical_link(*b_side)


def test_a_dependency_each_way_between_the_same_items_is_two_links():
    there = canonical_link(5, DEP_F, 9)  # 9 succeeds 5
    back = canonical_link(9, DEP_F, 5)  # 5 succeeds 9
    assert there.record_key != back.record_key
    assert there.record_key == "5:9:" + DEP_F and back.record_key == "5:9:" + DEP_R


def test_hierarchy_self_and_repeated_relations_are_left_out():
    links = work_item_links(
        7,
        [
            ("System.LinkTypes.Hierarchy-Reverse", 3),
            ("System.LinkTypes.Hierarchy-Forward", 12),
            (RELATED, 7),
            (RELATED, 20),
            (RELATED, 20),
            ("Hyperlink", None),
            (DEP_R, 4),
        ],
    )
    assert sorted(link.record_key for link in links) == ["4:7:" + DEP_F, "7:20:" + RELATED]


def test_only_the_lowest_end_in_the_work_list_owns_a_link():
    link = canonical_link(9, DEP_R, 5)
    assert owned_by(5, link, {5, 9}) and not owned_by(9, link, {5, 9})
    # The lower end is not migrated in this run (deleted, type skipped): the other end owns it.
    assert owned_by(9, link, {9}) and not owned_by(5, link, {9})
    assert not owned_by(5, link, set())


def test_predecessor_blocks_successor():
    plan = jira_link_for(canonical_link(9, DEP_R, 5), LINK_TYPES)  # 5 is 9's predecessor
    assert (plan.type_name, plan.subject, plan.object, plan.symmetric) == ("Blocks", 5, 9, False)


def test_the_duplicate_duplicates_the_original():
    plan = jira_link_for(canonical_link(3, DUP_F, 8), LINK_TYPES)  # 8 is a duplicate of 3
    assert (plan.type_name, plan.subject, plan.object) == ("Duplicate", 8, 3)


def test_the_test_case_tests_the_story_when_the_plan_says_tests():
    plan = jira_link_for(canonical_link(4, TESTED_F, 11), {TESTED_F: "Tests"})
    assert (plan.subject, plan.object, plan.symmetric) == (11, 4, False)
    relates = jira_link_for(canonical_link(4, TESTED_F, 11), LINK_TYPES)
    assert relates.type_name == "Relates" and relates.symmetric


def test_a_plan_naming_only_the_reverse_makes_the_reverse_end_the_subject():
    plan = jira_link_for(canonical_link(9, DEP_R, 5), {DEP_R: "Blocks"})
    assert (plan.subject, plan.object) == (9, 5)


def test_unmapped_link_types_have_no_jira_link():
    assert jira_link_for(canonical_link(1, "System.LinkTypes.Affects-Forward", 2), LINK_TYPES) is None


def test_reconciliation_reads_direction_from_the_subject_side():
    links = [{"type": {"name": "Blocks"}, "inwardIssue": {"key": "PHX-2"}}]
    assert not linked_in_jira(links, "Blocks", "PHX-2", symmetric=False)  # PHX-2 blocks us, not the other way
    assert linked_in_jira(
        [{"type": {"name": "Blocks"}, "outwardIssue": {"key": "PHX-2"}}], "blocks", "PHX-2", symmetric=False
    )
    assert linked_in_jira(
        [{"type": {"name": "Relates"}, "inwardIssue": {"key": "PHX-2"}}], "Relates", "PHX-2", symmetric=True
    )
    assert not linked_in_jira(
        [{"type": {"name": "Relates"}, "outwardIssue": {"key": "PHX-3"}}], "Relates", "PHX-2", symmetric=True
    )


ORG = "https://dev.azure.com/acme"


def test_commit_and_pull_request_become_browsable_remote_links_with_stable_ids():
    commit = "vstfs:///Git/Commit/proj-guid%2Frepo-guid%2Fabc123def4567890"
    remote = remote_link_for(14, "ArtifactLink", commit, {"name": "Fixed in Commit"}, ORG + "/")
    assert remote.url == f"{ORG}/proj-guid/_git/repo-guid/commit/abc123def4567890"
    assert remote.title == "Fixed in Commit abc123def4" and remote.global_id == commit
    again = remote_link_for(14, "ArtifactLink", commit, {"name": "Fixed in Commit"}, ORG)
    assert again.record_key == remote.record_key and again.global_id == remote.global_id
    pr = remote_link_for(14, "ArtifactLink", "vstfs:///Git/PullRequestId/p%2Fr%2F1014", {"name": "Pull Request"}, ORG)
    assert pr.url == f"{ORG}/p/_git/r/pullrequest/1014" and pr.record_key != remote.record_key


def test_hyperlinks_keep_their_url_and_comment_and_long_urls_get_a_short_global_id():
    link = remote_link_for(3, "Hyperlink", "https://wiki.example.com/x", {"comment": "design notes"}, ORG)
    assert (link.url, link.title) == ("https://wiki.example.com/x", "design notes")
    long = remote_link_for(3, "Hyperlink", "https://wiki.example.com/" + "a" * 400, {}, ORG)
    assert len(long.global_id) <= 255 and long.title.startswith("https://wiki.example.com/")


def test_other_relations_are_not_remote_links_and_unknown_artifacts_are_reported():
    assert remote_link_for(3, "AttachedFile", f"{ORG}/_apis/wit/attachments/x", {}, ORG) is None
    assert remote_link_for(3, RELATED, f"{ORG}/_apis/wit/workItems/4", {}, ORG) is None
    with pytest.raises(UnknownArtifact, match="wiki/wikipage"):
        remote_link_for(3, "ArtifactLink", "vstfs:///Wiki/WikiPage/abc%2Fdef", {}, ORG)
