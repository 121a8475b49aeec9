"""The whole wizard over HTTP — migration, plan edit/approve, scan, preview, run — with the 409 rules,
live progress over SSE, and a second tenant's token refused with 404 on every route."""

from __future__ import annotations

import asyncio
import re

import pytest

from migrayt.sandbox.testing import running_sandbox
from tests.api.helpers import assert_other_tenant_sees_nothing, migration_body, poll, read_events
from tests.integration.harness import ado_labels, jira_issues

ITEMS, SEED = 60, 11
FINAL = {"COMPLETED", "INCOMPLETE", "FAILED", "CANCELLED"}
TENANT = "flow-corp"


@pytest.fixture
def sandbox():
    with running_sandbox(items=ITEMS, seed=SEED) as server:
        yield server


async def test_wizard_run_controls_and_events_over_http(api, worker, sandbox):
    token = await api.issue_token(TENANT, name="wizard")
    async with api.client(token) as http:
        # Malformed input is a 4xx that says what is wrong, and creates nothing.
        bad = migration_body(sandbox, TENANT)
        bad["source"]["pat_ref"] = "my-plain-pat"
        r = await http.post("/api/migrations", json=bad)
        assert r.status_code == 422 and "pat_ref" in r.text
        # A shared server sends no secret but the tenant's own to the URLs a tenant chooses.
        for ref in ("env:MIGRAYT_ADMIN_TOKEN", "env:HOME", "file:/etc/passwd", "env:MIGRAYT_T_OTHER_CORP__ADO_PAT"):
            stolen = migration_body(sandbox, TENANT)
            stolen["target"]["token_ref"] = ref
            r = await http.post("/api/migrations", json=stolen)
            assert r.status_code == 422 and ref in r.json()["detail"], r.text
        assert (
            await http.post("/api/migrations", content=b"{not json", headers={"content-type": "application/json"})
        ).status_code == 422
        assert (await http.get("/api/migrations")).json() == []

        r = await http.post("/api/migrations", json=migration_body(sandbox, TENANT))
        assert r.status_code == 201, r.text
        migration = r.json()
        mid = migration["id"]
        assert migration["plan"]["version"] == 1 and migration["plan"]["status"] == "draft"

        # No run before the plan is approved.
        r = await http.post(f"/api/migrations/{mid}/runs")
        assert r.status_code == 409 and "approve" in r.json()["detail"]

        # Edit the draft: a new version; an edit of a stale version is a conflict.
        plan = (await http.get(f"/api/migrations/{mid}/plan")).json()
        edited = dict(plan["plan"], priorities={**plan["plan"]["priorities"], "4": "Lowest"})
        r = await http.put(f"/api/migrations/{mid}/plan", json={"base_version": 1, "plan": edited})
        assert r.status_code == 201 and r.json()["version"] == 2 and r.json()["plan"]["priorities"]["4"] == "Lowest"
        r = await http.put(f"/api/migrations/{mid}/plan", json={"base_version": 1, "plan": edited})
        assert r.status_code == 409 and "not the latest" in r.json()["detail"]
        versions = (await http.get(f"/api/migrations/{mid}/plan/versions")).json()
        assert [(v["version"], v["status"]) for v in versions] == [(1, "draft"), (2, "draft")]

        # Scan: catalog, lint and quote of the generated project.
        r = await http.post(
            f"/api/migrations/{mid}/scans", json={"draft_plan": False, "limit_overrides": {"comments_per_issue": 300}}
        )
        assert r.status_code == 202
        scan_id = r.json()["scan_id"]
        assert (
            await http.post(f"/api/migrations/{mid}/scans", json={"limit_overrides": {"no_such_limit": 1}})
        ).status_code == 422
        scan = await poll(http, f"/api/scans/{scan_id}", lambda s: s["status"] != "RUNNING")
        assert scan["status"] == "COMPLETED", scan["error"]
        catalog = (await http.get(f"/api/scans/{scan_id}/catalog")).json()
        assert catalog["items_total"] == ITEMS
        assert (await http.get(f"/api/scans/{scan_id}/lint")).json()["breaches"]
        quote = (await http.get(f"/api/scans/{scan_id}/quote")).json()
        assert quote["total"] > 0 and (await http.get(f"/api/migrations/{mid}/quote")).json() == quote
        assert [s["id"] for s in (await http.get(f"/api/migrations/{mid}/scans")).json()] == [scan_id]

        # Preview: a dry run that writes nothing.
        r = await http.post(f"/api/migrations/{mid}/previews", json={"samples": 2})
        assert r.status_code == 202
        preview = await poll(http, f"/api/previews/{r.json()['preview_id']}", lambda p: p["status"] != "RUNNING")
        assert preview["status"] == "COMPLETED" and preview["report"]["items_total"] == ITEMS
        assert await jira_issues(sandbox) == []
        assert (await http.post(f"/api/migrations/{mid}/previews", json={"samples": 999})).status_code == 422

        r = await http.post(f"/api/migrations/{mid}/plan/approve", json={})
        assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["approved_by"] == "wizard"

        # Run, with the 409 rules on the way.
        r = await http.post(f"/api/migrations/{mid}/runs")
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        assert r.json()["events_url"] == f"/api/migrations/{run_id}/events"
        r = await http.post(f"/api/migrations/{mid}/runs")
        assert r.status_code == 409 and "active run" in r.json()["detail"]
        r = await http.post(f"/api/migrations/{run_id}/resume")
        assert r.status_code == 409 and "only a PAUSED run can be resumed" in r.json()["detail"]
        assert (
            await http.post(f"/api/migrations/{run_id}/pause", json={"reason": "cutover window"})
        ).status_code == 202
        paused = await poll(http, f"/api/migrations/{run_id}", lambda p: p["status"] == "PAUSED")
        assert paused["eta_seconds"] is None  # no pace while paused
        r = await http.post(f"/api/migrations/{run_id}/pause")
        assert r.status_code == 409 and "only a RUNNING run can be paused" in r.json()["detail"]
        assert (await http.post(f"/api/migrations/{run_id}/rerun")).status_code == 409
        assert (await http.post(f"/api/migrations/{run_id}/pause", json={"actor": "x" * 201})).status_code == 422

        # Live progress: events from PAUSED through RUNNING to the final status, then the stream ends.
        reader = asyncio.create_task(read_events(http, f"/api/migrations/{run_id}/events?interval=1"))
        await asyncio.sleep(0.5)
        assert (await http.post(f"/api/migrations/{run_id}/resume")).status_code == 202
        events = await reader
        kinds = [e for e, _ in events]
        assert kinds[-1] == "end" and set(kinds[:-1]) == {"progress"} and len(kinds) >= 3
        statuses = [d["status"] for e, d in events if e == "progress"]
        assert statuses[0] == "PAUSED" and statuses[-1] in ("COMPLETED", "INCOMPLETE") and "RUNNING" in statuses
        done_counts = [
            sum(c["created"] + c["skipped"] + c["failed"] for c in d["counters"].values())
            for e, d in events
            if e == "progress"
        ]
        assert done_counts == sorted(done_counts)  # progress only moves forward
        assert events[-1][1] == {"run_id": run_id, "status": statuses[-1]}

        final = (await http.get(f"/api/migrations/{run_id}")).json()
        c = final["counters"]["create_items"]
        assert c["total"] == ITEMS and c["created"] + c["skipped"] + c["failed"] == ITEMS
        assert len(ado_labels(await jira_issues(sandbox))) == c["created"]
        assert final["migration_id"] == mid and final["eta_seconds"] is None and final["elapsed_seconds"] > 0
        assert final["finished_at"] and final["live"] is True
        assert final["status"] != "INCOMPLETE" or final["failures"]
        assert final["failures_total"] == len(final["failures"])
        assert all(f["error"] for f in final["failures"])

        # A finished run takes no control: 409, and nothing is recorded.
        audit_before = (await http.get("/api/audit", params={"run_id": run_id, "limit": 1000})).json()
        for action in ("pause", "resume", "cancel"):
            r = await http.post(f"/api/migrations/{run_id}/{action}")
            assert r.status_code == 409 and final["status"] in r.json()["detail"], r.text
        assert (await http.get("/api/audit", params={"run_id": run_id, "limit": 1000})).json() == audit_before
        actions = [(e["action"], e["actor"], e["door"]) for e in audit_before]
        assert ("run_requested", "wizard", "api") in actions and ("pause_requested", "wizard", "api") in actions
        assert ("resume_requested", "wizard", "api") in actions

        # A second run, cancelled: everything after is a 409 with no effect; a re-run skips what exists.
        r = await http.post(f"/api/migrations/{mid}/runs", json={"actor": "ops@flow"})
        second = r.json()["run_id"]
        assert (await http.post(f"/api/migrations/{second}/pause")).status_code == 202
        await poll(http, f"/api/migrations/{second}", lambda p: p["status"] == "PAUSED")
        assert (await http.post(f"/api/migrations/{second}/cancel")).status_code == 202
        cancelled = await poll(http, f"/api/migrations/{second}", lambda p: p["status"] in FINAL)
        assert cancelled["status"] == "CANCELLED"
        audit_before = (await http.get("/api/audit", params={"run_id": second})).json()
        # A name the caller gives is kept, but the token that acted is always on record.
        assert ("run_requested", "ops@flow (via wizard)") in {(e["action"], e["actor"]) for e in audit_before}
        for action in ("pause", "resume", "cancel"):
            r = await http.post(f"/api/migrations/{second}/{action}")
            assert r.status_code == 409 and re.search(r"is CANCELLED: nothing to", r.json()["detail"]), r.text
        assert (await http.get(f"/api/migrations/{second}")).json()["status"] == "CANCELLED"
        assert (await http.get("/api/audit", params={"run_id": second})).json() == audit_before
        r = await http.post(f"/api/migrations/{second}/rerun")
        assert r.status_code == 202
        third = r.json()["run_id"]
        rerun = await poll(http, f"/api/migrations/{third}", lambda p: p["status"] in FINAL)
        assert rerun["original_run_id"] == second and rerun["counters"]["create_items"]["created"] == 0
        assert len(ado_labels(await jira_issues(sandbox))) == c["created"]

        view = (await http.get(f"/api/migrations/{mid}")).json()
        assert [run["id"] for run in view["runs"]] == [run_id, second, third]
        assert [run["id"] for run in (await http.get(f"/api/migrations/{mid}/runs")).json()] == [run_id, second, third]
        assert (await http.get("/api/migrations/run-nope")).status_code == 404
        assert (await http.get("/api/migrations/mig-nope")).status_code == 404
        assert (await http.get("/api/migrations/bad id!")).status_code == 422

        # Tenant isolation: a connection too, then another tenant's token on every route.
        r = await http.post(
            "/api/connections",
            json={
                "kind": "ado",
                "name": "ado",
                "organization_url": sandbox.ado_url,
                "project": "Phoenix",
                "pat": "sandbox-pat",
            },
        )
        assert r.status_code == 201, r.text
        connection_id = r.json()["id"]
        assert "sandbox-pat" not in r.text
        r = await http.post(
            "/api/connections",
            json={
                "kind": "ado",
                "name": "ado",
                "organization_url": sandbox.ado_url,
                "project": "Nope",
                "pat": "sandbox-pat",
            },
        )
        assert r.status_code == 400 and "no Azure DevOps project 'Nope'" in r.json()["detail"]
        assert (await http.get(f"/api/connections/{connection_id}")).json()["kind"] == "ado"
        ids = dict(
            migration_id=mid,
            run_id=third,
            scan_id=scan_id,
            preview_id=preview["id"],
            connection_id=connection_id,
            item="1",
        )
        plan_body = {"base_version": 2, "plan": edited}
        checked = await assert_other_tenant_sees_nothing(
            api, ids, {"PUT /api/migrations/{migration_id}/plan": plan_body}
        )
        assert {
            "GET /api/migrations/{id}",
            "POST /api/migrations/{run_id}/pause",
            "POST /api/migrations/{run_id}/cancel",
            "GET /api/migrations/{run_id}/events",
            "PUT /api/migrations/{migration_id}/plan",
            "GET /api/previews/{preview_id}",
            "GET /api/migrations/{run_id}/report",
            "GET /api/migrations/{id}/items/{item}",
            "GET /api/migrations/{id}/failures",
            "PATCH /api/migrations/{migration_id}",
            "DELETE /api/migrations/{migration_id}",
            "DELETE /api/connections/{connection_id}",
            "PUT /api/connections/{connection_id}/secret",
            "POST /api/migrations/{id}/accept-failures",
            "GET /api/migrations/{id}/accepted",
        } <= checked and len(checked) >= 24
        # Nothing the other tenant tried changed anything here.
        assert (await http.get(f"/api/migrations/{mid}/plan/versions")).json()[-1]["version"] == 2
        assert [run["id"] for run in (await http.get(f"/api/migrations/{mid}/runs")).json()] == [run_id, second, third]
