from migrayt.connectors.ado import WorkItem
from migrayt.intake.catalog import CatalogBuilder, FieldMeta, StateInfo, TargetLimits

FIELDS = [
    FieldMeta(reference_name="Microsoft.VSTS.Common.Priority", type="integer", picklist=True),
    FieldMeta(reference_name="System.Description", type="html"),
]
STATES = {
    "Epic": [StateInfo(name="New"), StateInfo(name="Active")],
    "Task": [StateInfo(name="New"), StateInfo(name="Closed")],
}


def wi(id: int, type: str, state: str, parent: int | None = None, rels=(), **fields) -> WorkItem:
    relations = [{"rel": r, "url": f"https://x/_apis/wit/workItems/{o}", "attributes": a} for r, o, a in rels]
    if parent:
        relations.append(
            {
                "rel": "System.LinkTypes.Hierarchy-Reverse",
                "url": f"https://x/_apis/wit/workItems/{parent}",
                "attributes": {},
            }
        )
    return WorkItem.model_validate(
        {
            "id": id,
            "rev": 2,
            "fields": {"System.WorkItemType": type, "System.State": state, "System.Rev": 2, **fields},
            "relations": relations,
        }
    )


def test_counts_dedupe_links_and_measure_depth():
    b = CatalogBuilder(TargetLimits(hierarchy_levels=2, attachment_bytes=100), FIELDS, STATES)
    b.add(
        wi(
            1,
            "Epic",
            "Active",
            **{"System.Title": "x" * 300, "Microsoft.VSTS.Common.Priority": 2, "System.CommentCount": 4},
            rels=[
                ("System.LinkTypes.Related", 2, {}),
                ("System.LinkTypes.Dependency-Forward", 3, {}),
                ("AttachedFile", 0, {"resourceSize": 150}),
                ("Hyperlink", 0, {}),
            ],
        )
    )
    b.add(
        wi(
            2,
            "Task",
            "New",
            parent=1,
            rels=[("System.LinkTypes.Related", 1, {})],
            **{"Microsoft.VSTS.Common.Priority": 2},
        )
    )
    b.add(
        wi(
            3,
            "Task",
            "Closed",
            parent=2,
            rels=[("System.LinkTypes.Dependency-Reverse", 1, {}), ("AttachedFile", 0, {"resourceSize": 50})],
        )
    )
    b.add(wi(3, "Task", "Closed", parent=2))  # a retried batch: counted once
    c = b.finish()
    assert c.items_total == 3 and c.by_type == {"Epic": 1, "Task": 2}
    assert c.by_type_state == {"Epic": {"Active": 1}, "Task": {"Closed": 1, "New": 1}}
    assert c.links == 2 and c.hierarchy_links == 2 and c.remote_links == 1
    assert (c.attachments.count, c.attachments.total_bytes, c.attachments.largest_item) == (2, 200, 1)
    assert c.facts.large_attachments.items == [1]
    assert c.facts.long_titles.items == [1]
    assert c.hierarchy_depth == 3 and c.facts.too_deep.items == [3]
    assert c.comments.count == 4 and c.comments.max_item == 1
    assert c.transitions == 2  # Active epic, Closed task: not in their first state
    assert c.field("Microsoft.VSTS.Common.Priority").values == {"2": 2}
    assert c.field("Microsoft.VSTS.Common.Priority").fill_rate == round(2 / 3, 4)


def test_a_parent_cycle_does_not_hang():
    b = CatalogBuilder(TargetLimits(), FIELDS)
    b.add(wi(1, "Task", "New", parent=2))
    b.add(wi(2, "Task", "New", parent=1))
    assert b.finish().hierarchy_depth == 2


def test_lint_finds_items_past_jiras_per_issue_caps_on_links_to_acknowledge_and_on_worklogs_to_overflow():
    from migrayt.intake.lint import lint

    limits = TargetLimits(issue_links_per_issue=2, remote_links_per_issue=2, worklogs_per_issue=3)
    b = CatalogBuilder(limits, FIELDS, STATES)
    related = [("System.LinkTypes.Related", other, {}) for other in (2, 3, 4)]
    b.add(wi(1, "Epic", "Active", rels=[*related, ("Hyperlink", 0, {}), ("Hyperlink", 0, {})]))
    b.add(wi(2, "Task", "New", rels=[("Hyperlink", 0, {}) for _ in range(3)]))
    b.set_time_logs(5, True, {2: 4, 1: 1})
    report = lint(b.finish())
    found = {f.rule: (f.items, f.figures, f.limit) for f in report.to_acknowledge()}
    assert found == {
        "many_issue_links": ([1], {1: 3}, 2),
        "many_remote_links": ([2], {2: 3}, 2),
    }
    assert all(f.must_acknowledge for f in report.to_acknowledge())
    # Worklogs past the cap are attached as a file, as comments' overflow is: linted, nothing fails.
    [worklogs] = report.by_rule("many_worklogs")
    assert (worklogs.items, worklogs.figures, worklogs.limit) == ([2], {2: 4}, 3)
    assert "attached as a file" in worklogs.action and not worklogs.must_acknowledge
