"""The work list's tiers: every parent in an earlier tier than its children, sub-tasks alone in odd tiers."""

from __future__ import annotations

from migrayt.activities.execution.work_list import content_order, depths, is_subtask_tier, tier_of


def test_each_item_sits_one_level_under_its_listed_parent() -> None:
    # Epic 1 → Feature 2 → Story 3 → Task 4; Bug 5 with no parent; Story 6 under Epic 1.
    parents = {1: None, 2: 1, 3: 2, 4: 3, 5: None, 6: 1}
    assert depths(parents) == {1: 0, 2: 1, 3: 2, 4: 3, 5: 0, 6: 1}


def test_a_parent_off_the_list_ends_the_chain() -> None:
    # 20's parent 99 is not migrated (deleted, another project, a type the plan leaves out).
    assert depths({20: 99, 21: 20}) == {20: 0, 21: 1}


def test_a_cycle_is_cut_and_every_item_still_gets_a_tier() -> None:
    parents = {1: 3, 2: 1, 3: 2, 7: 7, 8: 2}
    got = depths(parents)
    assert set(got) == set(parents)
    assert got[7] == 0
    # Around the cycle each item but the one where it was cut is one under its parent.
    assert sum(1 for child in (1, 2, 3) if got[child] == got[parents[child]] + 1) == 2
    assert got[8] == got[2] + 1


def test_a_long_chain_needs_no_deep_recursion() -> None:
    parents = {i: (i - 1 if i else None) for i in range(5000)}
    assert depths(parents)[4999] == 4999


def test_sub_tasks_keep_odd_tiers_so_the_old_two_tier_list_reads_the_same() -> None:
    assert [tier_of(0, False), tier_of(0, True), tier_of(2, False), tier_of(2, True)] == [0, 1, 4, 5]
    assert [is_subtask_tier(t) for t in range(4)] == [False, True, False, True]


def test_the_later_phases_take_the_items_with_most_comments_and_files_first_across_tiers() -> None:
    rows = [
        dict(source_id=1, tier=0, ordinal=0),
        dict(source_id=2, tier=0, ordinal=1),
        dict(source_id=3, tier=1, ordinal=0),
        dict(source_id=4, tier=2, ordinal=0),
    ]
    # Item 4 (a sub-task three levels down, last in the list) has the longest thread; 1 and 3 none.
    writes = {2: 3, 4: 350}
    assert [r["source_id"] for r in content_order(rows, writes)] == [4, 2, 1, 3]
