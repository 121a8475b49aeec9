"""Phases 5 and 7 cost the database at most 2 SQL statements per item (issue 17: the worker was CPU-bound there at
8.4 per item), and still land every file and comment exactly once under Jira's per-issue write budget.

The statements counted are those the two phases send while they work a batch (their `run`), wherever in them
they come from: the ledger's reads and writes, the rich text's lookups, the files' records."""

from __future__ import annotations

from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

from migrayt.activities.execution.phase_attachments import AttachmentsPhase
from migrayt.activities.execution.phase_comments import CommentsPhase
from migrayt.mapping.plan import default_plan
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from tests.integration.checker_content import check_content
from tests.integration.harness import create_sandbox_migration, jira_issues, wait_final

TENANT = "statements-co"
# No planted ugly cases: 20 ordinary items (36 comments, 11 files, their histories and descriptions).
SPEC = ProjectSpec(seed=5, items=20, ugly=False, timetracker=False)
MOST_PER_ITEM = 2

_phase: ContextVar[str | None] = ContextVar("counted_phase", default=None)


async def test_attachments_and_comments_send_at_most_two_statements_per_item(stack, monkeypatch, worker):
    counts = {"attachments": 0, "comments": 0}

    def count(*_: object) -> None:
        phase = _phase.get()
        if phase is not None:
            counts[phase] += 1

    for cls, name in ((AttachmentsPhase, "attachments"), (CommentsPhase, "comments")):
        original = cls.run

        async def run(self, batch, _original=original, _name=name):
            token = _phase.set(_name)
            try:
                return await _original(self, batch)
            finally:
                _phase.reset(token)

        monkeypatch.setattr(cls, "run", run)

    # Jira's per-issue write budget, small: an item's comments and files meet it and are sent in turns.
    faults = FaultConfig(jira_issue_writes=3, jira_issue_write_window_seconds=1.0)
    event.listen(Engine, "before_cursor_execute", count)
    try:
        with running_sandbox(SPEC, jira_faults=faults) as sandbox:
            plan = default_plan()
            migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            progress = await wait_final(stack, TENANT, run_id)
            report = await check_content(sandbox, await jira_issues(sandbox), worklogs=False)
    finally:
        event.remove(Engine, "before_cursor_execute", count)

    # The figures (shown with `pytest -rP`): statements per item in each phase.
    print({p: round(n / max(progress.counters[p].total, 1), 2) for p, n in counts.items()}, counts)
    assert report.problems == [], "\n".join(report.problems[:30])
    assert report.comments_found > 0 and report.attachments_found > 0
    for phase in ("attachments", "comments"):
        items = progress.counters[phase].total
        assert items == progress.counters["create_items"].created
        assert progress.counters[phase].created > 0
        assert counts[phase] <= MOST_PER_ITEM * items, f"{phase}: {counts[phase]} SQL statements for {items} items"
