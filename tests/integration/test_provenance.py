"""Provenance on every migrated issue: the original dates, people and state in fields users can see and search,
and a link back to the ADO item; created exactly once under a crash and lost answers; an info panel where the
site refuses custom fields, as the preview said."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from migrayt.contracts.preview import PreviewReport
from migrayt.contracts.runs import FINAL_STATUSES, RunStatus
from migrayt.contracts.validation import FINAL_VALIDATION_STATUSES
from migrayt.core.intake import IntakeService
from migrayt.core.validations import ValidationService
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.scheduling.service import ScheduleService
from migrayt.store.models import ItemRecord
from migrayt.translation.provenance import FACTS, person, utc_datetime
from tests.integration.harness import (
    HANG_GUARD_SECONDS,
    create_sandbox_migration,
    release_jira,
    set_jira_faults,
    structure_only_plan,
    wait_final,
    wait_for,
    wait_until_held,
    worker_process,
)
from tests.schedules.helpers import change_ado, issue_keys

TENANT = "provenance-co"
AUTH = ("migrator@example.com", "sandbox-token")
FIELD_CREATES = r"POST /rest/api/3/field"


async def validate(stack, migration_id: str) -> tuple[object, list]:
    svc = ValidationService(stack.settings, stack.service.sessions, stack.client)
    vid = await svc.start(TENANT, migration_id, "test@provenance.example", "api")
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while (await svc.progress(TENANT, migration_id, vid))[1].status not in FINAL_VALIDATION_STATUSES:
        assert time.monotonic() < deadline, "validation hung"
        await asyncio.sleep(0.3)
    row = await svc.get(TENANT, migration_id, vid)
    differences, page = [], 1
    while True:
        found = await svc.differences(TENANT, migration_id, vid, page=page, page_size=100)
        differences += found.differences
        if page * found.page_size >= found.total:
            return row, differences
        page += 1


def jira_client(sandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sandbox.jira_url, auth=AUTH, timeout=60)


async def provenance_field_ids(jira: httpx.AsyncClient) -> dict[str, list[str]]:
    """Name → ids of the site's custom fields named like a provenance fact (two ids: a duplicate)."""
    names = {f.name for f in FACTS}
    out: dict[str, list[str]] = {}
    for f in (await jira.get("/rest/api/3/field")).json():
        if f["custom"] and f["name"] in names:
            out.setdefault(f["name"], []).append(f["id"])
    return out


async def search(jira: httpx.AsyncClient, jql: str, fields: list[str]) -> list[dict]:
    out, token = [], None
    while True:
        body = {"jql": jql, "fields": fields, "maxResults": 100, **({"nextPageToken": token} if token else {})}
        page = (await jira.post("/rest/api/3/search/jql", json=body)).json()
        out += page["issues"]
        token = page.get("nextPageToken")
        if page.get("isLast", True):
            return out


def ado_id_of(issue: dict) -> int:
    return next(int(x.removeprefix("ado-id-")) for x in issue["fields"]["labels"] if x.startswith("ado-id-"))


def expected_facts(project: GeneratedProject, ado_id: int, org_url: str) -> dict[str, object]:
    f = project.work_item(ado_id).fields
    return {
        "ADO ID": ado_id,
        "ADO URL": f"{org_url.rstrip('/')}/Phoenix/_workitems/edit/{ado_id}",
        "Original created": utc_datetime(f["System.CreatedDate"]),
        "Original created by": person(f["System.CreatedBy"]),
        "Original changed": utc_datetime(f["System.ChangedDate"]),
        "Original resolved": utc_datetime(f.get("Microsoft.VSTS.Common.ResolvedDate")),
        "Original closed": utc_datetime(f.get("Microsoft.VSTS.Common.ClosedDate")),
        "Original state": f["System.State"],
    }


def as_read(name: str, value) -> object:
    """A value as Jira answers it, in the form of `expected_facts` (date-times to the second, in UTC)."""
    if value is None:
        return None
    if name.startswith("Original") and name not in ("Original created by", "Original state"):
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
        assert parsed.utcoffset().total_seconds() == 0, f"{name} {value} is not in UTC"
        return parsed.astimezone(UTC).replace(microsecond=0)
    if name == "ADO ID":
        return int(value)
    return value


async def test_a_full_run_puts_the_source_facts_on_every_issue_searchable_by_jql_with_a_link_back(stack, worker):
    items, seed = 80, 31
    project = GeneratedProject(ProjectSpec(seed=seed, items=items))
    with running_sandbox(items=items, seed=seed) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE), final.error

        async with jira_client(sandbox) as jira:
            ids = await provenance_field_ids(jira)
            assert {n: len(v) for n, v in ids.items()} == {f.name: 1 for f in FACTS}
            field_of = {name: v[0] for name, v in ids.items()}
            issues = await search(jira, "project = PHX", ["labels", *field_of.values()])
            assert len(issues) == final.counters["create_items"].created > 0
            for issue in issues:
                ado_id = ado_id_of(issue)
                got = {name: as_read(name, issue["fields"].get(fid)) for name, fid in field_of.items()}
                assert got == expected_facts(project, ado_id, sandbox.ado_url), issue["key"]
                links = (await jira.get(f"/rest/api/3/issue/{issue['key']}/remotelink")).json()
                back = [r for r in links if r["object"]["title"] == f"ADO #{ado_id}"]
                assert len(back) == 1, (issue["key"], links)
                assert back[0]["object"]["url"] == expected_facts(project, ado_id, sandbox.ado_url)["ADO URL"]
                assert back[0]["globalId"]

            # A JQL range on the original created date finds exactly the source items created in it.
            created = sorted(
                (expected_facts(project, ado_id_of(i), sandbox.ado_url)["Original created"], ado_id_of(i))
                for i in issues
            )
            low, high = created[len(created) // 4][0], created[3 * len(created) // 4][0]
            low_text, high_text = low.strftime("%Y-%m-%d %H:%M"), high.strftime("%Y-%m-%d %H:%M")
            low_bound = datetime.strptime(low_text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
            high_bound = datetime.strptime(high_text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
            wanted = {ado_id for when, ado_id in created if low_bound <= when < high_bound}
            assert 0 < len(wanted) < len(created)
            jql = f'project = PHX AND "Original created" >= "{low_text}" AND "Original created" < "{high_text}"'
            assert {ado_id_of(i) for i in await search(jira, jql, ["labels"])} == wanted
            number = field_of["Original created"].removeprefix("customfield_")
            jql = f'cf[{number}] >= "{low_text}" AND cf[{number}] < "{high_text}"'
            assert {ado_id_of(i) for i in await search(jira, jql, ["labels"])} == wanted

        async with stack.service.sessions() as session:
            rows = (
                await session.execute(
                    select(ItemRecord.source_key, ItemRecord.target_key, ItemRecord.detail).where(
                        ItemRecord.migration_id == migration_id, ItemRecord.kind == "provenance_field"
                    )
                )
            ).all()
        made = {key: (target, detail) for key, target, detail in rows}
        assert made.pop("(where)")[0] == "fields"
        assert {k: (t, d.get("created")) for k, (t, d) in made.items()} == {
            f.key: (field_of[f.name], True) for f in FACTS
        }

        # Validation checks the provenance fields: clean after the run, and a date changed in Jira is found.
        _, differences = await validate(stack, migration_id)
        assert [d for d in differences if d.check == "provenance"] == []
        tampered = issues[0]
        async with jira_client(sandbox) as jira:
            r = await jira.put(
                f"/rest/api/3/issue/{tampered['key']}",
                json={"fields": {field_of["Original created"]: "2001-01-01T00:00:00.000+0000"}},
            )
            assert r.status_code == 204, r.text
        _, differences = await validate(stack, migration_id)
        found = [(d.ado_id, d.kind) for d in differences if d.check == "provenance"]
        assert found == [(ado_id_of(tampered), "different")]


async def test_killed_mid_preflight_with_answers_dropped_makes_one_field_of_each_name(stack, tmp_path):
    # The first two field creates pass (their answers may drop); the next waits until the worker is dead.
    faults = FaultConfig(share_drop_after_write=0.5, seed=5, hold=[FIELD_CREATES], hold_after=2)
    with running_sandbox(items=20, seed=32, jira_faults=faults) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        async with worker_process(stack, tmp_path / "worker.log") as worker:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            await wait_until_held(sandbox)
            async with jira_client(sandbox) as jira:
                before_kill = await provenance_field_ids(jira)
            worker.kill()
            await release_jira(sandbox)  # the held create lands; its answer died with the worker
            worker.start()
            await wait_for(stack, TENANT, run_id, lambda p: p.phase != "preflight" or p.status in FINAL_STATUSES)
            async with httpx.AsyncClient(timeout=10) as http:
                counters = (await http.get(f"{sandbox.jira_url}/_sandbox/faults")).json()["counters"]
            await set_jira_faults(sandbox, share_drop_after_write=0)
            final = await wait_final(stack, TENANT, run_id)
        assert 2 <= sum(len(v) for v in before_kill.values()) < len(FACTS), "the kill must land mid-creation"
        assert counters["dropped_after_write"] > 0, "the test must have dropped some answers"
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE), final.error
        async with jira_client(sandbox) as jira:
            ids = await provenance_field_ids(jira)
            assert Counter({n: len(v) for n, v in ids.items()}) == Counter({f.name: 1 for f in FACTS})
            issues = await search(jira, "project = PHX", ["labels", *(v[0] for v in ids.values())])
            assert issues and all(i["fields"][ids["ADO ID"][0]] == ado_id_of(i) for i in issues)


async def test_where_field_creation_is_refused_the_facts_go_in_a_panel_as_the_preview_said(stack, worker):
    items, seed = 30, 33
    project = GeneratedProject(ProjectSpec(seed=seed, items=items))
    with running_sandbox(items=items, seed=seed, jira_options={"field_admin": False}) as sandbox:
        # No Jira administrator cannot mute the project's notifications either: the plan runs with them on.
        plan = structure_only_plan().model_copy(update={"mute_notifications": False})
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        intake = IntakeService(stack.settings, stack.service.sessions, stack.client)
        preview_id = await intake.start_preview(TENANT, migration_id, actor="ana@example.com", door="api", samples=3)
        done = await intake.preview_result(preview_id)
        assert done.status == "COMPLETED", done.error
        report = PreviewReport.model_validate((await intake.get_preview(TENANT, preview_id)).report)
        assert report.provenance is not None and report.provenance.where == "panel"
        assert "Administer Jira" in (report.provenance.reason or "")
        assert report.provenance.fields_to_create == []
        sample = report.samples[0]
        panel = sample.payload["description"]["content"][0]
        assert panel["type"] == "panel" and panel["attrs"]["panelType"] == "info"
        assert sample.provenance[:3] == [
            ("ADO ID", f"#{sample.ado_id}"),
            ("ADO URL", expected_facts(project, sample.ado_id, sandbox.ado_url)["ADO URL"]),
            (
                "Original created",
                expected_facts(project, sample.ado_id, sandbox.ado_url)["Original created"].strftime(
                    "%Y-%m-%d %H:%M:%S UTC"
                ),
            ),
        ]

        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        final = await wait_final(stack, TENANT, run_id)
        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE), final.error
        async with jira_client(sandbox) as jira:
            assert await provenance_field_ids(jira) == {}
            issues = await search(jira, "project = PHX", ["labels", "description"])
            assert len(issues) == final.counters["create_items"].created > 0
            for issue in issues:
                ado_id = ado_id_of(issue)
                top = issue["fields"]["description"]["content"][0]
                assert top["type"] == "panel", issue["key"]
                lines = {p["content"][0]["text"].removesuffix(": "): p["content"][1]["text"] for p in top["content"]}
                facts = expected_facts(project, ado_id, sandbox.ado_url)
                assert lines["Original created"] == facts["Original created"].strftime("%Y-%m-%d %H:%M:%S UTC")
                assert lines["Original created by"] == facts["Original created by"]
                assert lines["ADO URL"] == facts["ADO URL"]


async def test_a_delta_sync_keeps_original_changed_and_state_current(stack, worker):
    schedules = ScheduleService(stack.settings, stack.service.sessions, stack.client)
    with running_sandbox(items=30, seed=34) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
        assert (await wait_final(stack, TENANT, run_id)).status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
        keys = await issue_keys(stack, migration_id)
        project = sandbox.sandbox.project
        ugly = set(project.ugly_cases().values())
        closed, untouched = [
            i
            for i in sorted(keys)
            if i not in ugly and project.core(i).type == "Task" and project.core(i).state != "Closed"
        ][:2]
        was = dict(project.work_item(closed).fields)
        await change_ado(sandbox, [{"id": closed, "state": "Closed"}])
        now = project.work_item(closed).fields
        assert utc_datetime(now["System.ChangedDate"]) != utc_datetime(was["System.ChangedDate"])

        delta = await schedules.start_delta(TENANT, migration_id, actor="test", door="api")
        assert (await wait_final(stack, TENANT, delta)).status == RunStatus.COMPLETED
        async with jira_client(sandbox) as jira:
            field_of = {name: ids[0] for name, ids in (await provenance_field_ids(jira)).items()}
            for item, fields in ((closed, now), (untouched, project.work_item(untouched).fields)):
                got = (
                    await jira.get(f"/rest/api/3/issue/{keys[item]}", params={"fields": ",".join(field_of.values())})
                ).json()
                shown = {name: as_read(name, got["fields"].get(fid)) for name, fid in field_of.items()}
                assert shown["Original changed"] == utc_datetime(fields["System.ChangedDate"]), item
                assert shown["Original state"] == fields["System.State"], item
        assert now["System.State"] == "Closed"
