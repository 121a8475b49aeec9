"""The seeded project generator: determinism, process shape, link symmetry, ugly cases, bytes."""

from __future__ import annotations

import hashlib
import re

import pytest

from migrayt.sandbox.generator import (
    STATES,
    UGLY_CASES,
    GeneratedProject,
    ProjectSpec,
)
from migrayt.sandbox.generator.project import HUGE_ATTACHMENT_BYTES

INVERSE = {
    "System.LinkTypes.Hierarchy-Forward": "System.LinkTypes.Hierarchy-Reverse",
    "System.LinkTypes.Hierarchy-Reverse": "System.LinkTypes.Hierarchy-Forward",
    "System.LinkTypes.Dependency-Forward": "System.LinkTypes.Dependency-Reverse",
    "System.LinkTypes.Dependency-Reverse": "System.LinkTypes.Dependency-Forward",
    "System.LinkTypes.Duplicate-Forward": "System.LinkTypes.Duplicate-Reverse",
    "System.LinkTypes.Duplicate-Reverse": "System.LinkTypes.Duplicate-Forward",
    "Microsoft.VSTS.Common.TestedBy-Forward": "Microsoft.VSTS.Common.TestedBy-Reverse",
    "Microsoft.VSTS.Common.TestedBy-Reverse": "Microsoft.VSTS.Common.TestedBy-Forward",
    "System.LinkTypes.Related": "System.LinkTypes.Related",
}


@pytest.fixture(scope="module")
def project() -> GeneratedProject:
    return GeneratedProject(ProjectSpec(seed=7, items=500))


def fingerprint(p: GeneratedProject, ids) -> str:
    h = hashlib.sha256()
    for i in ids:
        h.update(p.work_item(i).model_dump_json().encode())
        for c in p.comments(i):
            h.update(c.model_dump_json().encode())
        for a in p.attachments(i):
            h.update(a.model_dump_json().encode())
        for w in p.worklogs(i):
            h.update(w.model_dump_json().encode())
        for r in p.revisions(i):
            h.update(r.model_dump_json().encode())
    for u in p.users:
        h.update(u.model_dump_json().encode())
    return h.hexdigest()


def test_same_seed_gives_the_same_project_byte_for_byte():
    a = GeneratedProject(ProjectSpec(seed=42, items=200))
    b = GeneratedProject(ProjectSpec(seed=42, items=200))
    # Different access order: an item must not depend on what was generated before it.
    for i in range(200, 0, -3):
        b.work_item(i), b.comments(i), b.attachments(i)
    assert fingerprint(a, range(1, 201)) == fingerprint(b, range(1, 201))
    guid = next(x.guid for i in a.item_ids() for x in a.attachments(i))
    assert a.attachment_sha256(guid) == b.attachment_sha256(guid)


def test_different_seed_gives_a_different_project():
    a = GeneratedProject(ProjectSpec(seed=1, items=100))
    b = GeneratedProject(ProjectSpec(seed=2, items=100))
    assert fingerprint(a, range(1, 101)) != fingerprint(b, range(1, 101))


def test_process_shape_epics_features_stories_tasks(project):
    seen_types = set()
    for i in project.item_ids():
        item = project.work_item(i)
        seen_types.add(item.type)
        assert item.fields["System.State"] in STATES[item.type]
        parent = project.work_item(item.parent_id).type if item.parent_id else None
        allowed = {
            "Epic": {None},
            "Feature": {"Epic"},
            "User Story": {"Feature"},
            "Task": {"User Story"},
            "Bug": {"User Story", "Feature"},
            "Issue": {None},
            "Test Case": {None},
        }[item.type]
        assert parent in allowed, (i, item.type, parent)
        if item.parent_id:
            assert item.fields["System.Parent"] == item.parent_id
    assert seen_types == set(STATES) - {"Shared Steps"}  # those come only with test management on
    counts = {t: sum(1 for i in project.item_ids() if project.core(i).type == t) for t in STATES}
    assert counts["Task"] > counts["User Story"] > counts["Feature"] > counts["Epic"] > 0


def test_every_test_case_tests_a_story(project):
    for i in project.item_ids():
        item = project.work_item(i)
        if item.type == "Test Case":
            tests = [r.target_id for r in item.relations if r.rel == "Microsoft.VSTS.Common.TestedBy-Reverse"]
            assert len(tests) == 1 and project.work_item(tests[0]).type == "User Story"
            assert item.fields["Microsoft.VSTS.TCM.Steps"].startswith('<steps id="0"')


def test_both_ends_of_every_link_agree(project):
    links = set()
    for i in project.item_ids():
        for r in project.work_item(i).relations:
            if r.target_id is not None:
                links.add((i, r.rel, r.target_id))
    kinds = {rel for _, rel, _ in links}
    assert kinds == set(INVERSE)  # every link type shows up in a 500-item project
    for source, rel, target in links:
        assert 1 <= target <= project.n
        assert (target, INVERSE[rel], source) in links, (source, rel, target)


def test_resource_links_and_attachment_links(project):
    rels = {r.rel for i in project.item_ids() for r in project.work_item(i).relations}
    assert {"Hyperlink", "ArtifactLink", "AttachedFile"} <= rels
    for i in range(1, 120):
        item = project.work_item(i)
        attached = [r for r in item.relations if r.rel == "AttachedFile"]
        atts = project.attachments(i)
        assert [r.url.rsplit("/", 1)[1] for r in attached] == [a.guid for a in atts]
        assert all(r.attributes["resourceSize"] == a.size for r, a in zip(attached, atts, strict=True))
    artifacts = [r.url for i in project.item_ids() for r in project.work_item(i).relations if r.rel == "ArtifactLink"]
    assert any(u.startswith("vstfs:///Git/Commit/") for u in artifacts)
    assert any(u.startswith("vstfs:///Git/PullRequestId/") for u in artifacts)


def test_inline_images_point_at_the_items_own_attachments(project):
    found = 0
    for i in project.item_ids():
        item = project.work_item(i)
        html = item.fields.get("System.Description") or item.fields.get("Microsoft.VSTS.TCM.ReproSteps")
        own = {a.guid for a in project.attachments(i)}
        for guid in re.findall(r'<img src="[^"]*/_apis/wit/attachments/([0-9a-f-]{36})\?fileName=', html):
            assert guid in own
            found += 1
    assert found > 10


def test_rich_text_has_mentions_references_tables_and_code(project):
    text = "".join(project.work_item(i).fields.get("System.Description", "") for i in range(1, 200))
    text += "".join(c.text for i in range(1, 200) for c in project.comments(i))
    user_ids = {u.id for u in project.users}
    mentions = re.findall(r'data-vss-mention="version:2.0,([0-9a-f-]{36})">@', text)
    assert mentions and set(mentions) <= user_ids
    assert re.search(r"#\d+", text)
    for tag in ("<table", "<pre><code", "<ul>", "<ol>", "<h1>", "<li>"):
        assert tag in text
    assert re.search(r"<li>[^<]*(<[^l][^>]*>[^<]*</[^>]+>)*[^<]*<(ul|ol)>", text)  # a nested list


def test_ugly_cases_are_few_and_each_is_present(project):
    cases = project.ugly_cases()
    assert set(cases) == set(UGLY_CASES)
    assert all(1 <= i <= 50 for i in cases.values())
    item = {case: project.work_item(i) for case, i in cases.items()}
    users = {u.id: u for u in project.users}

    assert len(item["long_title"].fields["System.Title"]) > 255
    assert re.search("[\U0001f300-\U0001faff]", item["emoji_rtl"].fields["System.Title"])
    assert re.search("[\u0590-\u05ff]", item["emoji_rtl"].fields["System.Description"])
    assert "\x00" in item["control_chars"].fields["System.Description"]
    assert "<!-- unterminated" in item["broken_html"].fields["System.Description"]
    assert len(item["long_description"].fields["System.Description"]) > 32_767
    assert len(project.comments(cases["many_comments"])) >= 200
    assert len(project.attachments(cases["many_attachments"])) >= 120
    assert max(a.size for a in project.attachments(cases["huge_attachment"])) == HUGE_ATTACHMENT_BYTES > 10 * 2**20
    assert min(a.size for a in project.attachments(cases["zero_byte_attachment"])) == 0
    assigned = item["ado_only_user"].fields["System.AssignedTo"]["id"]
    assert not users[assigned].in_jira
    creator = users[item["no_email_user"].fields["System.CreatedBy"]["id"]]
    assert creator.email is None
    assert users[item["deleted_user"].fields["System.CreatedBy"]["id"]].deleted
    # A 500-item project is mostly normal.
    ugly_items = {i for i in project.item_ids() if project.work_item(i).ugly}
    assert len(ugly_items) <= len(UGLY_CASES)


def test_users_cover_the_awkward_identities(project):
    assert sum(1 for u in project.users if not u.in_jira) == 1
    assert any(u.deleted for u in project.users)
    assert sum(1 for u in project.users if u.email is None) >= 2
    assert any(not u.jira_email_visible for u in project.users)
    assert len({u.id for u in project.users}) == len(project.users)


def test_attachment_bytes_are_a_stable_stream(project):
    cases = project.ugly_cases()
    for att in project.attachments(cases["many_attachments"])[:15]:
        small = b"".join(project.attachment_chunks(att.guid, chunk=1000))
        big = b"".join(project.attachment_chunks(att.guid))
        assert small == big and len(big) == att.size
        assert hashlib.sha256(big).hexdigest() == project.attachment_sha256(att.guid)
        if att.file_name.endswith(".png"):
            assert big.startswith(b"\x89PNG\r\n\x1a\n")
    zero = next(a for a in project.attachments(cases["zero_byte_attachment"]) if a.size == 0)
    assert list(project.attachment_chunks(zero.guid)) == []
    huge = max(project.attachments(cases["huge_attachment"]), key=lambda a: a.size)
    assert max(len(c) for c in project.attachment_chunks(huge.guid)) == 64 * 1024
    with pytest.raises(KeyError):
        project.attachment("00000000-0000-4000-8000-000000000001")


def test_revisions_end_at_the_current_item(project):
    for i in range(1, 80):
        item = project.work_item(i)
        revs = project.revisions(i)
        assert [r.rev for r in revs] == list(range(1, item.rev + 1))
        assert revs[-1].fields == item.fields
        assert revs[0].fields["System.State"] == STATES[item.type][0]
        dates = [r.changed_date for r in revs]
        assert dates == sorted(dates)


def test_comments_are_ordered_and_by_known_people(project):
    user_ids = {u.id for u in project.users}
    for i in range(1, 100):
        comments = project.comments(i)
        assert len(comments) == project.work_item(i).fields["System.CommentCount"]
        assert [c.created for c in comments] == sorted(c.created for c in comments)
        assert all(c.author_id in user_ids for c in comments)


def test_worklogs_on_worked_items(project):
    logs = [w for i in project.item_ids() for w in project.worklogs(i)]
    assert logs
    assert all(project.work_item(w.work_item_id).type in ("Task", "Bug", "User Story") for w in logs)
    assert all(w.length_seconds % 900 == 0 and w.length_seconds > 0 for w in logs)


def test_large_projects_are_derived_on_demand():
    p = GeneratedProject(ProjectSpec(seed=3, items=100_000))
    last = p.work_item(100_000)
    assert last.id == 100_000
    assert p.core(99_961).type == "Epic"
    # Children of the last epic stop at the project's end.
    assert all(c <= 100_000 for c in p.children_of(99_961))
    assert set(p.ugly_cases().values()) <= set(range(1, 51))
