"""One run with failures in several phases, read through every door: the API, the CLI (JSON and table), the web
app's run page and the run report show the same counts — failed items are the phase table added up, unmatched
users are counted apart under their own name, and each phase counts in its own words. A delta sync after it
counts only its own failures, and does not make the migration look COMPLETED."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from migrayt.contracts.phases import BY_NAME, batched, in_order
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from tests.api.helpers import migration_body, poll
from tests.api.test_cli import Cli
from tests.integration.test_phase_structure import plan_with_bad_data
from tests.security.test_local_doors import sign_in

ITEMS, SEED = 40, 23
TENANT = "counts-corp"
FINAL = {"COMPLETED", "INCOMPLETE", "FAILED", "CANCELLED"}
ATTACHMENT_LIMIT = 4_000  # larger files are refused by the sandbox Jira with 413


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED, jira_options={"max_attachment_bytes": ATTACHMENT_LIMIT}) as server:
        yield server


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert found, element_id
    return found.group(1).strip()


async def test_every_door_shows_the_same_counts_for_a_run_with_failures_in_several_phases(api, worker, sandbox):
    token = await api.issue_token(TENANT, name="counts")
    plan = plan_with_bad_data()  # Test Cases fail to be created, and so do links to them
    plan.skip_phases = ["comments"]
    body = migration_body(sandbox, TENANT, approve=True)
    body["plan"] = plan.model_dump(mode="json")
    async with api.client(token) as http:
        r = await http.post("/api/migrations", json=body)
        assert r.status_code == 201, r.text
        mid = r.json()["id"]
        r = await http.post(f"/api/migrations/{mid}/runs")
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        run = await poll(http, f"/api/migrations/{run_id}", lambda b: b["status"] in FINAL, timeout=240)
        assert run["status"] == "INCOMPLETE", run

        # API: failed items are the phase table added up; failures in several phases; unmatched users apart.
        counters = run["counters"]
        phases = batched(in_order(counters))
        failed_by_phase = {p: counters[p]["failed"] for p in phases}
        assert {"create_items", "links", "attachments"} <= {p for p, n in failed_by_phase.items() if n}, counters
        assert run["failed_items"] == sum(failed_by_phase.values())
        async with api.stack.service.sessions() as session:
            users = await session.scalars(
                select(ItemRecord.source_key).where(
                    ItemRecord.migration_id == mid, ItemRecord.kind == "user", ItemRecord.state == "failed"
                )
            )
            unmatched = len(list(users))
        assert unmatched >= 1 and run["users_unmatched"] == unmatched

        # CLI: the same numbers as JSON, and in the table, under the web app's phase names in their own words.
        cli = Cli(api.url, token)
        shown = await cli.json("status", run_id)
        assert shown["counters"] == counters
        assert (shown["failed_items"], shown["users_unmatched"]) == (run["failed_items"], unmatched)
        table = (await cli("status", run_id)).stdout
        assert f"{run['failed_items']} failed items; users: {unmatched} unmatched" in table
        rows = {line.split("│")[1].strip(): line for line in table.splitlines() if line.count("│") > 2}
        for p in phases:
            row = rows[BY_NAME[p].title]
            assert f"{counters[p]['created']} {BY_NAME[p].counts}" in row, row
            assert f"{counters[p]['skipped']} {BY_NAME[p].skipped}" in row, row
            assert row.rstrip(" │").endswith(f" {counters[p]['failed']}"), row
        assert "already there" in rows["Create issues"] and "skipped" not in table

        # Report: its totals are the counters too.
        report = (await http.get(f"/api/migrations/{run_id}/report", params={"format": "json"})).json()
        assert report["counters"] == counters
        assert report["totals"]["failed_items"] == run["failed_items"]
        assert report["totals"]["users_unmatched"] == unmatched

    # Web: the run page's header and its phase bars.
    async with api.client() as browser:
        assert (await sign_in(browser, token)).status_code == 303
        page = (await browser.get(f"/app/runs/{run_id}")).text
    assert text_of(page, "failed-items") == str(run["failed_items"])
    assert text_of(page, "users-unmatched") == f"users: {unmatched} unmatched"
    for p in phases:
        bar = re.search(rf'data-phase="{p}".*?</div>\s*</div>', page, re.S)
        assert bar, p
        c = counters[p]
        assert f"{c['created']} {BY_NAME[p].counts}" in bar.group(0) and BY_NAME[p].title in bar.group(0)
        assert f"{c['skipped']} {BY_NAME[p].skipped}" in bar.group(0)
        assert f"failed {c['failed']}" in bar.group(0)

    async with api.client(token) as http:
        # A delta sync afterwards carries only changed items: its own failures, and the migration stays INCOMPLETE.
        r = await http.post("/api/delta-syncs", json={"migration_id": mid})
        assert r.status_code == 202, r.text
        delta_id = r.json()["run_id"]
        delta = await poll(http, f"/api/migrations/{delta_id}", lambda b: b["status"] in FINAL, timeout=240)
        assert delta["failed_items"] == sum(c["failed"] for c in delta["counters"].values())
        assert delta["status"] == ("INCOMPLETE" if delta["failed_items"] else "COMPLETED"), delta
        migrations = {m["id"]: m for m in (await http.get("/api/migrations")).json()}
        assert (migrations[mid]["status"], migrations[mid]["status_run_id"]) == ("INCOMPLETE", run_id)
    async with api.client() as browser:
        assert (await sign_in(browser, token)).status_code == 303
        home = (await browser.get("/app")).text
    assert f'href="/app/runs/{run_id}"><span class="badge incomplete">INCOMPLETE' in home


async def test_accepted_failures_are_counted_apart_by_every_door_and_close_the_run(api, worker, sandbox):
    """Failures accepted with a reason leave `failed` for `accepted` in the run's counters, read alike by the API,
    the CLI, the web app and the report; with none left the run is COMPLETED_WITH_ACCEPTED_EXCEPTIONS (`status
    --watch` exits 0), and a re-run — which retries them — ends the same way when they fail again."""
    token = await api.issue_token(TENANT + "-accept", name="acceptor")
    plan = plan_with_bad_data()
    plan.skip_phases = ["comments"]
    body = migration_body(sandbox, TENANT + "-accept", approve=True)
    body["plan"] = plan.model_dump(mode="json")
    cli = Cli(api.url, token)
    async with api.client(token) as http:
        mid = (await http.post("/api/migrations", json=body)).json()["id"]
        run_id = (await http.post(f"/api/migrations/{mid}/runs")).json()["run_id"]
        run = await poll(http, f"/api/migrations/{run_id}", lambda b: b["status"] in FINAL, timeout=240)
        assert run["status"] == "INCOMPLETE", run
        failed_at_end, failures_at_end = run["failed_items"], run["failures_total"]
        created_failed = run["counters"]["create_items"]["failed"]
        assert created_failed >= 2 and run["accepted_items"] == 0

        # One failed work item, accepted by its record: one item moves from failed to accepted in its phase.
        page = (await http.get(f"/api/migrations/{run_id}/failures", params={"phase": "create_items"})).json()
        first = page["failures"][0]
        r = await http.post(
            f"/api/migrations/{run_id}/accept-failures",
            json={
                "reason": "Test Cases stay in ADO",
                "records": [{"kind": first["kind"], "source_key": first["source_key"]}],
            },
        )
        assert r.status_code == 200, r.text
        assert (r.json()["accepted"], r.json()["status"]) == (1, "INCOMPLETE")
        run = (await http.get(f"/api/migrations/{run_id}")).json()
        c = run["counters"]["create_items"]
        assert (c["failed"], c["accepted"]) == (created_failed - 1, 1)
        assert (run["failed_items"], run["accepted_items"]) == (failed_at_end - 1, 1)
        assert run["failures_total"] == failures_at_end - 1
        # Only a failure can be accepted, and only by its tenant.
        r = await http.post(
            f"/api/migrations/{run_id}/accept-failures",
            json={"reason": "x", "records": [{"kind": "issue", "source_key": "999999"}]},
        )
        assert r.status_code == 404 and "only a failure can be accepted" in r.json()["detail"]
        assert (await http.post(f"/api/migrations/{run_id}/accept-failures", json={"reason": "x"})).status_code == 422
        async with api.client(await api.issue_token("counts-intruder")) as intruder:
            r = await intruder.post(
                f"/api/migrations/{run_id}/accept-failures", json={"reason": "x", "failure_reason": "Other error"}
            )
            assert r.status_code == 404
            assert (await intruder.get(f"/api/migrations/{mid}/accepted")).status_code == 404

        # The CLI accepts every failure of one reason at once (door cli), and the rest one reason at a time.
        groups = (await http.get(f"/api/migrations/{run_id}/failures")).json()["groups"]
        assert groups
        outcome = await cli.json(
            "accept", run_id, "--failure-reason", groups[0]["reason"], "--reason", "known since the scan"
        )
        assert outcome["accepted"] == groups[0]["count"]
        for g in groups[1:]:
            r = await http.post(
                f"/api/migrations/{mid}/accept-failures",
                json={"reason": f"accepted: {g['reason']}", "failure_reason": g["reason"]},
            )
            assert r.status_code == 200 and r.json()["accepted"] == g["count"], r.text
        run = (await http.get(f"/api/migrations/{run_id}")).json()
        assert run["status"] == "COMPLETED_WITH_ACCEPTED_EXCEPTIONS", run
        assert (run["failed_items"], run["accepted_items"], run["failures_total"]) == (0, failed_at_end, 0)
        assert run["users_unmatched"] == 0
        counters = run["counters"]
        phases = batched(in_order(counters))
        assert all(counters[p]["failed"] == 0 for p in phases)

        # Who, when and why, for each accepted record; the audit trail says how many, by which door.
        accepted = (await http.get(f"/api/migrations/{mid}/accepted")).json()
        assert accepted[0]["reason"] == "Test Cases stay in ADO" and accepted[0]["accepted_by"] == "acceptor"
        assert all(a["accepted_at"] and a["door"] in ("api", "cli") for a in accepted)
        assert {a["door"] for a in accepted} == {"api", "cli"}
        audit = [(e["action"], e["door"]) for e in (await http.get("/api/audit", params={"migration_id": mid})).json()]
        assert ("failures_accepted", "cli") in audit and ("failures_accepted", "api") in audit

        # Every door: the same counts, the same final state.
        shown = await cli.json("status", run_id)
        assert shown["counters"] == counters and shown["status"] == "COMPLETED_WITH_ACCEPTED_EXCEPTIONS"
        assert (shown["failed_items"], shown["accepted_items"]) == (0, failed_at_end)
        table = (await cli("status", run_id)).stdout
        assert "COMPLETED_WITH_ACCEPTED_EXCEPTIONS" in table and f"0 failed items; {failed_at_end} accepted" in table
        rows = {line.split("│")[1].strip(): line for line in table.splitlines() if line.count("│") > 2}
        for p in phases:
            cells = [cell.strip() for cell in rows[BY_NAME[p].title].split("│")]
            assert cells[-3:-1] == [str(counters[p]["accepted"]), "0"], cells
        report = (await http.get(f"/api/migrations/{run_id}/report", params={"format": "json"})).json()
        assert report["status"] == "COMPLETED_WITH_ACCEPTED_EXCEPTIONS" and report["counters"] == counters
        assert (report["totals"]["failed_items"], report["totals"]["accepted_items"]) == (0, failed_at_end)
        assert report["totals"]["failures"] == 0 and report["totals"]["accepted"] == len(accepted)
        html = (await http.get(f"/api/migrations/{run_id}/report", params={"format": "html"})).text
        assert "COMPLETED WITH ACCEPTED EXCEPTIONS" in html and f"{failed_at_end} accepted" in html
        migrations = {m["id"]: m for m in (await http.get("/api/migrations")).json()}
        assert migrations[mid]["status"] == "COMPLETED_WITH_ACCEPTED_EXCEPTIONS"

        # `status --watch` on it exits 0, as for COMPLETED.
        watched = await cli("status", run_id, "--watch", "--json")
        assert '"status": "COMPLETED_WITH_ACCEPTED_EXCEPTIONS"' in watched.stdout

    async with api.client() as browser:
        assert (await sign_in(browser, token)).status_code == 303
        page = (await browser.get(f"/app/runs/{run_id}")).text
        home = (await browser.get("/app")).text
    assert text_of(page, "run-status") == "COMPLETED WITH ACCEPTED EXCEPTIONS"
    assert text_of(page, "failed-items") == "0" and text_of(page, "accepted-items") == f"{failed_at_end} accepted"
    for p in phases:
        bar = re.search(rf'data-phase="{p}".*?</div>\s*</div>', page, re.S)
        assert bar and "failed 0" in bar.group(0), p
        if counters[p]["accepted"]:
            assert f"accepted {counters[p]['accepted']}" in bar.group(0)
    assert "COMPLETED WITH ACCEPTED EXCEPTIONS</span>" in home

    # A re-run retries the accepted items; they fail again, stay accepted, and it is closed the same way.
    async with api.client(token) as http:
        rerun = await cli("rerun", run_id, "--watch", "--json")  # exit 0: it ends COMPLETED_WITH_ACCEPTED_EXCEPTIONS
        again_id = json.loads(rerun.stdout.splitlines()[-1])["run_id"]
        again = (await http.get(f"/api/migrations/{again_id}")).json()
        assert again["status"] == "COMPLETED_WITH_ACCEPTED_EXCEPTIONS", again
        assert again["failed_items"] == 0 and again["accepted_items"] == failed_at_end
        async with api.stack.service.sessions() as session:
            retried = await session.scalar(
                select(ItemRecord).where(
                    ItemRecord.migration_id == mid,
                    ItemRecord.kind == first["kind"],
                    ItemRecord.source_key == first["source_key"],
                )
            )
        assert (retried.run_id, retried.state) == (again_id, "failed")  # tried again by the re-run, failed again

    # Each run's page keeps its own audit trail (and the migration's own steps): the first run's page does not show
    # the re-run's request and phases as if they were its own — the demo's first run looked like it was running again.
    async with api.client() as browser:
        assert (await sign_in(browser, token)).status_code == 303
        first_page = (await browser.get(f"/app/runs/{run_id}")).text
        again_page = (await browser.get(f"/app/runs/{again_id}")).text
    first_trail = re.search(r'id="audit".*?</table>', first_page, re.S).group(0)
    again_trail = re.search(r'id="audit".*?</table>', again_page, re.S).group(0)
    assert "migration created" in first_trail and "migration created" in again_trail
    assert "rerun requested" not in first_trail and "rerun requested" in again_trail
    assert "run requested" in first_trail and first_trail.count("run finished") == 1
    # Newest first: the re-run's end above its request.
    assert again_trail.index("run finished") < again_trail.index("rerun requested")
