"""The validation's comparison and classification, as a user reads a report: which item, which check, which class."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from migrayt.contracts.validation import DifferenceKind, ValidationStatus
from migrayt.translation import validation_rules as rules
from migrayt.translation.content_text import comment_marker, marker_of

WRITTEN = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MIGRATOR, SOMEONE = "acc-migrator", "acc-someone"


def doc(*texts: str) -> dict:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": t}]} for t in texts],
    }


def comment_body(ado_comment: int, text: str) -> dict:
    header = {
        "type": "paragraph",
        "content": [
            {"type": "text", "text": "Ann"},
            {"type": "text", "text": f" commented on 2020-01-01 ({comment_marker(ado_comment)})"},
        ],
    }
    return {"type": "doc", "version": 1, "content": [header, *doc(text)["content"]]}


# A site's sprint field id is whatever the site gave it; the checks read the id found by schema.
SPRINT_FIELD = "customfield_10104"


def actual_issue(key: str, fields: dict, **kwargs) -> rules.ActualIssue:
    return rules.actual_issue(key, fields, sprint_field=SPRINT_FIELD, **kwargs)


def jira_fields(**over) -> dict:
    fields = {
        "issuetype": {"name": "Story"},
        "summary": "Login page",
        "description": doc("Users  sign in", "with SSO"),
        "status": {"name": "In Progress"},
        "priority": {"name": "High"},
        "assignee": {"accountId": "acc-ann"},
        "reporter": {"accountId": "acc-bob"},
        "components": [{"id": "10001", "name": "Web"}],
        SPRINT_FIELD: [{"id": 7, "name": "Sprint 1"}],
        "parent": {"key": "PHX-1"},
        "issuelinks": [{"type": {"name": "Blocks"}, "outwardIssue": {"key": "PHX-9"}}],
        "attachment": [
            {"id": "1", "filename": "spec.pdf", "size": 1200},
            {"id": "2", "filename": "ado-48-history.html"},
        ],
        "comment": {
            "comments": [
                {"id": "100", "body": comment_body(501, "first"), "updateAuthor": {"accountId": MIGRATOR}},
                {"id": "101", "body": comment_body(502, "second"), "updateAuthor": {"accountId": MIGRATOR}},
            ],
            "total": 2,
        },
    }
    fields.update(over)
    return fields


def expected(**over) -> rules.ExpectedIssue:
    actual = actual_issue("PHX-2", jira_fields(), marker_of=marker_of)
    values = dict(
        ado_id=48,
        types=frozenset({"Story"}),
        summary="Login page",
        description="Users sign in with SSO",
        status="In Progress",
        priority="High",
        assignee="acc-ann",
        reporter="acc-bob",
        components=frozenset({"10001"}),
        sprint=7,
        parent="PHX-1",
        links=frozenset({rules.LinkEnd("Blocks", "outward", "PHX-9")}),
        attachments=(rules.FileRef("spec.pdf", 1200),),
        comments=actual.comments,
        own_file_prefix="ado-48-",
    )
    values.update(over)
    return rules.ExpectedIssue(**values)


def compare(fields: dict | None = None, **over) -> list:
    actual = actual_issue("PHX-2", fields or jira_fields(), marker_of=marker_of)
    return rules.compare_issue(expected(**over), actual)


def test_an_issue_equal_to_its_source_has_no_difference() -> None:
    assert compare() == []


def test_description_is_compared_as_normalised_text() -> None:
    spaced = doc("Users sign in", "   with\nSSO ")
    assert compare(jira_fields(description=spaced)) == []
    (d,) = compare(jira_fields(description=doc("Users sign out")))
    assert (d.check, d.kind, d.ado_id, d.jira_key) == ("description", DifferenceKind.DIFFERENT, 48, "PHX-2")


def test_status_priority_and_people_are_named_per_check() -> None:
    fields = jira_fields(status={"name": "Done"}, priority={"name": "Low"}, assignee=None)
    found = {(d.check, d.kind, d.expected, d.actual) for d in compare(fields)}
    assert found == {
        ("status", DifferenceKind.DIFFERENT, "In Progress", "Done"),
        ("priority", DifferenceKind.DIFFERENT, "High", "Low"),
        ("assignee", DifferenceKind.DIFFERENT, "acc-ann", None),
    }


def test_a_removed_link_is_missing_and_a_stranger_one_extra() -> None:
    (d,) = compare(jira_fields(issuelinks=[]))
    assert (d.check, d.kind, d.expected) == ("links", DifferenceKind.MISSING, "Blocks outward PHX-9")
    turned = [{"type": {"name": "Blocks"}, "inwardIssue": {"key": "PHX-9"}}]
    kinds = sorted((d.kind.value, d.expected or d.actual) for d in compare(jira_fields(issuelinks=turned)))
    assert kinds == [("extra", "Blocks inward PHX-9"), ("missing", "Blocks outward PHX-9")]


def test_a_link_to_the_parent_stands_in_for_a_parent_jira_cannot_nest() -> None:
    fields = jira_fields(parent=None, issuelinks=[*jira_fields()["issuelinks"], _relates("PHX-1")])
    assert compare(fields) == []
    (d,) = compare(jira_fields(parent=None))
    assert (d.check, d.kind, d.expected) == ("parent", DifferenceKind.MISSING, "PHX-1")


def _relates(key: str) -> dict:
    return {"type": {"name": "Relates"}, "outwardIssue": {"key": key}}


def test_a_deleted_attachment_is_missing_and_the_migrations_own_files_are_not_extra() -> None:
    (d,) = compare(jira_fields(attachment=[{"filename": "ado-48-history.html"}]))
    assert (d.check, d.kind, d.expected) == ("attachments", DifferenceKind.MISSING, "spec.pdf (1200 bytes)")
    (d,) = compare(jira_fields(attachment=[{"filename": "spec.pdf", "size": 9}]))
    assert (d.check, d.kind) == ("attachments", DifferenceKind.DIFFERENT)


def test_deep_mode_compares_sha256() -> None:
    exp = expected(attachments=(rules.FileRef("spec.pdf", 1200, "aa"),))
    actual = actual_issue("PHX-2", jira_fields(attachment=[{"filename": "spec.pdf", "size": 1200}]))
    actual.comments = exp.comments
    actual.attachments = (rules.FileRef("spec.pdf", 1200, "bb"),)
    (d,) = rules.compare_issue(exp, actual, deep=True)
    assert (d.check, d.kind, d.note) == ("attachments", DifferenceKind.DIFFERENT, "sha-256 differs")
    assert rules.compare_issue(exp, actual, deep=False) == []


def test_an_altered_comment_is_different_and_a_lost_one_missing() -> None:
    comments = jira_fields()["comment"]["comments"]
    altered = [comments[0], {**comments[1], "body": comment_body(502, "second, edited")}]
    (d,) = compare(jira_fields(comment={"comments": altered, "total": 2}))
    assert (d.check, d.kind, d.ado_id) == ("comments", DifferenceKind.DIFFERENT, 48)
    assert d.note.startswith("ADO comment 502")
    (d,) = compare(jira_fields(comment={"comments": comments[:1], "total": 1}))
    assert (d.check, d.kind, d.expected) == ("comments", DifferenceKind.MISSING, "ADO comment 502")


def test_comments_out_of_order_are_a_difference() -> None:
    comments = jira_fields()["comment"]["comments"]
    (d,) = compare(jira_fields(comment={"comments": comments[::-1], "total": 2}))
    assert (d.check, d.kind, d.note) == ("comments", DifferenceKind.DIFFERENT, "order")


def change(author: str, minutes: int, *fields: str) -> dict:
    return {
        "author": {"accountId": author},
        "created": (WRITTEN + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "items": [{"field": f, "fieldId": f} for f in fields],
    }


def test_an_edit_by_someone_else_after_the_migration_is_changed_after() -> None:
    found = compare(jira_fields(summary="Login page (reworded)", status={"name": "Done"}))
    changes = rules.changes_from_changelog([change(SOMEONE, 5, "summary"), change(MIGRATOR, 6, "status")])
    classed = {d.check: d.kind for d in rules.classify(found, changes, MIGRATOR, WRITTEN)}
    # The summary was someone's own edit; the status was changed by the migration's own user: an error.
    assert classed == {"summary": DifferenceKind.CHANGED_AFTER, "status": DifferenceKind.DIFFERENT}


def test_an_edit_before_the_migration_wrote_is_not_changed_after() -> None:
    found = compare(jira_fields(summary="Other"))
    changes = rules.changes_from_changelog([change(SOMEONE, -5, "summary")])
    assert [d.kind for d in rules.classify(found, changes, MIGRATOR, WRITTEN)] == [DifferenceKind.DIFFERENT]


def test_a_comment_edited_by_someone_else_is_changed_after() -> None:
    comments = jira_fields()["comment"]["comments"]
    later = (WRITTEN + timedelta(hours=1)).isoformat()
    edited = {**comments[1], "body": comment_body(502, "mine now"), "updateAuthor": {"accountId": SOMEONE}}
    fields = jira_fields(comment={"comments": [comments[0], {**edited, "updated": later}], "total": 2})
    actual = actual_issue("PHX-2", fields, marker_of=marker_of)
    found = rules.compare_issue(expected(), actual)
    (d,) = rules.classify(found, [], MIGRATOR, WRITTEN, actual.comments)
    assert (d.check, d.kind) == ("comments", DifferenceKind.CHANGED_AFTER)


def test_items_missing_when_deleted_or_never_made_and_extra_when_twice() -> None:
    key, found = rules.item_differences(rules.SideBySide(48, "PHX-2", ["PHX-2"]), set())
    assert key is None and [(d.check, d.kind, d.note) for d in found] == [
        ("items", DifferenceKind.MISSING, "recorded as migrated, gone from Jira")
    ]
    key, found = rules.item_differences(rules.SideBySide(48, "PHX-2", ["PHX-2", "PHX-7"]), {"PHX-2", "PHX-7"})
    assert key == "PHX-2" and [(d.kind, d.jira_key) for d in found] == [(DifferenceKind.EXTRA, "PHX-7")]
    key, found = rules.item_differences(rules.SideBySide(49, None, ["PHX-3"]), {"PHX-3"})
    assert (key, found) == ("PHX-3", [])


def test_verdict_honours_tolerances_per_check_and_ignores_changes_after() -> None:
    counts = {"links": {"missing": 2}, "summary": {"changed_after": 5}}
    assert rules.verdict(counts, {}) == ValidationStatus.FAILED
    assert rules.verdict(counts, {"links": 2}) == ValidationStatus.PASSED
    assert rules.verdict(counts, {"links": 1}) == ValidationStatus.FAILED
    assert rules.verdict({}, {}) == ValidationStatus.PASSED


def test_tolerances_from_the_command_line() -> None:
    assert rules.parse_tolerances(["links=3", "comments=0"]) == {"links": 3, "comments": 0}
    for bad in ("links", "linkz=1", "links=-1", "links=x"):
        with pytest.raises(ValueError):
            rules.parse_tolerances([bad])


def test_a_cut_description_is_compared_as_far_as_it_goes() -> None:
    full = "Alpha beta gamma delta epsilon. See #12 and PHX-4 here."
    cut = "Alpha beta gamma del Description cut at Jira's 32,767-character limit; the full original is attached."
    assert rules.same_description(full, cut)
    assert not rules.same_description(full, "Alpha OMEGA gamma del Description cut at Jira's limit")
    # References are where the links check looks; text around them must match.
    assert rules.same_description("See #12 for context", "See  for context")
    assert not rules.same_description("See #12 for context", "See PHX-9 for contest")


def test_a_comment_whose_header_was_edited_away_is_different_not_missing() -> None:
    comments = jira_fields()["comment"]["comments"]
    rewritten = {**comments[1], "body": doc("all new words")}
    (d,) = compare(jira_fields(comment={"comments": [comments[0], rewritten], "total": 2}))
    assert (d.check, d.kind) == ("comments", DifferenceKind.DIFFERENT)


def test_a_test_cases_steps_table_is_left_to_the_xray_check() -> None:
    # Without Xray the steps are appended under their heading; the description above it is what is compared.
    steps = "Test steps (from Azure DevOps) # Action Expected result 1 Open the site It opens"
    assert rules.same_description("Checks the login page.", f"Checks the login page. {steps}")
    assert not rules.same_description("Checks the login page.", f"Checks the LOGOUT page. {steps}")


def test_a_cut_description_needs_its_original_attached_as_written() -> None:
    original = b"<html>the whole ADO text</html>"
    name = "ado-7-description.html"
    assert rules.cut_description_differences(7, "P-7", original, {name: original}, name) == []
    # A later text a delta sync attached under its revision counts as the original too.
    assert (
        rules.cut_description_differences(
            7, "P-7", original, {name: None, "ado-7-description-rev3.html": original}, name
        )
        == []
    )
    (gone,) = rules.cut_description_differences(7, "P-7", original, {}, name)
    assert (gone.check, gone.kind, gone.jira_key, gone.expected) == ("description", DifferenceKind.MISSING, "P-7", name)
    (other,) = rules.cut_description_differences(7, "P-7", original, {name: b"<html>something else</html>"}, name)
    assert (other.check, other.kind) == ("description", DifferenceKind.DIFFERENT)


def test_the_comments_past_the_cap_are_looked_for_in_the_overflow_parts() -> None:
    blocks = [(101, "<div>#3 first</div>"), (102, "<div>#4 second</div>")]
    parts = {
        "ado-7-comments-overflow.html": b"<div>#3 first</div>",
        "ado-7-comments-overflow-2.html": b"<div>#4 second</div>",
    }
    assert rules.overflow_differences(7, "P-7", blocks, parts, 2, "ado-7-comments-overflow.html") == []
    (lost,) = rules.overflow_differences(7, "P-7", blocks, {}, 2, "ado-7-comments-overflow.html")
    assert (lost.check, lost.kind, lost.expected) == (
        "comments",
        DifferenceKind.MISSING,
        "2 comments in ado-7-comments-overflow.html",
    )
    altered = {**parts, "ado-7-comments-overflow-2.html": b"<div>#4 edited</div>"}
    (changed,) = rules.overflow_differences(7, "P-7", blocks, altered, 2, "ado-7-comments-overflow.html")
    assert (changed.kind, changed.expected) == (DifferenceKind.DIFFERENT, "comment 102 in the overflow file")


def test_the_migrations_own_files_are_found_by_name_and_item() -> None:
    files = [
        {"filename": n}
        for n in ("ado-7-description.html", "ado-17-description.html", "ado-7-comments-overflow-2.html", "spec.pdf")
    ]
    assert [f["filename"] for f in rules.own_files(7, files, rules.DESCRIPTION_ORIGINAL_NAME)] == [
        "ado-7-description.html"
    ]
    assert [f["filename"] for f in rules.own_files(7, files, rules.OVERFLOW_NAME)] == ["ado-7-comments-overflow-2.html"]
