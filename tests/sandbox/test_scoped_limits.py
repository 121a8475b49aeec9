"""Jira Cloud's three scoped limits and ADO's TSTU budget in the sandbox: each refuses only its own scope."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from fastapi import FastAPI

from migrayt.sandbox.fault_config import LIMIT_PROFILES, FaultConfig
from migrayt.sandbox.faults import FaultController, FaultMiddleware, Service

TIMEOUT = httpx.Timeout(10.0)
COMMENT = "POST /rest/api/3/issue/{id}/comment"


def stand_in_app() -> FastAPI:
    """The handful of Jira and ADO routes the budgets tell apart."""
    app = FastAPI()
    writes: list[str] = []

    @app.post("/rest/api/3/issue/{key}/comment", status_code=201)
    def comment(key: str) -> dict:
        writes.append(f"comment {key}")
        return {"id": str(len(writes))}

    @app.post("/rest/api/3/issue/{key}/attachments")
    def attach(key: str) -> list:
        writes.append(f"attachment {key}")
        return [{"id": str(len(writes))}]

    @app.put("/rest/api/3/issue/{key}", status_code=204)
    def edit(key: str) -> None:
        writes.append(f"edit {key}")

    @app.get("/rest/api/3/issue/{key}")
    def read(key: str) -> dict:
        return {"key": key}

    @app.get("/acme/_apis/wit/workitems/{item}")
    def work_item(item: int) -> dict:
        return {"id": item}

    @app.get("/_sandbox/state")
    def state() -> dict:
        return {"writes": writes}

    return app


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wrapped(service: Service, config: FaultConfig, clock: FrozenClock):
    controller = FaultController(config, clock=clock)
    return FaultMiddleware(stand_in_app(), controller, service), controller


def client_for(app, auth: tuple[str, str] = ("migrator@example.com", "token")) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox", timeout=TIMEOUT, auth=auth
    )


def assert_jira_429(response: httpx.Response, reason: str, limit: int) -> None:
    assert response.status_code == 429
    assert response.headers["RateLimit-Reason"] == reason
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", response.headers["X-RateLimit-Reset"])


async def test_burst_budget_is_per_endpoint_and_method() -> None:
    clock = FrozenClock()
    app, controller = wrapped("jira", FaultConfig(jira_burst_rps=5), clock)
    async with client_for(app) as client:
        comments = [await client.post(f"/rest/api/3/issue/PHX-{i}/comment", json={}) for i in range(6)]
        assert [r.status_code for r in comments] == [201] * 5 + [429]
        assert_jira_429(comments[-1], "jira-burst-based", 5)
        # Other issues' comments are the same endpoint; attachments, reads and edits are not: each has its own.
        assert (await client.post("/rest/api/3/issue/PHX-99/comment", json={})).status_code == 429
        assert (await client.post("/rest/api/3/issue/PHX-1/attachments")).status_code == 200
        assert (await client.get("/rest/api/3/issue/PHX-1")).status_code == 200
        assert (await client.put("/rest/api/3/issue/PHX-1", json={})).status_code == 204
        clock.now += 1.0
        assert (await client.post("/rest/api/3/issue/PHX-1/comment", json={})).status_code == 201
    counters = controller.counters
    assert counters.throttled_by_reason == {"jira-burst-based": 2}
    assert counters.by_endpoint[COMMENT].throttled == 2
    assert counters.by_endpoint["POST /rest/api/3/issue/{id}/attachments"].throttled == 0


async def test_a_rate_for_one_endpoint_throttles_only_that_endpoint() -> None:
    clock = FrozenClock()
    app, controller = wrapped("jira", FaultConfig(jira_burst_rps_by_endpoint={COMMENT: 2}), clock)
    async with client_for(app) as client:
        statuses = [(await client.post("/rest/api/3/issue/PHX-1/comment", json={})).status_code for _ in range(3)]
        assert statuses == [201, 201, 429]
        attachments = [(await client.post("/rest/api/3/issue/PHX-1/attachments")).status_code for _ in range(20)]
        assert attachments == [200] * 20
    assert controller.counters.by_endpoint[COMMENT].throttled == 1


async def test_writes_to_one_issue_are_spaced_and_other_issues_are_not_affected() -> None:
    clock = FrozenClock()
    config = FaultConfig(jira_issue_writes=3, jira_issue_write_window_seconds=2)
    app, controller = wrapped("jira", config, clock)
    async with client_for(app) as client:
        assert (await client.post("/rest/api/3/issue/PHX-1/comment", json={})).status_code == 201
        assert (await client.post("/rest/api/3/issue/PHX-1/attachments")).status_code == 200
        assert (await client.put("/rest/api/3/issue/PHX-1", json={})).status_code == 204
        refused = await client.post("/rest/api/3/issue/PHX-1/comment", json={})
        assert_jira_429(refused, "jira-per-issue-on-write", 3)
        # Reads of that issue and writes to another one go through.
        assert (await client.get("/rest/api/3/issue/PHX-1")).status_code == 200
        assert (await client.post("/rest/api/3/issue/PHX-2/comment", json={})).status_code == 201
        clock.now += 2.0
        assert (await client.post("/rest/api/3/issue/PHX-1/comment", json={})).status_code == 201
        writes = (await client.get("/_sandbox/state")).json()["writes"]
    assert "comment PHX-1" in writes and writes.count("comment PHX-1") == 2, "a refused write is not applied"
    assert controller.counters.throttled_by_reason == {"jira-per-issue-on-write": 1}


async def test_hourly_quota_refuses_every_endpoint_until_the_hour_is_over() -> None:
    clock = FrozenClock()
    app, controller = wrapped("jira", FaultConfig(jira_quota_per_hour=10), clock)
    async with client_for(app) as client:
        for i in range(10):
            assert (await client.get(f"/rest/api/3/issue/PHX-{i}")).status_code == 200
        for request in (client.get("/rest/api/3/issue/PHX-1"), client.post("/rest/api/3/issue/PHX-1/attachments")):
            refused = await request
            assert_jira_429(refused, "jira-quota-tenant-based", 10)
            assert int(refused.headers["Retry-After"]) == 3600
        clock.now += 3600
        assert (await client.get("/rest/api/3/issue/PHX-1")).status_code == 200
    assert controller.counters.throttled_by_reason == {"jira-quota-tenant-based": 2}


async def test_near_limit_warns_before_the_first_429() -> None:
    clock = FrozenClock()
    app, _ = wrapped("jira", FaultConfig(jira_burst_rps=10), clock)
    async with client_for(app) as client:
        responses = [await client.get("/rest/api/3/issue/PHX-1") for _ in range(11)]
    near = [r.headers.get("X-RateLimit-NearLimit") == "true" for r in responses]
    assert [r.status_code for r in responses] == [200] * 10 + [429]
    assert not any(near[:7]), "plenty left: no warning"
    assert all(near[8:10]), "under 20% of the budget left: warned before the 429"
    assert responses[9].headers["X-RateLimit-Remaining"] == "0"
    assert responses[9].headers["X-RateLimit-Limit"] == "10"


async def test_ado_tstu_budget_is_per_identity_with_microsofts_headers() -> None:
    clock = FrozenClock()
    # Scaled for a test: 1 TSTU a read, 10 per window of 60 s.
    config = FaultConfig(ado_tstu_limit=10, ado_tstu_window_seconds=60, ado_tstu_per_read=1)
    app, controller = wrapped("ado", config, clock)
    async with client_for(app, ("", "pat-one")) as one, client_for(app, ("", "pat-two")) as two:
        responses = [await one.get("/acme/_apis/wit/workitems/1") for _ in range(11)]
        assert [r.status_code for r in responses] == [200] * 10 + [429]
        assert "X-RateLimit-Delay" not in responses[0].headers
        near = responses[9].headers
        assert near["X-RateLimit-Resource"]
        assert float(near["X-RateLimit-Delay"]) > 0
        assert near["X-RateLimit-Limit"] == "10"
        assert near["X-RateLimit-Remaining"] == "0"
        assert int(near["X-RateLimit-Reset"]) >= int(time.time())
        blocked = responses[10]
        assert blocked.headers["Retry-After"] == "60"
        assert blocked.headers["X-RateLimit-Limit"] == "10"
        assert blocked.headers["X-RateLimit-Remaining"] == "0"
        assert blocked.json()["typeKey"] == "RequestBlockedException"
        # Another identity has its own budget.
        assert (await two.get("/acme/_apis/wit/workitems/1")).status_code == 200
        # The window slides: a minute after the first requests, there is room again.
        clock.now += 60
        assert (await one.get("/acme/_apis/wit/workitems/1")).status_code == 200
    assert controller.counters.throttled_by_reason == {"ado-tstu": 1}


async def test_profile_is_chosen_by_name_through_the_faults_route_and_values_beside_it_win() -> None:
    clock = FrozenClock()
    app, controller = wrapped("jira", FaultConfig(), clock)
    async with client_for(app) as client:
        chosen = await client.patch("/_sandbox/faults", json={"limit_profile": "jira-cloud-like"})
        assert chosen.status_code == 200
        config = chosen.json()["config"]
        for name, value in LIMIT_PROFILES["jira-cloud-like"].items():
            assert config[name] == value
        statuses = [(await client.get("/rest/api/3/issue/PHX-1")).status_code for _ in range(21)]
        assert statuses == [200] * 20 + [429], "10/s with a 2 s bucket"

        tighter = await client.patch("/_sandbox/faults", json={"limit_profile": "jira-cloud-like", "jira_burst_rps": 1})
        assert tighter.json()["config"]["jira_burst_rps"] == 1
        assert tighter.json()["config"]["jira_issue_writes"] == 10

        off = await client.patch("/_sandbox/faults", json={"limit_profile": None})
        assert off.json()["config"]["jira_burst_rps"] is None
        assert (await client.patch("/_sandbox/faults", json={"limit_profile": "fast"})).status_code == 422
        assert (await client.get("/rest/api/3/issue/PHX-1")).status_code == 200
    assert FaultConfig(limit_profile="jira-cloud-like").jira_burst_rps == 10
    assert controller.config.limit_profile is None


def test_default_config_has_no_scoped_limits() -> None:
    """The tests keep their speed: nothing is limited unless a test or the CLI asks."""
    config = FaultConfig()
    assert config.limit_profile is None
    assert config.jira_burst_rps is None and not config.jira_burst_rps_by_endpoint
    assert config.jira_issue_writes is None and config.jira_quota_per_hour is None and config.ado_tstu_limit is None


def test_endpoint_rates_are_checked() -> None:
    with pytest.raises(ValueError, match="METHOD /path/template"):
        FaultConfig(jira_burst_rps_by_endpoint={"/rest/api/3/issue": 1})
    with pytest.raises(ValueError):
        FaultConfig(jira_burst_rps_by_endpoint={COMMENT: 0})
    assert FaultConfig(jira_burst_rps_by_endpoint={"post /x/{id}": 1}).jira_burst_rps_by_endpoint == {"POST /x/{id}": 1}
