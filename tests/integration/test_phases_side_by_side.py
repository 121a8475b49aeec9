"""Phases side by side against the real stack: the same generated project migrated one phase after the other and
side by side (paused mid-content and resumed) into two sandboxes ends in the same Jira state: every issue, status,
parent, link, file, comment (in order) and work log, none of them twice."""

from __future__ import annotations

import re

from migrayt.contracts.runs import PhaseSchedule, RunStatus
from migrayt.mapping.plan import MappingPlan, default_plan
from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from tests.integration.harness import (
    ado_labels,
    create_sandbox_migration,
    hold_jira,
    jira_issues,
    release_jira,
    wait_final,
    wait_for,
    wait_until_held,
)

TENANT = "beside-co"
# The fewest items that still give every content phase several batches (of 10) and a comment thread to cut.
SPEC = ProjectSpec(seed=23, items=40, ugly=False)
COMMENT_POSTS = r"POST /rest/api/3/issue/[^/]+/comment"
WORKLOG_POSTS = r"POST /rest/api/3/issue/[^/]+/worklog"


def plan(schedule: PhaseSchedule) -> MappingPlan:
    return default_plan().model_copy(update={"phase_schedule": schedule, "mute_notifications": False})


def jira_state(issues: list[dict]) -> dict[int, dict]:
    """What a user sees in Jira, per ADO item, with the keys and ids Jira made (differing between sites) replaced
    by the ADO ids they stand for."""
    ado_of = {keys[0]: label for label, keys in ado_labels(issues).items()}

    def same(text: str | None) -> str | None:
        if text is None:
            return None
        text = re.sub(r"\b[A-Z][A-Z0-9]+-\d+\b", lambda m: ado_of.get(m.group(0), "?"), text)
        text = re.sub(r"http://127\.0\.0\.1:\d+", "SITE", text)
        return re.sub(r"/attachment/(content/)?\d+", "/attachment/N", text)

    state = {}
    for issue in issues:
        if issue["key"] not in ado_of:
            continue
        state[int(ado_of[issue["key"]].removeprefix("ado-id-"))] = {
            "type": issue["type"],
            "status": issue["status"],
            "summary": issue["summary"],
            "parent": ado_of.get(issue.get("parent") or ""),
            "description": same(issue["description"]),
            "links": sorted((lk["type"], lk["direction"], ado_of.get(lk["other"])) for lk in issue["links"]),
            # The history page names the run's Jira keys and site: compared by name; every other file by content.
            "attachments": sorted(
                (a["filename"], "" if a["filename"].endswith("-history.html") else a["sha256"])
                for a in issue["attachments"]
            ),
            "comments": [(c["author"], same(c["body"])) for c in issue["comments"]],
            "worklogs": sorted((w["seconds"], w["started"]) for w in issue["worklogs"]),
        }
    return state


async def test_side_by_side_paused_mid_content_ends_in_the_same_jira_state_as_one_phase_after_the_other(
    stack, worker, monkeypatch
):
    # Batches of 10: every phase of the group has several, so they overlap and a pause cuts some mid-way.
    monkeypatch.setattr(stack.service, "settings", stack.settings.model_copy(update={"batch_size": 10}))

    with running_sandbox(SPEC) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan(PhaseSchedule.SEQUENTIAL), TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        sequential = await wait_final(stack, TENANT, run_id)
        one_after_the_other = jira_state(await jira_issues(sandbox))

    with running_sandbox(SPEC) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan(PhaseSchedule.SIDE_BY_SIDE), TENANT)
        # Comments and work logs after the first two wait, unanswered: the run is held mid-content, two phases (and
        # whichever others have not finished) under way at once.
        await hold_jira(sandbox, COMMENT_POSTS, WORKLOG_POSTS, after=2)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        await wait_until_held(sandbox)
        held = await stack.service.progress(TENANT, run_id)
        await stack.service.control(TENANT, run_id, "pause", actor="ops@beside", door="api")
        await wait_for(stack, TENANT, run_id, lambda p: p.pause_requested, poll=0.05)
        await release_jira(sandbox)
        paused = await wait_for(stack, TENANT, run_id, lambda p: p.status == RunStatus.PAUSED)
        await stack.service.control(TENANT, run_id, "resume", actor="ops@beside", door="api")
        side_by_side = await wait_final(stack, TENANT, run_id)
        beside = jira_state(await jira_issues(sandbox))

    assert {"comments", "7pace"} <= set(held.phases_running), held.phases_running
    c = paused.counters["comments"]
    assert c.created + c.skipped + c.failed < c.total, "the pause came mid-comments"
    assert sequential.status == side_by_side.status == RunStatus.COMPLETED
    assert len(one_after_the_other) == len(beside) > 0
    assert sum(len(i["comments"]) for i in beside.values()) > 0
    assert sum(len(i["attachments"]) for i in beside.values()) > 0
    assert sum(len(i["links"]) for i in beside.values()) > 0
    different = {
        ado: (one_after_the_other.get(ado), s) for ado, s in beside.items() if one_after_the_other.get(ado) != s
    }
    assert different == {}, "first differences: " + repr(list(different.items())[:2])
    # Items a cut batch had finished count as passed over when it is redone: the totals and failures match.
    for phase, counted in side_by_side.counters.items():
        assert (counted.total, counted.failed) == (sequential.counters[phase].total, sequential.counters[phase].failed)
