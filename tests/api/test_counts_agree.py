"""One run with failures in several phases, read through every door: the API, the CLI (JSON and table), the web
app's run page and the run report show the same counts — failed items are the phase table added up, unmatched
users are counted apart under their own name, and each phase counts in its own words. A delta sync after it
counts only its own failures, and does not make the migration look COMPLETED."""

from __future__ import annotations

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
