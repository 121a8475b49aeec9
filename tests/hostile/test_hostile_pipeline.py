"""Hostile input through the whole pipeline, and configuration mistakes caught before any write.

Content: malformed HTML, 100 KB fields, NUL and control characters, a cycle of links, zero-byte
and over-limit attachments, users without email or deleted, hundreds of comments on one item. No
crash; each failure recorded with its reason; the run ends INCOMPLETE with everything else done.

Configuration: a wrong PAT, a wrong URL, a plan naming a Jira type the project lacks, a plan
mapping a field Jira does not have: the run is FAILED with a message naming the problem, and
Jira holds exactly what it held before.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.contracts.runs import RunStatus
from migrayt.mapping.plan import FieldMapping, MappingPlan, default_plan
from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.generator.project import SourceChange
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord, Run
from tests.integration.checker import check_structure
from tests.integration.checker_content import check_content
from tests.integration.harness import ADO_PAT_ENV, JIRA_TOKEN_ENV, create_sandbox_migration, jira_issues, wait_final

TENANT = "hostile-co"
COMMENT_CAP = 40
BIG = 100 * 1024
DEPENDS = "System.LinkTypes.Dependency-Forward"


def malformed_html(size: int) -> str:
    """Unclosed and misnested tags, stray entities, a script, NUL and control bytes, to `size` chars."""
    unit = (
        "<div><p><b>unclosed <i>nest</b> &bogus; &#xD800; <table><tr><td>cell<td>cell2 <a "
        "href='javascript:x'>x</a>\x00\x07\x1b<script>alert(1)</script>"
    )
    return (unit * (size // len(unit) + 1))[:size]


def rename_attachments(project, item_id: int) -> list[str]:
    """Give one item's files names that climb out of any directory (the sandbox serves them as such)."""
    original = project.attachments
    names = ["../../etc/{}", "..\\..\\windows\\{}", "a/b/c/{}", "/abs/{}"]

    def hostile(i: int):
        atts = original(i)
        if i != item_id:
            return atts
        return [
            a.model_copy(update={"file_name": names[n % len(names)].format(a.file_name)}) for n, a in enumerate(atts)
        ]

    project.attachments = hostile
    project.work_item.cache_clear()
    return [a.file_name for a in hostile(item_id)]


def make_hostile(project, ids: list[int]) -> None:
    at = datetime(2025, 6, 1, tzinfo=UTC)
    a, b, c = ids
    project.change(
        a,
        SourceChange(
            at=at,
            fields={
                "System.Title": "NUL\x00 and\x01control\x1f chars\x7f \u202e RTL",
                "System.Description": malformed_html(BIG),
            },
        ),
    )
    project.change(
        b,
        SourceChange(
            at=at, fields={"System.Description": "x" * BIG, "Microsoft.VSTS.Common.AcceptanceCriteria": "<ul>" * 5000}
        ),
    )
    # A cycle: a precedes b precedes c precedes a.
    project.change(a, SourceChange(at=at, links=((DEPENDS, b),)))
    project.change(b, SourceChange(at=at, links=((DEPENDS, c),)))
    project.change(c, SourceChange(at=at, links=((DEPENDS, a),)))


async def records(stack, migration_id: str, kind: str | None = None) -> list[ItemRecord]:
    async with stack.service.sessions() as session:
        q = select(ItemRecord).where(ItemRecord.migration_id == migration_id)
        if kind:
            q = q.where(ItemRecord.kind == kind)
        return list(await session.scalars(q))


async def test_hostile_content_runs_to_incomplete_with_every_failure_explained(stack, worker, monkeypatch):
    monkeypatch.setenv("MIGRAYT_JIRA_COMMENTS_PER_ISSUE", str(COMMENT_CAP))
    spec = ProjectSpec(seed=61, items=60)
    with running_sandbox(spec, jira_options={"max_comments_per_issue": COMMENT_CAP}) as sandbox:
        project = sandbox.sandbox.project
        ugly = project.ugly_cases()
        tasks = [
            i for i in project.item_ids() if project.core(i).type in ("Task", "User Story") and i not in ugly.values()
        ][:3]
        make_hostile(project, tasks)
        with_files = next(i for i in project.item_ids() if len(project.attachments(i)) >= 2 and i not in ugly.values())
        climbing = rename_attachments(project, with_files)
        assert any("/" in n for n in climbing)
        plan = default_plan()
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)

        assert final.status == RunStatus.INCOMPLETE, final
        for phase, c in final.counters.items():
            if phase != "preflight":
                assert c.created + c.skipped + c.failed == c.total == spec.items, (phase, c)
        assert final.counters["create_items"].failed == 0
        failed = [r for r in await records(stack, migration_id) if r.state == "failed"]
        assert failed, "the over-limit attachment must fail"
        assert all(r.error and len(r.error) > 10 for r in failed), [(r.kind, r.source_key, r.error) for r in failed]
        # Only what Jira cannot hold fails: the over-limit file, and the person who exists only in ADO.
        # A user: no Jira account (or no e-mail to match one by), or an account deactivated in Jira.
        reasons = {"attachment": ("too large",), "user": ("Jira account", "deactivated in Jira")}
        unexplained = [
            (r.kind, r.source_key, r.error) for r in failed if not any(s in r.error for s in reasons.get(r.kind, ()))
        ]
        assert unexplained == []
        assert [r for r in await records(stack, migration_id) if r.state == "pending"] == []

        issues = await jira_issues(sandbox)
        hierarchy_links = {
            int(r.source_key)
            for r in await records(stack, migration_id, "hierarchy")
            if (r.detail or {}).get("as") == "link"
        }
        structure = check_structure(project, issues, plan, hierarchy_links=hierarchy_links)
        assert structure == [], "\n".join(structure[:30])
        content = await check_content(sandbox, issues, comment_cap=COMMENT_CAP)
        assert content.problems == [], "\n".join(content.problems[:30])
        by_label = {lb: i for i in issues for lb in i.get("labels") or []}
        a = by_label[f"ado-id-{tasks[0]}"]
        # The link cycle survived whole: each issue of the three blocks the next.
        blocks = {
            (f"ado-id-{x}", link["other"])
            for x in tasks
            for link in by_label[f"ado-id-{x}"]["links"]
            if link["direction"] == "outward"
        }
        assert {(f"ado-id-{tasks[i]}", by_label[f"ado-id-{tasks[(i + 1) % 3]}"]["key"]) for i in range(3)} <= blocks
        assert "\x00" not in str(a)
        # Files named to climb directories land flat, under a name without separators.
        stored = [f["filename"] for f in by_label[f"ado-id-{with_files}"]["attachments"]]
        assert len([n for n in stored if "etc" in n or "windows" in n or n.startswith("a_b_c") or "abs" in n]) >= 2, (
            stored
        )
        assert all(
            "/" not in n and "\\" not in n for i in issues for n in (f["filename"] for f in i.get("attachments") or [])
        ), stored


async def jira_snapshot(sandbox) -> dict:
    async with httpx.AsyncClient(timeout=30) as http:
        state = (await http.get(f"{sandbox.jira_url}/_sandbox/state")).json()
    return state


async def run_error(stack, run_id: str) -> str:
    async with stack.service.sessions() as session:
        return (await session.get(Run, run_id)).error or ""


async def failed_before_any_write(stack, sandbox, migration_id: str) -> str:
    before = await jira_snapshot(sandbox)
    run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
    final = await wait_final(stack, TENANT, run_id)
    assert final.status == RunStatus.FAILED, final
    assert await jira_snapshot(sandbox) == before, "Jira changed although the configuration was wrong"
    return await run_error(stack, run_id)


def plan_with(**changes) -> MappingPlan:
    plan = default_plan()
    for name, value in changes.items():
        setattr(plan, name, value)
    return plan


async def test_wrong_pat_fails_before_any_write_naming_it(stack, worker, monkeypatch):
    with running_sandbox(items=10, seed=62) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
        monkeypatch.setenv(ADO_PAT_ENV, "not-the-pat")
        error = await failed_before_any_write(stack, sandbox, migration_id)
        assert "not-the-pat" not in error
        assert any(w in error.lower() for w in ("pat", "401", "unauthor", "credential", "authentic")), error


async def test_wrong_jira_token_fails_before_any_write_naming_it(stack, worker, monkeypatch):
    with running_sandbox(items=10, seed=62) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
        monkeypatch.setenv(JIRA_TOKEN_ENV, "not-the-token")
        error = await failed_before_any_write(stack, sandbox, migration_id)
        assert "not-the-token" not in error
        assert any(w in error.lower() for w in ("token", "401", "unauthor", "credential", "authentic")), error


async def test_wrong_ado_url_fails_before_any_write_naming_it(stack, worker):
    # A URL that answers, but is not the organisation (a typo'd path). An unreachable host is
    # retried as a network outage for minutes today; that case is not covered here.
    with running_sandbox(items=10, seed=63) as sandbox:
        os.environ[ADO_PAT_ENV], os.environ[JIRA_TOKEN_ENV] = "sandbox-pat", "sandbox-token"
        migration_id = await stack.service.create_migration(
            TENANT,
            "Wrong URL",
            SourceConnection(
                organization_url=f"{sandbox.ado_url.rstrip('/')}-typo",
                project="Phoenix",
                team="Phoenix Team",
                pat_ref=f"env:{ADO_PAT_ENV}",
            ),
            TargetConnection(
                base_url=sandbox.jira_url,
                project_key="PHX",
                email="migrator@example.com",
                token_ref=f"env:{JIRA_TOKEN_ENV}",
            ),
            default_plan(),
            actor="test",
            door="api",
        )
        error = await failed_before_any_write(stack, sandbox, migration_id)
        assert error, "the run must say why it failed"


@pytest.mark.parametrize(
    "plan, named",
    [
        (plan_with(types={**default_plan().types, "Bug": "Defect"}), "Defect"),
        (plan_with(fields=[FieldMapping(source="System.Title", target="customfield_99999")]), "customfield_99999"),
    ],
    ids=["jira-lacks-mapped-type", "unknown-target-field"],
)
async def test_plan_jira_cannot_honour_fails_before_any_write_naming_it(stack, worker, plan, named):
    with running_sandbox(items=10, seed=64) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        error = await failed_before_any_write(stack, sandbox, migration_id)
        assert named in error, error


def test_plan_with_an_unknown_field_is_refused_naming_it():
    data = default_plan().model_dump(mode="json")
    data["link_typez"] = {"System.LinkTypes.Related": "Relates"}
    with pytest.raises(ValueError, match="link_typez"):
        MappingPlan.model_validate(data)
