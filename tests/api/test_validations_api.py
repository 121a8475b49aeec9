"""The validation doors over HTTP with auth on: start, follow, page every difference, tenant isolation, refusals."""

from __future__ import annotations

import json

import pytest

from migrayt.sandbox.testing import running_sandbox
from tests.api.helpers import migration_body, poll
from tests.api.test_cli import Cli
from tests.integration.harness import jira_issues
from tests.security.web_forms import csrf_of, page_token

TENANT, OTHER = "check-corp", "other-corp"


@pytest.fixture
def sandbox():
    with running_sandbox(items=30, seed=5) as server:
        yield server


async def test_validate_over_http_pages_every_difference_and_keeps_tenants_apart(api, worker, sandbox):
    token, other = await api.issue_token(TENANT), await api.issue_token(OTHER)
    async with api.client(token) as http, api.client(other) as stranger:
        r = await http.post("/api/migrations", json=migration_body(sandbox, TENANT, approve=True))
        assert r.status_code == 201, r.text
        mig = r.json()["id"]
        run = (await http.post(f"/api/migrations/{mig}/runs")).json()["run_id"]
        await poll(http, f"/api/migrations/{run}", lambda b: b["status"] in ("COMPLETED", "INCOMPLETE"), timeout=180)

        r = await http.post(f"/api/migrations/{mig}/validations", json={"tolerances": {"linkz": 1}})
        assert r.status_code == 422 and "linkz" in r.text
        assert (await stranger.post(f"/api/migrations/{mig}/validations")).status_code == 404

        # Three issues gone from Jira: three differences, listed one page at a time.
        issues = await jira_issues(sandbox)
        parents = {i["parent"] for i in issues}
        keys = [i["key"] for i in issues if not i["links"] and i["key"] not in parents][:3]
        for key in keys:
            await sandbox_delete(sandbox, key)
        r = await http.post(f"/api/migrations/{mig}/validations", json={})
        assert r.status_code == 202, r.text
        status_url = r.json()["status_url"]
        vid = r.json()["validation_id"]
        assert (await stranger.get(status_url)).status_code == 404
        done = await poll(http, status_url, lambda b: b["status"] in ("PASSED", "FAILED", "ERROR"), timeout=120)
        assert done["status"] == "FAILED", done
        items = next(c for c in done["checks"] if c["check"] == "items")
        assert (items["missing"], items["passed"]) == (3, False), done

        seen, url = [], f"{done['differences_url']}?page=1&page_size=1&check=items&kind=missing"
        while url:
            page = (await http.get(url)).json()
            assert page["total"] == 3
            seen += page["differences"]
            url = page["next_url"]
        assert sorted(d["jira_key"] for d in seen) == sorted(keys)
        assert (await stranger.get(done["differences_url"])).status_code == 404
        listed = (await http.get(f"/api/migrations/{mig}/validations")).json()
        assert [v["id"] for v in listed][:1] == [vid]
        assert (await http.post(f"{status_url}/pause")).status_code == 409  # it has ended: nothing to pause

    # The web page: the verdict, the counts per check and the differences, paged; another tenant sees none of it.
    async with api.client() as web:
        form_token = await page_token(web, "/app/login")
        assert (await web.post("/app/login", data={"token": token, "csrf_token": form_token})).status_code == 303
        page = await web.get(f"/app/migrations/{mig}/validations/{vid}?check=items")
        assert page.status_code == 200, page.text
        assert "FAILED" in page.text and all(key in page.text for key in keys)
        listing = await web.get(f"/app/migrations/{mig}/validations")
        assert listing.status_code == 200 and vid in listing.text
        form_token = csrf_of(listing.text)
        again = await web.post(f"/app/migrations/{mig}/validations", data={"csrf_token": form_token})
        assert again.status_code == 303 and "/validations/val-" in again.headers["location"]
    async with api.client() as web:
        form_token = await page_token(web, "/app/login")
        await web.post("/app/login", data={"token": other, "csrf_token": form_token})
        assert (await web.get(f"/app/migrations/{mig}/validations/{vid}")).status_code == 404

    # The CLI: exit 1 when it FAILED, with every difference; a tolerance per check makes it pass; usage errors.
    cli = Cli(api.url, token)
    async with api.client(token) as http:
        await poll(
            http,
            f"/api/migrations/{mig}/validations",
            lambda rows: all(v["status"] not in ("RUNNING", "PAUSED") for v in rows),
            timeout=120,
        )
    failed = json.loads((await cli("validate", mig, "--json", code=1)).stdout)
    assert failed["status"] == "FAILED" and sorted(d["jira_key"] for d in failed["differences"]) == sorted(keys), [
        (d["check"], d["kind"], d["jira_key"]) for d in failed["differences"]
    ]
    passed = json.loads((await cli("validate", mig, "--tolerance", "items=3", "--json")).stdout)
    assert passed["status"] == "PASSED"
    assert "linkz" in (await cli("validate", mig, "--tolerance", "linkz=1", code=2)).output
    await cli("validate", "mig-nope", code=3)


async def sandbox_delete(sandbox, key: str) -> None:
    import httpx

    async with httpx.AsyncClient(auth=("migrator@example.com", "sandbox-token"), timeout=30) as http:
        r = await http.delete(f"{sandbox.jira_url}/rest/api/3/issue/{key}")
        assert r.status_code == 204, r.text
