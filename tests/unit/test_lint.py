from migrayt.intake.catalog import Catalog, FieldUsage, IdList, TargetLimits, UserSummary
from migrayt.intake.lint import lint


def ids(*pairs):
    out = IdList()
    for item, figure in pairs:
        out.add(item, figure)
    return out


def test_every_breach_is_listed_with_its_items_and_what_the_run_does():
    c = Catalog(limits=TargetLimits(comments_per_issue=300), hierarchy_depth=4)
    c.facts.long_titles = ids((7, 380))
    c.facts.long_texts = {"System.Description": ids((9, 40_000))}
    c.facts.large_attachments = ids((12, 11_000_000))
    c.facts.many_attachments = ids((13, 2500))
    c.facts.many_comments = ids((14, 350))
    c.facts.too_deep = ids((20, 4), (21, 4))
    c.users = [
        UserSummary(unique_name="ACME\\svc-build", has_email=False),
        UserSummary(unique_name="a@x.example", has_email=True),
    ]
    report = lint(c)
    by_rule = {b.rule: b for b in report.breaches}
    assert set(by_rule) == {
        "long_summary",
        "long_text",
        "large_attachment",
        "many_attachments",
        "many_comments",
        "too_deep",
        "user_without_email",
    }
    assert by_rule["long_summary"].items == [7] and by_rule["long_summary"].figures == {7: 380}
    assert by_rule["long_text"].field == "System.Description"
    assert by_rule["many_comments"].limit == 300 and "300" in by_rule["many_comments"].message
    assert by_rule["too_deep"].count == 2
    assert by_rule["user_without_email"].names == ["ACME\\svc-build"]
    assert all(b.action for b in report.breaches)


def test_a_clean_catalog_has_no_findings():
    assert lint(Catalog(users=[UserSummary(unique_name="a@x.example", has_email=True)])).breaches == []


def test_custom_fields_over_the_target_cap_block():
    c = Catalog(
        limits=TargetLimits(custom_fields_cap=10, custom_fields_existing=9),
        fields=[
            FieldUsage(reference_name="Custom.A", custom=True, filled=1),
            FieldUsage(reference_name="Custom.B", custom=True, filled=1),
        ],
    )
    [breach] = lint(c).breaches
    assert (
        breach.rule == "custom_field_cap" and breach.severity == "blocker" and breach.names == ["Custom.A", "Custom.B"]
    )
    c.limits.custom_fields_existing = 8
    assert lint(c).breaches == []


def test_listed_ids_are_capped_but_the_count_is_complete():
    from migrayt.intake.catalog import MAX_LISTED

    big = IdList()
    for i in range(MAX_LISTED + 5):
        big.add(i, 1)
    assert big.count == MAX_LISTED + 5 and len(big.items) == MAX_LISTED


def test_a_site_near_the_custom_field_cap_is_told_the_provenance_fields_may_not_fit():
    c = Catalog(limits=TargetLimits(custom_fields_cap=700, custom_fields_existing=660, provenance_fields_missing=8))
    [breach] = lint(c).breaches
    assert breach.rule == "provenance_fields_near_cap" and breach.severity == "warning" and not breach.must_acknowledge
    assert "660" in breach.message and "700" in breach.message and "info panel" in breach.action
    c.limits.provenance_fields_missing = 0  # the fields exist already (a second migration): nothing to create
    assert lint(c).breaches == []
    c.limits.provenance_fields_missing, c.limits.custom_fields_existing = 8, 600
    assert lint(c).breaches == []


def test_attachments_over_the_plans_storage_are_a_finding_to_acknowledge():
    gib = 2**30
    c = Catalog(limits=TargetLimits(attachment_storage_bytes=2 * gib))  # Jira Free's 2 GB
    c.attachments.count, c.attachments.total_bytes = 1200, 3 * gib
    (found,) = lint(c).by_rule("attachment_storage")
    assert found.must_acknowledge and found.limit == 2 * gib and found.count == 1200
    assert "3.00 GiB" in found.message and "2.00 GiB" in found.message
    c.attachments.total_bytes = 2 * gib
    assert lint(c).by_rule("attachment_storage") == []
    unknown = Catalog()  # no storage known: nothing to say
    unknown.attachments.total_bytes = 100 * gib
    assert lint(unknown).by_rule("attachment_storage") == []


def test_without_a_site_limit_files_are_measured_against_jira_clouds_1_gb():
    from migrayt.settings import Settings

    assert TargetLimits().attachment_bytes == Settings().jira_attachment_limit_bytes == 2**30


def test_findings_count_as_people_write_it():
    c = Catalog(limits=TargetLimits(comments_per_issue=300), hierarchy_depth=4)
    c.facts.long_titles = ids((7, 380))
    c.facts.long_texts = {"System.Description": ids((9, 40_000), (10, 50_000))}
    c.facts.many_comments = ids((14, 350))
    c.facts.too_deep = ids((20, 4), (21, 4))
    c.users = [UserSummary(unique_name="ACME\\svc-build", has_email=False)]
    by_rule = {b.rule: b.message for b in lint(c).breaches}
    assert by_rule["long_summary"].startswith("1 title longer")
    assert by_rule["long_text"].startswith("2 System.Description values longer")
    assert by_rule["many_comments"].startswith("1 item with more")
    assert by_rule["too_deep"].startswith("2 items nested")
    assert by_rule["user_without_email"].startswith("1 user without")
    assert not any("(s)" in message for message in by_rule.values())


def test_files_over_the_upload_limit_are_named_with_their_items():
    from migrayt.connectors.ado import WorkItem
    from migrayt.intake.catalog import CatalogBuilder

    def item(id: int, *files: tuple[str, int]) -> WorkItem:
        rels = [
            {"rel": "AttachedFile", "url": f"https://x/_apis/wit/attachments/{id}-{k}", "attributes": a}
            for k, a in enumerate({"name": n, "resourceSize": s} for n, s in files)
        ]
        fields = {"System.WorkItemType": "Task", "System.State": "New"}
        return WorkItem.model_validate({"id": id, "rev": 1, "fields": fields, "relations": rels})

    builder = CatalogBuilder(TargetLimits(attachment_bytes=1000), [], {})
    builder.add(item(7, ("notes.txt", 10), ("db-dump.bin", 5000)))
    builder.add(item(9, ("video.mp4", 1001)))
    (found,) = lint(builder.finish()).by_rule("large_attachment")
    assert found.items == [7, 9] and found.count == 2
    assert found.names == ["db-dump.bin (#7, 5,000 bytes)", "video.mp4 (#9, 1,001 bytes)"]


def test_a_site_on_the_free_plan_is_held_to_its_2_gb_of_storage():
    from migrayt.activities.intake.scan import on_free_plan

    def license(*plans: tuple[str, str]) -> dict:
        return {"applications": [{"id": i, "plan": p} for i, p in plans]}

    assert on_free_plan(license(("jira-software", "FREE"), ("jira-servicedesk", "PAID")))
    assert not on_free_plan(license(("jira-software", "PAID"), ("jira-core", "FREE")))  # Standard or Premium
    assert on_free_plan(license(("jira-core", "FREE")))
    assert not on_free_plan(license()) and not on_free_plan(None)
