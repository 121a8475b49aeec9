"""Hostile source data through a whole run: lone UTF-16 surrogates in what ADO answers, an item
whose parent was deleted in ADO, and 10,000 comments on one item.

Each case: the run finishes, what Jira can hold is there, what it cannot is recorded with a
reason a user understands, nothing is left pending.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from migrayt.connectors.http import decode_json
from migrayt.contracts.runs import RunStatus
from migrayt.sandbox.generator.project import SourceChange
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from tests.integration.harness import create_sandbox_migration, jira_issues, wait_final

TENANT = "hostile-source-co"
AT = datetime(2025, 6, 1, tzinfo=UTC)
MARKER = re.compile(r"Azure DevOps comment id (\d+)")


async def records(stack, migration_id: str, kind: str | None = None) -> list[ItemRecord]:
    async with stack.service.sessions() as session:
        q = select(ItemRecord).where(ItemRecord.migration_id == migration_id)
        if kind:
            q = q.where(ItemRecord.kind == kind)
        return list(await session.scalars(q))


async def run_to_end(stack, sandbox):
    migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
    run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
    final = await wait_final(stack, TENANT, run_id)
    for phase, c in final.counters.items():
        if phase != "preflight":
            assert c.created + c.skipped + c.failed == c.total, (phase, c)
    assert [(r.kind, r.source_key) for r in await records(stack, migration_id) if r.state == "pending"] == []
    return migration_id, final


def plain_items(project, wanted_type: str) -> list[int]:
    ugly = set(project.ugly_cases().values())
    return [i for i in project.item_ids() if project.core(i).type == wanted_type and i not in ugly]


# --------------------------------------------------------------------------- lone surrogates


def test_lone_surrogates_become_replacement_characters_and_pairs_survive():
    raw = b'{"t":"a\\ud800b","d":{"k\\udc00":["\\uDBFF"]},"ok":"\\ud83d\\ude80","esc":"\\\\ud800"}'
    body = decode_json(httpx.Response(200, content=raw))
    assert body == {"t": "a\ufffdb", "d": {"k\ufffd": ["\ufffd"]}, "ok": "🚀", "esc": "\\ud800"}
    assert decode_json(httpx.Response(200, content=b'{"t":"bad \xff byte"}')) == {"t": "bad \ufffd byte"}
    assert decode_json(httpx.Response(204)) is None


async def test_lone_surrogates_from_ado_land_as_replacement_characters(stack, worker):
    with running_sandbox(items=30, seed=71) as sandbox:
        project = sandbox.sandbox.project
        story = plain_items(project, "User Story")[0]
        project.change(
            story,
            SourceChange(
                at=AT,
                fields={
                    "System.Title": "Login fails \ud800 on Safari",
                    "System.Description": "<p>Steps: open \udc37 the page and wait</p>",
                    "Microsoft.VSTS.Common.AcceptanceCriteria": "<ul><li>works \udbff everywhere</li></ul>",
                    "System.Tags": "edge\ud800case; web",
                },
                comment_texts=("<p>Seen again \ud83d today, still broken</p>",),
            ),
        )
        # The sandbox answers as .NET does: the surrogate as an escape, in valid UTF-8.
        async with httpx.AsyncClient(timeout=30) as http:
            raw = await http.get(
                f"{sandbox.ado_url}/Phoenix/_apis/wit/workitems/{story}",
                params={"api-version": "7.1"},
                headers={"Authorization": "Basic " + base64.b64encode(b":sandbox-pat").decode()},
            )
        assert raw.status_code == 200 and b"\\ud800" in raw.content, raw.content[:300]

        migration_id, final = await run_to_end(stack, sandbox)

        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE), final
        assert final.counters["create_items"].failed == 0
        assert final.counters["create_items"].created == 30
        about_story = [
            (r.kind, r.source_key, r.error)
            for r in await records(stack, migration_id)
            if r.state == "failed" and r.source_key.split(":")[0] == str(story)
        ]
        assert about_story == []
        issue = next(i for i in await jira_issues(sandbox) if f"ado-id-{story}" in i["labels"])
        assert issue["summary"] == "Login fails \ufffd on Safari"
        assert "Steps: open \ufffd the page and wait" in issue["description"]
        assert "works \ufffd everywhere" in issue["description"]
        assert any(label.startswith("edge") and label.endswith("case") for label in issue["labels"]), issue["labels"]
        assert "Seen again \ufffd today, still broken" in issue["comments"][-1]["body"]
        assert len(issue["comments"]) == project.comment_count(story)


# --------------------------------------------------------------------------- deleted parent


async def test_item_whose_parent_was_deleted_is_created_and_the_missing_parent_named(stack, worker):
    with running_sandbox(items=40, seed=72) as sandbox:
        project = sandbox.sandbox.project
        story = next(s for s in plain_items(project, "User Story") if project.children_of(s))
        children = project.children_of(story)
        project.delete(story)

        migration_id, final = await run_to_end(stack, sandbox)

        assert final.status == RunStatus.INCOMPLETE, final
        assert final.counters["create_items"].total == 39
        assert final.counters["create_items"].failed == 0
        issues = {lb: i for i in await jira_issues(sandbox) for lb in i["labels"] if lb.startswith("ado-id-")}
        assert f"ado-id-{story}" not in issues
        for child in children:
            assert issues[f"ado-id-{child}"]["parent"] is None

        hierarchy = {int(r.source_key): r for r in await records(stack, migration_id, "hierarchy")}
        for child in children:
            assert hierarchy[child].state == "failed"
            assert f"parent ADO #{story} no longer exists in Azure DevOps" in hierarchy[child].error, hierarchy[
                child
            ].error
        others = {i: r.state for i, r in hierarchy.items() if i not in children}
        with_parent = [
            i for i in project.item_ids() if i != story and project.parent_of(i) and project.parent_of(i) != story
        ]
        assert others == {i: "done" for i in with_parent}
        # Anything else that failed failed because of the deleted item, and says so.
        failed = [(r.kind, r.source_key, r.error) for r in await records(stack, migration_id) if r.state == "failed"]
        unrelated = [f for f in failed if f"#{story}" not in (f[2] or "") and f[0] not in ("attachment", "user")]
        assert unrelated == []


# --------------------------------------------------------------------------- 10,000 comments

MANY = 10_000
CAP = 40
UPLOAD_LIMIT = 512 * 1024


async def test_ten_thousand_comments_are_posted_up_to_the_cap_and_the_rest_kept_in_order(
    stack, worker, monkeypatch, upload_limit_setting
):
    monkeypatch.setenv("MIGRAYT_JIRA_COMMENTS_PER_ISSUE", str(CAP))
    # ~2 MB of overflow against a 512 KiB upload limit: it has to land in several parts.
    upload_limit_setting(UPLOAD_LIMIT)
    options = {"max_comments_per_issue": CAP, "max_attachment_bytes": UPLOAD_LIMIT}
    with running_sandbox(items=20, seed=73, jira_options=options) as sandbox:
        project = sandbox.sandbox.project
        task = plain_items(project, "Task")[0]
        project.change(task, SourceChange(at=AT, comments=MANY))
        expected = [c.id for c in project.comments(task)]
        assert len(expected) >= MANY

        migration_id, final = await run_to_end(stack, sandbox)

        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE), final
        issue = next(i for i in await jira_issues(sandbox) if f"ado-id-{task}" in i["labels"])
        posted = [int(MARKER.search(c["body"]).group(1)) for c in issue["comments"]]
        assert posted == expected[:CAP]
        # The rest in the overflow file(s): part 1 under the single file's name, any further parts numbered.
        part_name = re.compile(rf"ado-{task}-comments-overflow(?:-(\d+))?\.html")
        parts = sorted(
            (int(m.group(1) or 1), a["filename"])
            for a in issue["attachments"]
            if (m := part_name.fullmatch(a["filename"]))
        )
        assert [k for k, _ in parts] == list(range(1, len(parts) + 1)) and len(parts) >= 3, issue["attachments"]
        auth = (sandbox.sandbox.jira_email, sandbox.sandbox.jira_token)
        async with httpx.AsyncClient(base_url=sandbox.jira_url, auth=auth, timeout=60, follow_redirects=True) as jira:
            rest = (await jira.get(f"/rest/api/3/issue/{issue['key']}", params={"fields": "attachment"})).json()
            contents = {a["filename"]: a["content"] for a in rest["fields"]["attachment"]}
            text = "".join([(await jira.get(contents[name])).text for _, name in parts])
        kept = [int(m) for m in MARKER.findall(text)]
        # Every comment exactly once, in ADO's order: the first CAP on the issue, the rest in the parts.
        assert posted + kept == expected
        assert "Follow-up 10000 on" in text or f"Follow-up {len(expected)} on" in text
        comment_records = [
            r for r in await records(stack, migration_id, "comment") if r.source_key.startswith(f"{task}:")
        ]
        assert len(comment_records) == CAP and all(r.state == "done" for r in comment_records)
