"""A scan finding that will fail items — an item past Jira's per-issue cap of 2,000 remote links — must be
acknowledged before the plan can be approved: the API refuses naming the finding, the web app asks for a tick,
the CLI takes `map approve --acknowledge FINDING`, and the audit trail keeps what was acknowledged."""

from __future__ import annotations

import pytest

from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from tests.api.helpers import migration_body, poll
from tests.api.test_cli import Cli
from tests.security.test_local_doors import sign_in

TENANT = "crowded-corp"
HYPERLINKS = 2_001


@pytest.fixture
def sandbox():
    with running_sandbox(ProjectSpec(seed=5, items=20, extra_hyperlinks=HYPERLINKS)) as server:
        yield server


async def test_a_finding_that_will_fail_items_is_acknowledged_before_approval(api, worker, sandbox):
    token = await api.issue_token(TENANT, name="lint")
    async with api.client(token) as http:
        r = await http.post("/api/migrations", json=migration_body(sandbox, TENANT))
        assert r.status_code == 201, r.text
        mid = r.json()["id"]
        r = await http.post(f"/api/migrations/{mid}/scans", json={"draft_plan": False})
        assert r.status_code == 202, r.text
        scan_id = r.json()["scan_id"]
        scan = await poll(http, f"/api/scans/{scan_id}", lambda s: s["status"] != "RUNNING", timeout=240)
        assert scan["status"] == "COMPLETED", scan
        lint = (await http.get(f"/api/scans/{scan_id}/lint")).json()
        crowded = next(b for b in lint["breaches"] if b["rule"] == "many_remote_links")
        assert crowded["must_acknowledge"] and crowded["limit"] == 2000 and crowded["count"] == 1
        assert list(crowded["figures"].values())[0] >= HYPERLINKS

        r = await http.post(f"/api/migrations/{mid}/plan/approve", json={})
        assert r.status_code == 409, r.text
        assert "many_remote_links" in r.json()["detail"] and "acknowledged" in r.json()["detail"]
        assert (await http.get(f"/api/migrations/{mid}/plan")).json()["status"] == "draft"

    # Web: the mapping page asks for the acknowledgement next to the approve button.
    async with api.client() as browser:
        assert (await sign_in(browser, token)).status_code == 303
        page = (await browser.get(f"/app/migrations/{mid}/mapping")).text
    assert 'id="acknowledge-many_remote_links"' in page and 'name="acknowledge"' in page

    cli = Cli(api.url, token)
    refused = await cli("map", "approve", mid, code=4)
    assert "many_remote_links" in refused.output
    approved = await cli.json("map", "approve", mid, "--acknowledge", "many_remote_links")
    assert approved["status"] == "approved"
    async with api.client(token) as http:
        events = (await http.get("/api/audit", params={"migration_id": mid})).json()
    approval = next(e for e in events if e["action"] == "plan_approved")
    assert approval["detail"]["acknowledged"] == ["many_remote_links"]
