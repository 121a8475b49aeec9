"""JiraClient against the sandbox Jira over real HTTP: bulk create, search paging, transitions,
attachments, and exactly-once behaviour of writes under injected faults."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from migrayt.connectors.http import AmbiguousWriteError, ApiError, HttpSettings
from migrayt.connectors.jira import JiraClient, UploadFile
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.testing import SandboxAdmin, running_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator:
    with running_sandbox(items=20, seed=5) as server:
        yield server


def client(sandbox, **settings) -> JiraClient:
    http = HttpSettings(
        base_url=sandbox.jira_url, timeout_seconds=20, backoff_base_seconds=0.01, backoff_max_seconds=0.05, **settings
    )
    return JiraClient(
        sandbox.jira_url, sandbox.sandbox.jira_email, SecretStr(sandbox.sandbox.jira_token), settings=http
    )


@pytest.fixture
async def jira(sandbox):
    async with client(sandbox) as c:
        yield c


@pytest.fixture
async def admin(sandbox):
    async with SandboxAdmin.for_jira(sandbox) as a:
        yield a
        await a.replace_faults()


async def issue_type_id(jira: JiraClient, key: str, name: str = "Task") -> str:
    types = await jira.get_issue_types(key)
    return next(t.id for t in types if t.name == name)


def fields(project_key: str, type_id: str, summary: str, *labels: str) -> dict:
    return {
        "fields": {
            "project": {"key": project_key},
            "issuetype": {"id": type_id},
            "summary": summary,
            "labels": list(labels),
        }
    }


async def test_site_metadata(sandbox, jira):
    key = sandbox.sandbox.project_key
    me = await jira.myself()
    assert me.account_id
    project = await jira.get_project(key)
    assert project.key == key
    levels = {t.name: t.hierarchy_level for t in project.issue_types}
    assert levels.get("Epic") == 1
    assert any(level == 0 for level in levels.values())
    type_id = await issue_type_id(jira, key)
    meta = await jira.get_create_meta_fields(key, type_id)
    assert any(f.field_id == "summary" and f.required for f in meta)
    assert await jira.get_fields()
    assert await jira.get_priorities()
    assert await jira.get_project_statuses(key)
    assert await jira.get_issue_link_types()


async def test_bulk_create_maps_the_bad_item_to_its_index(sandbox, jira):
    key = sandbox.sandbox.project_key
    type_id = await issue_type_id(jira, key)
    tag = uuid.uuid4().hex[:8]
    updates = [fields(key, type_id, f"bulk {tag} {i}", f"bulk-{tag}-{i}") for i in range(5)]
    updates[2]["fields"]["issuetype"] = {"id": "999999"}  # not a type of this project
    result = await jira.bulk_create_issues(updates)
    assert set(result.created) == {0, 1, 3, 4}
    assert set(result.errors) == {2}
    assert result.errors[2].describe()
    for index, created in result.created.items():
        issue = await jira.get_issue(created.key, fields=["summary", "labels"])
        assert issue.fields["summary"] == f"bulk {tag} {index}"
        assert issue.labels == [f"bulk-{tag}-{index}"]


async def test_bulk_create_where_every_item_fails(sandbox, jira):
    key = sandbox.sandbox.project_key
    updates = [fields(key, "999999", "nope"), fields(key, "999999", "nope either")]
    result = await jira.bulk_create_issues(updates)
    assert not result.created and set(result.errors) == {0, 1}


async def test_search_pages_and_label_lookup(sandbox, jira):
    key = sandbox.sandbox.project_key
    type_id = await issue_type_id(jira, key)
    tag = uuid.uuid4().hex[:8]
    keys: list[str] = []
    for start in range(0, 120, 50):
        batch = [
            fields(key, type_id, f"page {tag} {i}", f"pg-{tag}", f"pg-{tag}-{i}")
            for i in range(start, min(start + 50, 120))
        ]
        result = await jira.bulk_create_issues(batch)
        assert not result.errors
        keys += [result.created[i].key for i in sorted(result.created)]
    found = [
        i.key async for i in jira.search_jql(f'labels = "pg-{tag}" ORDER BY key ASC', fields=["labels"], page_size=25)
    ]
    assert sorted(found) == sorted(keys)
    assert jira.http.counters.requests >= 5
    wanted = [f"pg-{tag}-{i}" for i in range(0, 120, 7)] + [f"pg-{tag}-missing"]
    by_label = await jira.find_issue_keys_by_labels(wanted)
    assert by_label[f"pg-{tag}-missing"] == []
    for i in range(0, 120, 7):
        assert by_label[f"pg-{tag}-{i}"] == [keys[i]]


async def test_transitions_comments_worklogs_properties_links(sandbox, jira):
    key = sandbox.sandbox.project_key
    type_id = await issue_type_id(jira, key)
    a = await jira.create_issue(fields(key, type_id, "transition me")["fields"])
    b = await jira.create_issue(fields(key, type_id, "link target")["fields"])
    transitions = await jira.get_transitions(a.key)
    assert transitions
    target = transitions[-1]
    await jira.do_transition(a.key, target.id)
    issue = await jira.get_issue(a.key, fields=["status"])
    assert issue.fields["status"]["name"] == target.to.name

    body = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}],
    }
    await jira.add_comment(a.key, body)
    assert len(await jira.list_comments(a.key)) == 1
    await jira.add_worklog(a.key, 3600, "2024-01-17T12:34:00.000+0000")
    assert [w.time_spent_seconds for w in await jira.list_worklogs(a.key)] == [3600]
    await jira.set_issue_property(a.key, "migrayt.source", {"ado": 12})
    assert await jira.get_issue_property(a.key, "migrayt.source") == {"ado": 12}
    assert await jira.get_issue_property(a.key, "absent.property") is None

    link_type = (await jira.get_issue_link_types())[0]
    await jira.create_issue_link(link_type.name, a.key, b.key)
    link_id = await jira.create_remote_link(a.key, "https://dev.azure.com/acme/x/1", "ADO #1", global_id="ado-1")
    again = await jira.create_remote_link(a.key, "https://dev.azure.com/acme/x/1", "ADO #1 renamed", global_id="ado-1")
    assert again == link_id
    assert [r.global_id for r in await jira.get_remote_links(a.key)] == ["ado-1"]


async def test_components_boards_sprints(sandbox, jira):
    key = sandbox.sandbox.project_key
    name = f"Area {uuid.uuid4().hex[:6]}"
    component = await jira.create_component(key, name)
    assert any(c.id == component.id for c in await jira.get_components(key))
    boards = await jira.get_boards(key)
    assert boards
    sprint = await jira.create_sprint(boards[0].id, f"Sprint {uuid.uuid4().hex[:6]}")
    assert any(s.id == sprint.id for s in await jira.get_sprints(boards[0].id))
    type_id = await issue_type_id(jira, key)
    result = await jira.bulk_create_issues([fields(key, type_id, f"sprint item {i}") for i in range(3)])
    await jira.move_issues_to_sprint(sprint.id, [c.key for c in result.created.values()])


async def test_user_search_by_email(sandbox, jira):
    users = [
        u for u in sandbox.sandbox.project.users if u.in_jira and u.email and u.jira_email_visible and not u.deleted
    ]
    found = await jira.find_user_by_email(users[0].email)
    assert found is not None and found.display_name == users[0].display_name
    assert await jira.find_user_by_email("nobody-at-all@example.invalid") is None


async def test_attachment_upload_streams(sandbox, jira):
    key = sandbox.sandbox.project_key
    type_id = await issue_type_id(jira, key)
    issue = await jira.create_issue(fields(key, type_id, "with a file")["fields"])
    payload = os.urandom(300_000)

    def chunks():
        async def gen():
            for i in range(0, len(payload), 16_384):
                yield payload[i : i + 16_384]

        return gen()

    attachments = await jira.upload_attachment(issue.key, "blob.bin", chunks, len(payload))
    assert len(attachments) == 1
    assert attachments[0].filename == "blob.bin" and attachments[0].size == len(payload)
    digest = hashlib.sha256()
    async for chunk in jira.stream_attachment_content(attachments[0].id):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()


async def test_several_files_go_in_one_upload_request(sandbox, jira):
    key = sandbox.sandbox.project_key
    type_id = await issue_type_id(jira, key)
    issue = await jira.create_issue(fields(key, type_id, "with three files")["fields"])
    payloads = {"a.txt": b"first", "b.bin": os.urandom(70_000), "c.log": b""}

    def streamed(data: bytes):
        async def gen():
            for i in range(0, len(data), 16_384):
                yield data[i : i + 16_384]

        return gen

    files = [UploadFile(name, streamed(data), len(data)) for name, data in payloads.items()]
    attachments = await jira.upload_attachments(issue.key, files)
    # Jira answers with every file, in the order of the parts, each with its own bytes.
    assert [(a.filename, a.size) for a in attachments] == [(n, len(d)) for n, d in payloads.items()]
    for att, data in zip(attachments, payloads.values(), strict=True):
        got = b"".join([c async for c in jira.stream_attachment_content(att.id)])
        assert got == data


async def test_dropped_write_is_ambiguous_and_sent_once(sandbox, jira, admin):
    key = sandbox.sandbox.project_key
    type_id = await issue_type_id(jira, key)
    label = f"drop-{uuid.uuid4().hex[:8]}"
    await admin.replace_faults(FaultConfig(share_drop_after_write=1.0, seed=1))
    with pytest.raises(AmbiguousWriteError):
        await jira.bulk_create_issues([fields(key, type_id, "dropped", label)])
    await admin.replace_faults()
    # The write was applied exactly once: reconciliation by label finds exactly one issue.
    assert len((await jira.find_issue_keys_by_labels([label]))[label]) == 1
    assert jira.http.counters.ambiguous_writes == 1


async def test_writes_and_reads_come_through_a_429_storm(sandbox, jira, admin):
    key = sandbox.sandbox.project_key
    type_id = await issue_type_id(jira, key)
    label = f"storm-{uuid.uuid4().hex[:8]}"
    await admin.replace_faults(FaultConfig(share_429=0.5, retry_after_seconds=0, seed=2))
    for i in range(10):
        result = await jira.bulk_create_issues([fields(key, type_id, f"storm {i}", label)])
        assert len(result.created) == 1
    await admin.replace_faults()
    assert len((await jira.find_issue_keys_by_labels([label]))[label]) == 10
    counters = jira.http.counters.snapshot()
    assert counters["throttled"] > 0
    assert jira.http.limiter.limit < jira.http.settings.max_concurrency


async def test_bad_request_raises_typed_error(jira):
    with pytest.raises(ApiError) as err:
        await jira.get_issue("NOPE-999999")
    assert err.value.status == 404 and err.value.messages


async def test_the_changelog_is_read_to_its_last_page_with_each_author(sandbox, jira):
    """Validation and undo read the one changelog reader: every entry, past Jira's 100 a page, oldest first."""
    key = sandbox.sandbox.project_key
    created = await jira.create_issue(fields(key, await issue_type_id(jira, key), "edited often")["fields"])
    for i in range(105):
        await jira.edit_issue(created.key, {"summary": f"edit {i}"})
    log = await jira.issue_changelog(created.key)
    assert len(log) == 105
    assert [int(e.id) for e in log] == sorted(int(e.id) for e in log)
    me = (await jira.myself()).account_id
    assert {(e.author or {}).get("accountId") for e in log} == {me}
    assert all(any(item.get("field") == "summary" for item in e.items) for e in log)
