"""The run report, the trace of one item and the complete failure list, over HTTP against a run with planted failures.

The report's rows are the run's item records (every failure present, named by its ADO item), its counts are the
run's counters, in all three formats; a trace shows each phase's record of one item; the failure list pages
through every failure; another tenant gets 404 on each.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import and_, or_, select

from migrayt.core.item_records_view import LOOKUP_KINDS
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from tests.api.helpers import migration_body, poll
from tests.api.test_cli import Cli
from tests.integration.test_phase_structure import plan_with_bad_data

ITEMS, SEED = 40, 23
TENANT = "report-corp"
FINAL = {"COMPLETED", "INCOMPLETE", "FAILED", "CANCELLED"}
# Files over this size are refused by the sandbox Jira with 413, as a site with a low attachment limit does.
ATTACHMENT_LIMIT = 4_000


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED, jira_options={"max_attachment_bytes": ATTACHMENT_LIMIT}) as server:
        yield server


async def records_of_run(stack, migration_id: str, run_id: str) -> list[ItemRecord]:
    async with stack.service.sessions() as session:
        return list(
            await session.scalars(
                select(ItemRecord).where(
                    ItemRecord.migration_id == migration_id,
                    or_(
                        ItemRecord.run_id == run_id,
                        and_(ItemRecord.run_id == "preflight", ItemRecord.kind.in_(LOOKUP_KINDS)),
                    ),
                )
            )
        )


async def test_report_trace_and_failures_of_a_run_with_planted_failures(api, worker, sandbox, tmp_path):
    token = await api.issue_token(TENANT, name="report")
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
        counters = run["counters"]

        db = await records_of_run(api.stack, mid, run_id)
        db_rows = {(x.kind, x.source_key, x.state) for x in db}
        db_failed = {(x.kind, x.source_key) for x in db if x.state == "failed"}
        failed_kinds = {k for k, _ in db_failed}
        assert {"user", "issue", "attachment", "link"} <= failed_kinds, failed_kinds  # the planted failures

        # JSON: the rows are the run's records, every failure named by its ADO item with a remedy.
        r = await http.get(f"/api/migrations/{run_id}/report", params={"format": "json"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        assert f'filename="migrayt-report-{run_id}.json"' in r.headers["content-disposition"]
        report = r.json()
        assert {(x["kind"], x["source_key"], x["state"]) for x in report["records"]} == db_rows
        assert len(report["records"]) == len(db) == report["totals"]["records"]
        failures = [x for x in report["records"] if x["state"] == "failed"]
        assert report["totals"]["failures"] == len(db_failed) == len(failures)
        for f in failures:
            if f["kind"] not in ("user", "component", "sprint"):
                assert f["ado_id"] is not None, f
            assert f["reason"] and f["remedy"] and f["error"], f
        attachment = next(f for f in failures if f["kind"] == "attachment")
        assert attachment["what"].startswith("attachment ") and "ADO file id" not in attachment["what"]
        assert attachment["reason"] == "File too large for Jira" and attachment["jira_key"].startswith("PHX-")
        # The generated project has a partner's user with no Jira account: named, with the user table as remedy.
        users = [f for f in failures if f["kind"] == "user"]
        assert "user morgan.ellery@partner-agency.example" in {f["what"] for f in users}
        # (one who left is said to be deactivated: reactivating, not inviting, is the remedy there)
        reasons = ("Unmapped user", "Deactivated Jira user")
        assert all(f["reason"] in reasons and "user table" in f["remedy"] for f in users)
        issue_failure = next(f for f in failures if f["kind"] == "issue")
        assert issue_failure["jira_key"] is None and issue_failure["what"] == "work item"
        # Totals are the run's counters, and each phase's failed items are the items the report shows failed.
        assert report["counters"] == counters
        assert report["totals"]["items"] == counters["create_items"]["total"] == ITEMS
        for phase in report["phases"]:
            failed_items = sum(1 for i in report["items"] if i["phases"][phase] == "failed")
            assert failed_items == counters[phase]["failed"], phase
        created = sum(1 for i in report["items"] if i["jira_key"])
        assert created == counters["create_items"]["created"]

        # CSV: one row per record, each failure named by "#N".
        r = await http.get(f"/api/migrations/{run_id}/report", params={"format": "csv"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.headers["content-disposition"].startswith("attachment;")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert {(x["kind"], x["source_key"], x["state"]) for x in rows} == db_rows and len(rows) == len(db)
        for x in rows:
            if x["state"] == "failed" and x["kind"] not in ("user", "component", "sprint"):
                assert re.fullmatch(r"#\d+", x["ado_item"]), x

        # HTML: one page standing alone, with the counts and each failure's row.
        r = await http.get(f"/api/migrations/{run_id}/report", params={"format": "html"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        page = r.text
        assert f'id="failures-total">{len(db_failed)} failed' in page
        assert page.count('<tr class="failure"') == len(db_failed)
        assert f'data-ado="{attachment["ado_id"]}"' in page and attachment["what"] in page
        assert "<script" not in page and "<link" not in page and "src=" not in page
        c = counters["create_items"]
        assert f'<td class="n">{c["total"]}</td>' in page

        # The trace of one item: each phase's record, and both sides' addresses.
        ado_id = attachment["ado_id"]
        r = await http.get(f"/api/migrations/{mid}/items/{ado_id}")
        assert r.status_code == 200, r.text
        trace = r.json()
        assert trace["jira_key"] == attachment["jira_key"]
        assert trace["jira_url"] == f"{sandbox.jira_url}/browse/{trace['jira_key']}"
        assert trace["ado_url"].endswith(f"/_workitems/edit/{ado_id}")
        phases = {x["phase"] for x in trace["records"]}
        assert {"create_items", "attachments"} <= phases, phases
        # Each phase of the run, with this item's fate there, as the report's row for the item says.
        row = next(i for i in report["items"] if i["ado_id"] == ado_id)
        assert trace["phases"] == {p: row["phases"][p] for p in trace["phases"]} and trace["phases"]
        assert set(report["phases"]) <= set(trace["phases"]) and trace["phases"]["attachments"] == "failed"
        issue = next(x for x in trace["records"] if x["kind"] == "issue")
        assert issue["state"] == "done" and issue["target_key"] == trace["jira_key"] and issue["attempts"] >= 1
        assert issue["updated_at"]
        assert any(x["kind"] == "attachment" and x["state"] == "failed" and x["error"] for x in trace["records"])
        by_key = (await http.get(f"/api/migrations/{run_id}/items/{trace['jira_key']}")).json()
        assert by_key["ado_id"] == ado_id and len(by_key["records"]) == len(trace["records"])
        assert (await http.get(f"/api/migrations/{mid}/items/999999")).status_code == 404

        # The failure list pages through every failure, grouped by reason, filterable by phase.
        seen, offset = [], 0
        while offset is not None:
            page_ = (await http.get(f"/api/migrations/{run_id}/failures", params={"offset": offset, "limit": 3})).json()
            assert page_["total"] == len(db_failed) and len(page_["failures"]) <= 3
            seen += [(f["kind"], f["source_key"]) for f in page_["failures"]]
            offset = page_["next_offset"]
        assert len(seen) == len(set(seen)) and set(seen) == db_failed
        assert sum(g["count"] for g in page_["groups"]) == len(db_failed)
        only = (await http.get(f"/api/migrations/{mid}/failures", params={"phase": "attachments"})).json()
        assert only["total"] == sum(1 for f in failures if f["phase"] == "attachments") > 0
        assert {f["phase"] for f in only["failures"]} == {"attachments"}

        # The CLI: the same report to a file, the trace, and every failure across pages.
        cli = Cli(api.url, token)
        out = tmp_path / "report.csv"
        await cli("report", run_id, "--format", "csv", "-o", str(out))
        assert {
            (x["kind"], x["source_key"], x["state"]) for x in csv.DictReader(io.StringIO(out.read_text()))
        } == db_rows
        traced = await cli.json("trace", mid, f"#{ado_id}")
        assert traced["jira_key"] == trace["jira_key"] and len(traced["records"]) == len(trace["records"])
        listed = await cli.json("failures", run_id)
        assert {(f["kind"], f["source_key"]) for f in listed["failures"]} == db_failed
        assert attachment["what"] in (await cli("failures", run_id, "--phase", "attachments")).stdout
        await cli("trace", mid, "999999", code=3)

    # Another tenant: 404 on the report, the trace and the failure list.
    other = await api.issue_token("report-other", name="intruder")
    async with api.client(other) as http:
        for path in (
            f"/api/migrations/{run_id}/report?format=csv",
            f"/api/migrations/{mid}/items/{ado_id}",
            f"/api/migrations/{run_id}/items/{ado_id}",
            f"/api/migrations/{run_id}/failures",
            f"/api/migrations/{mid}/failures",
        ):
            r = await http.get(path)
            assert r.status_code == 404, (path, r.status_code, r.text[:200])
